"""TFLite / LiteRT through Keras' ``model.export(format="litert")``, run with ``ai_edge_litert``.

Quantization options (TFLite converter settings passed through Keras):

* ``float16``: weights stored as float16, computed in float32.
* ``dynamic_int8``: weights int8; hybrid kernels quantize activations on the
  fly, and tensors between ops, inputs and outputs stay float32.
* ``int8``: full-integer. Every op runs in int8 (``TFLITE_BUILTINS_INT8``),
  with scales calibrated on ``calibration_data``; the model's input and output
  stay float32, so the only float ops are the ``QUANTIZE`` at the input and the
  ``DEQUANTIZE`` at the output (the report lists the float ops it finds).
* ``int16x8``: like ``int8`` but with int16 activations and int8 weights
  (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``), for models
  whose activations one int8 scale cannot hold (a wide linear code at a
  decoder's input). LiteRT runs it with its reference kernels: slow on CPUs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras
import numpy as np

from export.registry import METADATA_KEY, ExportFormat, QuantizeOption, Runner, register_format, single_key
from zoo.environment import package_version

SIGNATURE = "serving_default"
#: Quantize options that are calibrated on representative data.
FULL_INTEGER = ("int8", "int16x8")


def converter_options(quantize: str | None, calibration: np.ndarray | None) -> dict:
    """TFLite converter attributes for a quantize option (Keras sets them on the converter)."""
    import tensorflow as tf

    if quantize is None:
        return {}
    options: dict = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "float16":
        options["target_spec"] = {"supported_types": [tf.float16]}
    elif quantize in FULL_INTEGER:
        samples = np.asarray(calibration, dtype=np.float32)
        options["representative_dataset"] = lambda: ([samples[i:i + 1]] for i in range(len(samples)))
        ops = {"int8": tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
               "int16x8": tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8}
        options["target_spec"] = {"supported_ops": [ops[quantize]]}
    return options


def embed_metadata(flatbuffer: bytes, key: str, data: bytes) -> bytes:
    """Return ``flatbuffer`` with ``data`` added as the model metadata entry ``key``."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(flatbuffer, 0))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(data, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = key
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    builder = flatbuffers.Builder(len(flatbuffer) + len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_flatbuffer_metadata(flatbuffer: bytes, key: str) -> bytes:
    """The bytes stored under metadata entry ``key`` of a TFLite flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == key:
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    raise KeyError(f"No {key!r} metadata in this TFLite model.")


def float_ops(path: Path) -> list[str]:
    """Names of the ops that read or write a float32 tensor (the ops that are not integer)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    ops = []
    for op in interpreter._get_ops_details():  # noqa: SLF001 - the only op listing LiteRT offers
        tensors = [i for i in [*op["inputs"], *op["outputs"]] if i >= 0]
        if any(dtypes.get(i) == np.float32 for i in tensors):
            ops.append(op["op_name"])
    return ops


@register_format
class TFLiteFormat(ExportFormat):
    """``model.tflite`` with a ``serving_default`` signature and metadata under ``aezoo_metadata``."""

    name = "tflite"
    title = "TFLite"
    artifact = "model.tflite"
    suffix = ".tflite"
    label = "litert"
    order = 30
    quantize_options = {
        "float16": QuantizeOption("float16 weights, float32 compute", mse_rtol=0.01),
        "dynamic_int8": QuantizeOption("int8 weights, activations quantized on the fly, float32 tensors and I/O",
                                       mse_rtol=0.05),
        "int8": QuantizeOption("full-integer int8 ops, float32 input/output (QUANTIZE/DEQUANTIZE at the edges)",
                               mse_rtol=0.10, calibrated=True),
        "int16x8": QuantizeOption("int16 activations, int8 weights, float32 input/output (reference kernels)",
                                  mse_rtol=0.10, calibrated=True),
    }
    featured_quantize = (None, "int8")

    def write(self, graph: keras.Model, path: Path, *, metadata: dict, quantize=None, calibration=None) -> dict:
        graph.export(str(path), format="litert", verbose=False, **converter_options(quantize, calibration))
        path.write_bytes(embed_metadata(path.read_bytes(), METADATA_KEY, json.dumps(metadata).encode()))
        return {"float_ops": float_ops(path)} if quantize in FULL_INTEGER else {}

    def load(self, path: Path, num_threads: int | None = None) -> Runner:
        """A runner on all CPU cores by default; tensors are re-allocated only when the batch size changes."""
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=num_threads or os.cpu_count())
        signature = interpreter.get_signature_runner(SIGNATURE)
        inputs, outputs = signature.get_input_details(), signature.get_output_details()
        in_name, out_name = single_key(inputs, "TFLite input"), single_key(outputs, "TFLite output")
        in_index, out_index = inputs[in_name]["index"], outputs[out_name]["index"]
        allocated = {"shape": None}

        def run(x: np.ndarray) -> np.ndarray:
            if allocated["shape"] != x.shape:
                interpreter.resize_tensor_input(in_index, x.shape)
                interpreter.allocate_tensors()
                allocated["shape"] = x.shape
            interpreter.set_tensor(in_index, x)
            interpreter.invoke()
            return interpreter.get_tensor(out_index)

        shape = tuple(int(d) for d in inputs[in_name]["shape_signature"][1:])
        version = getattr(ai_edge_litert, "__version__", None) or package_version("ai-edge-litert")
        return Runner(run, in_name, out_name, f"ai_edge_litert {version}", shape)

    def read_metadata(self, path: Path) -> dict:
        return json.loads(read_flatbuffer_metadata(Path(path).read_bytes(), METADATA_KEY))
