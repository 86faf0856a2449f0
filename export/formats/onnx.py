"""ONNX through Keras' ``model.export`` (tf2onnx), checked with ``onnx.checker`` and run with onnxruntime."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import keras
import numpy as np

from export.quantization import STATISTICS_SAMPLES, LayerError, rank
from export.registry import (
    METADATA_KEY,
    Calibrated,
    ExportFormat,
    FormatOption,
    QuantizeOption,
    Runner,
    output_keys,
    register_format,
    single_key,
)

BATCH_DIM = "batch"
#: onnxruntime input types -> the numpy dtype the runner feeds (any other input is float32).
ONNX_DTYPES = {"tensor(int32)": "int32", "tensor(int64)": "int64"}
#: ``calibration_method`` values -> onnxruntime ``CalibrationMethod`` names.
CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
#: Chosen from benchmarks/results/export_zoo_onnx_calibration.md (all 30 pretrained parts, each method).
DEFAULT_CALIBRATION = "percentile"
#: Ops whose int8 error is measured and which can be kept in float (ops that only move data add none).
WEIGHTED_OPS = {"MatMul", "Gemm", "Conv", "ConvTranspose"}
#: Ops that follow a weighted op inside one Keras layer (bias, activation): kept in float with it.
FOLLOWERS = {"Add", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Softplus", "HardSigmoid", "Clip"}


def set_metadata(model, metadata: dict) -> None:
    """Put the export's metadata in ``metadata_props`` and a one-line ``doc_string``."""
    import onnx

    model.doc_string = f"{metadata['model_name']} {metadata['part']} exported by {metadata['producer']}"
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata)})


#: Names of the dynamic axes (batch, then height and width) of the interface tensors. A decoder's
#: output is ``down`` times its input, so the codes' spatial axes have names of their own.
AXIS_NAMES = {"codes": (BATCH_DIM, "latent_height", "latent_width")}
DEFAULT_AXIS_NAMES = (BATCH_DIM, "height", "width")


def _name_dynamic_axes(model) -> None:
    """Give every dynamic axis of the graph's inputs and outputs a readable name (``batch``, ``height``, ...)."""
    for value in [*model.graph.input, *model.graph.output]:
        names = AXIS_NAMES.get(value.name, DEFAULT_AXIS_NAMES)
        for dim, name in zip(value.type.tensor_type.shape.dim, names, strict=False):
            if not dim.HasField("dim_value"):
                dim.dim_param = name


@register_format
class ONNXFormat(ExportFormat):
    """``model.onnx`` with named dynamic axes (``batch``; ``height``/``width`` where the size is dynamic) and metadata in ``metadata_props``.

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
        "int8": QuantizeOption("static int8 (onnxruntime quantize_static, QDQ): per-channel int8 weights, "
                               + "int8 activations calibrated on calibration_data, float32 I/O",
                               mse_rtol=0.10, calibrated=True, fallback=True),
    }
    featured_quantize = (None, "int8")
    options = {
        "opset": FormatOption(int, "opset version (default: tf2onnx's)"),
        "calibration_method": FormatOption(str, "int8 activation ranges: " + ", ".join(CALIBRATION_METHODS)
                                           + f" (default {DEFAULT_CALIBRATION})"),
    }

    def write(self, graph: keras.Model, path: Path, *, metadata: dict, quantize=None, calibration=None,
              opset: int | None = None, calibration_method: str | None = None) -> dict:
        import onnx

        if calibration_method is not None and quantize != "int8":
            raise ValueError(f"calibration_method applies to quantize='int8' only. Received: quantize={quantize!r}")
        if quantize == "int8":
            return self.calibrate(graph, path.parent, quantize=quantize, calibration=calibration, opset=opset,
                                  calibration_method=calibration_method).write(path, metadata=metadata)
        model = self.write_float(graph, path, opset)
        set_metadata(model, metadata)
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

    def write_float(self, graph: keras.Model, path: Path, opset: int | None = None):
        """Write ``graph`` as float32 ONNX with a named batch axis; returns the loaded ``ModelProto``."""
        import onnx

        kwargs = {} if opset is None else {"opset_version": int(opset)}
        # An explicit signature: Keras' ONNX path refuses a graph that was never called.
        graph.export(str(path), format="onnx", verbose=False, input_signature=[graph.inputs[0]], **kwargs)
        model = onnx.load(str(path))
        _name_dynamic_axes(model)
        return model

    def calibrate(self, graph: keras.Model, workdir: Path, *, quantize: str, calibration: np.ndarray,
                  opset: int | None = None, calibration_method: str | None = None) -> Calibrated:
        import onnx

        from zoo.utils.checks import check_choice

        method = check_choice("calibration_method", calibration_method or DEFAULT_CALIBRATION,
                              tuple(CALIBRATION_METHODS))
        float_path = Path(workdir) / "float32.calibration.onnx"
        onnx.save(self.write_float(graph, float_path, opset), str(float_path))
        return StaticInt8(float_path, np.asarray(calibration, dtype=np.float32), method)

    def load(self, path: Path, providers: list[str] | None = None) -> Runner:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
        inp = session.get_inputs()
        in_name = single_key([i.name for i in inp], "ONNX input")
        out_names = output_keys([o.name for o in session.get_outputs()], "ONNX output")

        def run(x: np.ndarray) -> dict[str, np.ndarray]:
            return dict(zip(out_names, session.run(out_names, {in_name: x}), strict=True))

        return Runner.of(run, in_name, out_names, f"onnxruntime {ort.__version__} ({session.get_providers()[0]})",
                         tuple(d if isinstance(d, int) else None for d in inp[0].shape[1:]),
                         ONNX_DTYPES.get(inp[0].type, "float32"))

    def read_metadata(self, path: Path) -> dict:
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        return json.loads(props[METADATA_KEY])


def _reader(name: str, x: np.ndarray, most: int = 64):
    """An onnxruntime ``CalibrationDataReader`` over ``x`` in equal batches of at most ``most``."""
    from onnxruntime.quantization import CalibrationDataReader

    # Equal batches: the histogram calibrators stack what each batch yields.
    batch_size = max(d for d in range(1, min(most, len(x)) + 1) if len(x) % d == 0)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{name: x[i:i + batch_size]} for i in range(0, len(x), batch_size)])

        def get_next(self):
            return next(self.batches, None)

    return Reader()


class StaticInt8(Calibrated):
    """onnxruntime ``quantize_static`` (QDQ, per-channel weights) of one float32 ONNX file.

    onnxruntime calibrates inside ``quantize_static``, so each write calibrates
    again (deterministically, on the same inputs).
    """

    def __init__(self, float_path: Path, calibration: np.ndarray, method: str) -> None:
        import onnx

        self.float_path, self.calibration, self.method = float_path, calibration, method
        self.model = onnx.load(str(float_path))
        self.input_name = self.model.graph.input[0].name

    def write(self, path: Path, *, metadata: dict, float_layers: tuple[str, ...] = ()) -> dict:
        import onnx
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        exclude = [n for layer in float_layers for n in self.units().get(layer, [layer])]
        logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # ORT's pre-process advice
        with contextlib.redirect_stdout(io.StringIO()):  # its calibrators print their progress
            quantize_static(str(self.float_path), str(path), _reader(self.input_name, self.calibration),
                            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8,
                            calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[self.method]),
                            nodes_to_exclude=exclude)
        model = onnx.load(str(path))
        set_metadata(model, metadata)
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(path))
        return {"opset": max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")),
                "calibration_method": self.method, "nodes_to_exclude": exclude}

    def units(self) -> dict[str, list[str]]:
        """Weighted node -> the nodes kept in float with it (its bias add and activation)."""
        nodes = {n.name: n for n in self.model.graph.node}
        consumers: dict[str, list[str]] = {}
        for node in self.model.graph.node:
            for tensor in node.input:
                consumers.setdefault(tensor, []).append(node.name)
        units = {}
        for node in self.model.graph.node:
            if node.op_type in WEIGHTED_OPS:
                chain, tensor = [node.name], node.output[0]
                while len(consumers.get(tensor, [])) == 1 and nodes[consumers[tensor][0]].op_type in FOLLOWERS:
                    nxt = nodes[consumers[tensor][0]]
                    chain.append(nxt.name)
                    tensor = nxt.output[0]
                units[node.name] = chain
        return units

    def layer_errors(self) -> list[LayerError]:
        """int8 vs float outputs of each weighted layer (with its bias and activation), by onnxruntime's
        ``qdq_loss_debug``: both models run on the calibration inputs with every activation saved."""
        import tempfile

        from onnxruntime.quantization import qdq_loss_debug as debug

        ops = {n.name: n.op_type for n in self.model.graph.node}
        outputs = {n.name: n.output[0] for n in self.model.graph.node}
        x = self.calibration[:STATISTICS_SAMPLES]
        with tempfile.TemporaryDirectory(prefix="aezoo-qdq-") as tmp:
            tmp = Path(tmp)
            self.write(tmp / "qdq.onnx", metadata={"model_name": "", "part": "", "producer": ""})
            activations = []
            for name, src in (("float", self.float_path), ("qdq", tmp / "qdq.onnx")):
                debug.modify_model_output_intermediate_tensors(str(src), str(tmp / f"{name}.aug.onnx"))
                activations.append(debug.collect_activations(str(tmp / f"{name}.aug.onnx"),
                                                             _reader(self.input_name, x)))
        matching = debug.create_activation_matching(activations[1], activations[0])
        layers = []
        for name, chain in self.units().items():
            tensor = next((outputs[n] for n in reversed(chain) if "float" in matching.get(outputs[n], {})), None)
            if tensor is None:
                continue
            pair = matching[tensor]
            want = np.concatenate([np.ravel(a) for a in pair["float"]]).astype(np.float64)
            got = np.concatenate([np.ravel(a) for a in pair["post_qdq"]]).astype(np.float64)
            rmse = float(np.sqrt(np.mean((got - want) ** 2)))
            scale = float(np.sqrt(np.mean(want ** 2)))
            layers.append(LayerError(name, ops[name], rmse, rmse / scale if scale else None, chain,
                                     {"tensor": tensor, "sqnr_db": round(float(20 * np.log10(scale / max(rmse, 1e-30))), 2)}))
        return rank(layers)
