"""Export failures: caught by validation, reported in one line, and nothing half-written left behind."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import zoo
from aezoo.cli import main
from export import ExportValidationError, export_model
from export.formats.onnx import ONNXFormat
from tests.helpers import tiny_model


def _corrupt_weights(path):
    """Scale the largest initializer by 1.01: still a valid ONNX file, but wrong numbers."""
    proto = onnx.load(str(path))
    init = max(proto.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 1.01, init.name))
    onnx.save(proto, str(path))


@pytest.fixture
def corrupting_onnx(monkeypatch):
    write = ONNXFormat.write

    def write_then_corrupt(self, graph, path, **kwargs):
        details = write(self, graph, path, **kwargs)
        _corrupt_weights(path)
        return details

    monkeypatch.setattr(ONNXFormat, "write", write_then_corrupt)


def test_corrupted_artifact_is_caught_and_nothing_is_left(corrupting_onnx, tmp_path):
    with pytest.raises(ExportValidationError, match="max abs error .* > atol 1e-05") as info:
        export_model(tiny_model("ae_dense"), "onnx", tmp_path / "out")
    assert not info.value.report.passed and info.value.report.max_abs_error > 1e-5
    assert list(tmp_path.iterdir()) == []


def test_corrupted_artifact_via_cli_exits_non_zero_with_one_line(corrupting_onnx, tmp_path, capsys):
    assert main(["export", "ae_dense.mnist", "--format", "onnx", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error: onnx export of ae_dense.mnist (encoder) failed validation")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_mismatching_tolerance_fails(tmp_path):
    # float16 weights cannot reproduce float32 ones exactly, so atol=0 must fail.
    with pytest.raises(ExportValidationError, match="max abs error .* > atol 0"):
        export_model(tiny_model("ae_dense"), "tflite", tmp_path / "q", quantize="float16", atol=0.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["out", "enc.onnx"])  # a folder export, and a file export
def test_interrupted_export_leaves_nothing(target, monkeypatch, tmp_path):
    def interrupted(self, graph, path, **kwargs):
        path.write_bytes(b"half an onnx file")
        raise KeyboardInterrupt

    monkeypatch.setattr(ONNXFormat, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_model(tiny_model("ae_dense"), "onnx", tmp_path / target)
    assert list(tmp_path.iterdir()) == []


def test_existing_export_is_kept_unless_overwrite(tmp_path):
    model = tiny_model("ae_dense")
    first = export_model(model, "onnx", tmp_path / "e")
    before = (tmp_path / "e" / "model.onnx").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        export_model(model, "onnx", tmp_path / "e")
    assert (tmp_path / "e" / "model.onnx").read_bytes() == before
    again = export_model(model, "onnx", tmp_path / "e", overwrite=True)
    assert again.passed and first.passed and sorted(p.name for p in tmp_path.iterdir()) == ["e"]


@pytest.mark.parametrize(
    "kwargs, error, needle",
    [
        ({"format": "onnxx"}, ValueError, "Did you mean: onnx"),
        ({"format": "onnx", "part": "encodr"}, ValueError, "part"),
        ({"format": "saved_model", "quantize": "float16"}, ValueError, "no quantize='float16'"),
        ({"format": "onnx", "quantize": "int4"}, ValueError, "it offers: dynamic_int8, int8"),
        ({"format": "tflite", "quantize": "int4"}, ValueError, "float16, dynamic_int8, int8, int16x8"),
        ({"format": "onnx", "atol": -1.0}, ValueError, "atol"),
        ({"format": "onnx", "validation_data": np.zeros((4, 3))}, ValueError, "expected"),
    ],
)
def test_bad_arguments(kwargs, error, needle, tmp_path):
    fmt = kwargs.pop("format")
    with pytest.raises(error, match=None) as info:
        export_model(tiny_model("ae_dense"), fmt, tmp_path / "x", **kwargs)
    assert needle in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_int8_without_usable_calibration_data_says_so(tmp_path):
    model = zoo.create_model("ae_dense", input_shape=(10,), latent_dim=2, hidden_units=(8,))
    with pytest.raises(ValueError, match=r"pass validation_data \(and calibration_data, for quantize='int8'"):
        export_model(model, "tflite", tmp_path / "x", quantize="int8")
    x = np.random.default_rng(0).uniform(size=(80, 10)).astype("float32")
    report = export_model(model, "tflite", tmp_path / "y", quantize="int8", validation_data=x,
                          calibration_data=x, mse_rtol=10.0)
    assert report.passed and report.validation_inputs == "validation_data"


def test_plain_keras_model_is_refused(tmp_path):
    import keras

    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(TypeError, match="zoo.Autoencoder"):
        export_model(plain, "onnx", tmp_path / "x")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["export", "no/such/model.keras", "--format", "onnx", "--out", "OUT"], "Unknown pretrained model"),
        (["export", "ae_dense.mnist", "--format", "saved_model", "--quantize", "int8", "--out", "OUT"],
         "no quantize='int8'"),
        (["encode", "ae_dense.mnist", "--input", "missing.npy", "--output", "OUT/c.npy"], "No data at"),
    ],
)
def test_cli_errors_are_one_line(argv, needle, tmp_path, capsys):
    argv = [a.replace("OUT", str(tmp_path / "o")) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error:") and needle in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
