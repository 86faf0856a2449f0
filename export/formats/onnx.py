"""ONNX through Keras' ``model.export`` (tf2onnx), checked with ``onnx.checker`` and run with onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from export.registry import (
    METADATA_KEY,
    ExportFormat,
    FormatOption,
    QuantizeOption,
    Runner,
    register_format,
    single_key,
)

BATCH_DIM = "batch"


def _name_batch_axis(model) -> None:
    """Give the dynamic batch axis of every graph input and output one readable name."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_DIM


@register_format
class ONNXFormat(ExportFormat):
    """``model.onnx`` with a dynamic ``batch`` axis and metadata in ``metadata_props``.

    ``dynamic_int8`` runs onnxruntime's ``quantize_dynamic`` on the float32
    model: int8 weights, activations quantized per batch at run time
    (``MatMulInteger`` / ``ConvInteger``), float32 inputs and outputs. As the
    activation scales come from each call's batch, outputs depend slightly on
    how inputs are batched.
    """

    name = "onnx"
    title = "ONNX"
    artifact = "model.onnx"
    suffix = ".onnx"
    label = "onnxruntime"
    order = 20
    quantize_options = {
        "dynamic_int8": QuantizeOption("int8 weights (onnxruntime quantize_dynamic), activations quantized on "
                                       + "the fly, float32 I/O", mse_rtol=0.05),
    }
    options = {"opset": FormatOption(int, "opset version (default: tf2onnx's)")}

    def write(self, graph: keras.Model, path: Path, *, metadata: dict, quantize=None, calibration=None,
              opset: int | None = None) -> dict:
        import onnx

        kwargs = {} if opset is None else {"opset_version": int(opset)}
        # An explicit signature: Keras' ONNX path refuses a graph that was never called.
        graph.export(str(path), format="onnx", verbose=False, input_signature=[graph.inputs[0]], **kwargs)
        model = onnx.load(str(path))
        _name_batch_axis(model)
        model.doc_string = f"{metadata['model_name']} {metadata['part']} exported by {metadata['producer']}"
        onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata)})
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(path))
        if quantize == "dynamic_int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            float_path = path.with_name("float32." + path.name)
            path.rename(float_path)
            quantize_dynamic(str(float_path), str(path), weight_type=QuantType.QInt8)
            float_path.unlink()
            model = onnx.load(str(path))
            onnx.checker.check_model(model, full_check=True)
        return {"opset": max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))}

    def load(self, path: Path, providers: list[str] | None = None) -> Runner:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
        inp = session.get_inputs()
        in_name = single_key([i.name for i in inp], "ONNX input")
        out_name = single_key([o.name for o in session.get_outputs()], "ONNX output")
        return Runner(lambda x: session.run([out_name], {in_name: x})[0], in_name, out_name,
                      f"onnxruntime {ort.__version__} ({session.get_providers()[0]})", tuple(inp[0].shape[1:]))

    def read_metadata(self, path: Path) -> dict:
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(props[METADATA_KEY])
