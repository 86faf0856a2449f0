"""TFLite / LiteRT through Keras' ``model.export(format="litert")``, run with ``ai_edge_litert``.

Quantization options (TFLite converter settings passed through Keras):

* ``float16``: weights stored as float16, computed in float32.
* ``dynamic_int8``: weights int8; hybrid kernels quantize activations on the
  fly, and tensors between ops, inputs and outputs stay float32.
* ``int8``: full-integer. Every op runs in int8, with scales calibrated on
  ``calibration_data`` through LiteRT's ``QuantizationDebugger`` (which also
  gives each layer's int8 error); the model's input and output stay float32, so
  the only float ops are the ``QUANTIZE`` at the input and the ``DEQUANTIZE`` at
  the output (the report lists the float ops it finds), unless the float
  fallback kept some layers in float (the debugger's ``denylisted_nodes``).
* ``int16x8``: like ``int8`` but with int16 activations and int8 weights
  (``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8``), for models
  whose activations one int8 scale cannot hold (a wide linear code at a
  decoder's input). LiteRT runs it with its reference kernels: slow on CPUs.
"""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
from pathlib import Path

import keras
import numpy as np

from export.quantization import STATISTICS_SAMPLES, LayerError, rank
from export.registry import (
    METADATA_KEY,
    Calibrated,
    ExportFormat,
    QuantizeOption,
    Runner,
    output_keys,
    register_format,
    single_key,
)
from zoo.utils.environment import package_version

SIGNATURE = "serving_default"
#: Quantize options that are calibrated on representative data.
FULL_INTEGER = ("int8", "int16x8")
#: Ops whose int8 error is measured and which can be kept in float (the others only move data).
WEIGHTED_OPS = {"FULLY_CONNECTED", "CONV_2D", "TRANSPOSE_CONV", "DEPTHWISE_CONV_2D", "BATCH_MATMUL"}
#: Activations LiteRT does not fuse into the op before them: kept in float with it.
ACTIVATIONS = {"LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "ELU", "GELU", "HARD_SWISH"}


def converter_options(quantize: str | None, calibration: np.ndarray | None) -> dict:
    """TFLite converter attributes for a quantize option (Keras sets them on the converter)."""
    import tensorflow as tf

    # Builtin ops only: Keras would let the converter fall back to TensorFlow (Flex) ops, which LiteRT refuses.
    builtins = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    if quantize is None:
        return {"target_spec": builtins}
    options: dict = {"optimizations": [tf.lite.Optimize.DEFAULT], "target_spec": builtins}
    if quantize == "float16":
        options["target_spec"] = {**builtins, "supported_types": [tf.float16]}
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


def custom_ops(flatbuffer: bytes) -> list[str]:
    """Names of the custom ops of a TFLite flatbuffer (``Flex...`` TensorFlow ops included); [] for builtins only."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(flatbuffer, 0)
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == schema.BuiltinOperator.CUSTOM:
            names.append((code.CustomCode() or b"?").decode())
    return names


def check_builtin_only(flatbuffer: bytes) -> None:
    """Refuse a model that needs custom or TensorFlow (Flex, ``SELECT_TF_OPS``) ops: LiteRT's runtime has none."""
    found = custom_ops(flatbuffer)
    if found:
        raise ValueError(f"The TFLite model needs non-builtin ops {sorted(set(found))}, which the LiteRT runtime "
                         + "cannot run; rewrite the layers that produce them with builtin-convertible ops.")


def float_ops(model: Path | bytes) -> list[str]:
    """Names of the ops that read or write a float32 tensor (the ops that are not integer).

    Args:
        model: A ``.tflite`` path or its bytes.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model) if isinstance(model, bytes) else Interpreter(model_path=str(model))
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
                               mse_rtol=0.10, calibrated=True, fallback=True),
        "int16x8": QuantizeOption("int16 activations, int8 weights, float32 input/output (reference kernels)",
                                  mse_rtol=0.10, calibrated=True),
    }
    featured_quantize = (None, "int8")

    def write(self, graph: keras.Model, path: Path, *, metadata: dict, quantize=None, calibration=None) -> dict:
        if quantize == "int8":
            return self.calibrate(graph, path.parent, quantize=quantize, calibration=calibration).write(
                path, metadata=metadata)
        graph.export(str(path), format="litert", verbose=False, **converter_options(quantize, calibration))
        flatbuffer = path.read_bytes()
        check_builtin_only(flatbuffer)
        path.write_bytes(embed_metadata(flatbuffer, METADATA_KEY, json.dumps(metadata).encode()))
        details = {"custom_ops": []}
        return {**details, "float_ops": float_ops(path)} if quantize in FULL_INTEGER else details

    def calibrate(self, graph: keras.Model, workdir: Path, *, quantize: str, calibration: np.ndarray) -> Calibrated:
        return DebuggedInt8(graph, np.asarray(calibration, dtype=np.float32))

    def load(self, path: Path, num_threads: int | None = None) -> Runner:
        """A runner on all CPU cores by default; tensors are re-allocated only when the batch size changes."""
        import ai_edge_litert
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path), num_threads=num_threads or os.cpu_count())
        signature = interpreter.get_signature_runner(SIGNATURE)
        inputs, outputs = signature.get_input_details(), signature.get_output_details()
        in_name, out_names = single_key(inputs, "TFLite input"), output_keys(outputs, "TFLite output")
        in_index = inputs[in_name]["index"]
        out_index = {name: outputs[name]["index"] for name in out_names}
        allocated = {"shape": None}

        def run(x: np.ndarray) -> dict[str, np.ndarray]:
            if allocated["shape"] != x.shape:
                interpreter.resize_tensor_input(in_index, x.shape)
                interpreter.allocate_tensors()
                allocated["shape"] = x.shape
            interpreter.set_tensor(in_index, x)
            interpreter.invoke()
            return {name: interpreter.get_tensor(index) for name, index in out_index.items()}

        shape = tuple(int(d) if d >= 0 else None for d in inputs[in_name]["shape_signature"][1:])
        version = getattr(ai_edge_litert, "__version__", None) or package_version("ai-edge-litert")
        return Runner.of(run, in_name, out_names, f"ai_edge_litert {version}", shape,
                         np.dtype(inputs[in_name]["dtype"]).name)

    def read_metadata(self, path: Path) -> dict:
        return json.loads(read_flatbuffer_metadata(Path(path).read_bytes(), METADATA_KEY))


class DebuggedInt8(Calibrated):
    """Full-integer int8 through ``tf.lite.experimental.QuantizationDebugger``.

    The part goes to a SavedModel as Keras' own LiteRT export does, is
    calibrated once, and every write re-quantizes the calibrated model with the
    chosen layers on the debugger's ``denylisted_nodes`` (left in float).
    """

    def __init__(self, graph: keras.Model, calibration: np.ndarray) -> None:
        import tensorflow as tf

        in_name = graph.input_names[0] if hasattr(graph, "input_names") else graph.inputs[0].name
        # The graph's own input shape: spatial axes stay dynamic whatever size the calibration inputs have.
        spec = tf.TensorSpec((None, *graph.inputs[0].shape[1:]), tf.float32, name=in_name)
        debug_x = calibration[:STATISTICS_SAMPLES]
        with tempfile.TemporaryDirectory(prefix="aezoo-litert-") as saved_model:
            archive = keras.export.ExportArchive()
            archive.track(graph)
            archive.add_endpoint("serve", functools.partial(graph.__call__, training=False), input_signature=[spec])
            archive.write_out(saved_model, verbose=False)
            converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
            converter.experimental_enable_resource_variables = True
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
            self.debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=lambda: ([debug_x[i:i + 1]] for i in range(len(debug_x))))
        self._units: dict[str, list[str]] | None = None
        self._op_types: dict[str, str] = {}

    def _quantized(self, float_layers: tuple[str, ...]) -> tuple[bytes, list[str], list[str]]:
        """The model with ``float_layers`` in float; also the denylisted nodes and ops that took.

        Some ops ignore a node denylist (``TRANSPOSE_CONV`` in LiteRT 2.x stays int8); when
        fewer ops of a type come out float than were denylisted, the op type is denylisted.
        """
        from collections import Counter

        import tensorflow as tf

        nodes = [n for layer in float_layers for n in self.units().get(layer, [layer])]
        wanted = Counter(self._op_types[layer] for layer in float_layers if layer in self._op_types)
        denied_ops: list[str] = []
        while True:
            self.debugger.options = tf.lite.experimental.QuantizationDebugOptions(
                denylisted_nodes=nodes or None, denylisted_ops=denied_ops or None)
            model = self.debugger.get_nondebug_quantized_model()
            got = Counter(float_ops(model)) if wanted else Counter()
            missing = sorted(op for op, n in wanted.items() if got[op] < n and op not in denied_ops)
            if not missing:
                return model, nodes, denied_ops
            denied_ops += missing

    def write(self, path: Path, *, metadata: dict, float_layers: tuple[str, ...] = ()) -> dict:
        model, nodes, ops = self._quantized(tuple(float_layers))
        check_builtin_only(model)
        path.write_bytes(embed_metadata(model, METADATA_KEY, json.dumps(metadata).encode()))
        return {"float_ops": float_ops(path), "denylisted_nodes": nodes, "denylisted_ops": ops}

    def units(self) -> dict[str, list[str]]:
        """Weighted op (its output tensor's name) -> output tensors kept in float with it (an activation after it)."""
        if self._units is None:
            from ai_edge_litert.interpreter import Interpreter

            # The calibrated float model names tensors as denylisted_nodes and the statistics do.
            interpreter = Interpreter(model_content=self.debugger.calibrated_model)
            names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
            ops = interpreter._get_ops_details()  # noqa: SLF001 - the only op listing LiteRT offers
            consumers: dict[int, list[dict]] = {}
            for op in ops:
                for i in op["inputs"]:
                    consumers.setdefault(i, []).append(op)
            self._units, self._op_types = {}, {}
            for op in ops:
                if op["op_name"] in WEIGHTED_OPS:
                    out = op["outputs"][0]
                    chain = [names[out]]
                    while len(consumers.get(out, [])) == 1 and consumers[out][0]["op_name"] in ACTIVATIONS:
                        out = consumers[out][0]["outputs"][0]
                        chain.append(names[out])
                    self._units[chain[0]] = chain
                    self._op_types[chain[0]] = op["op_name"]
        return self._units

    def layer_errors(self) -> list[LayerError]:
        """The debugger's layer statistics (int8 output vs float output of each op, on the same int8 inputs)."""
        import csv

        self._quantized(())  # no denylist: the statistics of the all-int8 model
        self.debugger.run()
        buffer = io.StringIO()
        self.debugger.layer_statistics_dump(buffer)
        rows = {r["tensor_name"]: r for r in csv.DictReader(io.StringIO(buffer.getvalue()))}
        layers = []
        for name, chain in self.units().items():
            row = rows.get(name)
            if row is None:
                continue
            rmse, scale = float(np.sqrt(float(row["mean_squared_error"]))), float(row["scale"])
            # rmse / scale near 0.29 (1/sqrt(12)) is rounding alone; far above it, the op itself loses precision.
            layers.append(LayerError(name, row["op_name"], rmse, None, chain,
                                     {"scale": scale, "zero_point": int(float(row["zero_point"])),
                                      "rmse_over_scale": round(rmse / scale, 3) if scale else None,
                                      "max_abs_error": float(row["max_abs_error"])}))
        return rank(layers)
