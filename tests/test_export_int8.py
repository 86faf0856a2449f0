"""Calibrated int8 in both runtimes: ONNX static QDQ, the float fallback, the quantization report, bad calibration data."""

import json

import keras
import numpy as np
import onnx
import pytest

from aezoo.cli import main
from export import FORMATS, ExportValidationError, export_model, load_artifact, quantization_table
from export.quantization import MIN_CALIBRATION_SAMPLES
from tests.helpers import TINY_SHAPE, blob_images, tiny_model

IMAGES = blob_images(64, seed=1)
#: Formats whose int8 can keep layers in float.
FALLBACK_FORMATS = sorted(name for name, fmt in FORMATS.items() if "int8" in fmt.fallback)
WIDE = 300.0


@pytest.fixture(scope="module")
def wide_code_model():
    """A trained tiny dense autoencoder whose linear code has one dimension 300x wider than the others.

    The float function is unchanged (the decoder divides that dimension back), but one int8 scale
    for the whole code leaves the narrow dimensions a few levels: plain int8 must fail.
    """
    keras.utils.set_random_seed(0)
    model = tiny_model("ae_dense", latent_dim=8)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(blob_images(128, seed=2), blob_images(128, seed=2), epochs=15, batch_size=32, verbose=0)
    code = model.encoder.get_layer("code")
    kernel, bias = code.get_weights()
    kernel[:, 0] *= WIDE
    bias[0] *= WIDE
    code.set_weights([kernel, bias])
    first = model.decoder.get_layer("dense_0")
    kernel, bias = first.get_weights()
    kernel[0] /= WIDE
    first.set_weights([kernel, bias])
    return model


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FALLBACK_FORMATS)
def test_wide_code_fails_plain_int8_and_passes_with_fallback(wide_code_model, fmt, tmp_path):
    kwargs = {"part": "decoder", "quantize": "int8", "validation_data": IMAGES, "calibration_data": IMAGES}
    with pytest.raises(ExportValidationError, match="fallback='auto'") as info:
        export_model(wide_code_model, fmt, tmp_path / "plain", **kwargs)
    assert info.value.report.mse_delta_rel > 1.0 and not (tmp_path / "plain").exists()
    report = export_model(wide_code_model, fmt, tmp_path / "auto", fallback="auto", **kwargs)
    assert report.passed and report.mse_delta_rel <= 0.10
    (kept,) = report.quantization["float_layers"]  # the one layer that reads the code
    assert "dense_0" in kept["name"] and kept["reason"].startswith("needed: in int8 the reconstruction MSE changes +")
    layers = {layer["name"]: layer["in_float"] for layer in report.quantization["layers"]}
    assert layers[kept["name"]] and sum(layers.values()) == 1
    saved = FORMATS[fmt].read_metadata(tmp_path / "auto" / FORMATS[fmt].artifact)["quantization"]
    assert [f["name"] for f in saved["float_layers"]] == [kept["name"]] and saved["fallback"] == "auto"
    assert "dense_0" in quantization_table(report) and set(report.quantization["latency_ms"]) == {"1", "256"}


def test_onnx_int8_is_qdq_with_per_channel_weights_and_runs_in_onnxruntime(tmp_path):
    model = tiny_model("ae_conv")
    report = export_model(model, "onnx", tmp_path / "e.onnx", quantize="int8", calibration_data=IMAGES,
                          validation_data=IMAGES, mse_rtol=1.0)
    assert report.passed and report.batch_sizes == [1, 7, 64] and report.runtime.startswith("onnxruntime")
    proto = onnx.load(report.path)
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and not ops & {"QLinearConv", "MatMulInteger"}
    weight_scales = [n for n in proto.graph.node if n.op_type == "DequantizeLinear"
                     and any(a.name == "axis" for a in n.attribute)]
    assert weight_scales, "per-channel weights carry an axis on their DequantizeLinear"
    runner = load_artifact(report.path)
    assert runner(IMAGES[:3]).shape == (3, 4)
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["aezoo_metadata"])
    assert meta["quantization"]["quantize"] == "int8" and meta["quantization"]["float_layers"] == []
    assert report.quantization["layers"] and all(layer["rmse"] >= 0 for layer in report.quantization["layers"])
    assert report.details["calibration_method"] == "percentile"


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_calibration_methods_are_selectable(method, tmp_path):
    model = tiny_model("ae_dense")
    report = export_model(model, "onnx", tmp_path / "e", quantize="int8", calibration_data=IMAGES,
                          validation_data=IMAGES, mse_rtol=1.0, calibration_method=method)
    assert report.passed and report.details["calibration_method"] == method


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"calibration_method": "kl"}, "calibration_method"),
        ({"quantize": "dynamic_int8", "calibration_method": "minmax"}, "applies to quantize='int8' only"),
        ({"quantize": "dynamic_int8", "fallback": "auto"}, "applies to quantize='int8' of onnx only"),
        ({"fallback": "always"}, "fallback"),
    ],
)
def test_bad_int8_options(kwargs, needle, tmp_path):
    kwargs = {"quantize": "int8", **kwargs}
    with pytest.raises(ValueError) as info:
        export_model(tiny_model("ae_dense"), "onnx", tmp_path / "x", calibration_data=IMAGES, **kwargs)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


NAN = IMAGES.copy()
NAN[3, 2, 2, 0] = np.nan
BAD_CALIBRATION = {
    "wrong shape": (np.zeros((32, 8, 8, 1), "float32"), "expected data of shape (batch, 16, 16, 1)"),
    "NaN": (NAN, "1 NaN or infinite values"),
    "a single image": (IMAGES[:1], "has 1 input; int8 scales calibrated on so few do not represent real inputs: "
                       + f"pass at least {MIN_CALIBRATION_SAMPLES}"),
    "empty": (np.zeros((0, *TINY_SHAPE), "float32"), "calibration_data is empty"),
}


@pytest.mark.parametrize("fmt", FALLBACK_FORMATS)
@pytest.mark.parametrize("case", sorted(BAD_CALIBRATION))
def test_bad_calibration_data_is_a_one_line_error(case, fmt, tmp_path):
    data, needle = BAD_CALIBRATION[case]
    with pytest.raises(ValueError) as info:
        export_model(tiny_model("ae_dense"), fmt, tmp_path / "x", quantize="int8", calibration_data=data,
                     validation_data=IMAGES)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case, needle", [("wrong shape", "expected"), ("NaN", "NaN"),
                                          ("a single image", f"at least {MIN_CALIBRATION_SAMPLES}"), ("empty", "no examples|empty")])
def test_bad_calibration_data_via_cli_is_one_line(case, needle, tmp_path, capsys):
    data = BAD_CALIBRATION[case][0]
    np.save(tmp_path / "cal.npy", data)
    model = tiny_model("ae_dense")
    model.save(tmp_path / "m.keras")
    argv = ["export", str(tmp_path / "m.keras"), "--format", "onnx", "--quantize", "int8", "--calibration-data",
            str(tmp_path / "cal.npy"), "--out", str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error:") and err.count("\n") == 1 and any(n in err for n in needle.split("|"))
    assert not (tmp_path / "o").exists()
