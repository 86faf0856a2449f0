"""The format registry drives the CLI, ``load_artifact``, the benchmarks' runtimes and the tolerances."""

import json
import zipfile

import keras
import numpy as np
import pytest

import export
from aezoo.cli import build_parser, main
from export import ExportFormat, FormatOption, QuantizeOption, Runner, export_model, load_artifact
from tests.helpers import TINY_SHAPE, blob_images, tiny_model

IMAGES = blob_images(8, TINY_SHAPE, seed=5)


class ToyKerasFormat(ExportFormat):
    """A throw-away format: the part saved as a ``.keras`` file (metadata inside the zip), run by Keras."""

    name = "toy_keras"
    title = "ToyKeras"
    artifact = "model.keras"
    suffix = ".keras"
    label = "keras_file"
    quantize_options = {"toy_q": QuantizeOption("nothing at all, for the test", mse_rtol=0.5)}
    options = {"toy_note": FormatOption(str, "a note kept in the report")}

    def write(self, graph, path, *, metadata, quantize=None, calibration=None, toy_note=None):
        graph.save(path)
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("toy_metadata.json", json.dumps(metadata))
        return {"toy_note": toy_note}

    def load(self, path):
        model = keras.saving.load_model(path)
        meta = self.read_metadata(path)
        (in_name,), (out_name,) = meta["inputs"], meta["outputs"]
        return Runner(lambda x: np.asarray(model(x, training=False)[out_name]), in_name, out_name,
                      f"keras {keras.__version__}", tuple(meta["inputs"][in_name][1:]))

    def read_metadata(self, path):
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("toy_metadata.json"))


@pytest.fixture
def toy_format():
    export.register_format(ToyKerasFormat)
    try:
        yield export.get_format("toy_keras")
    finally:
        export.unregister_format("toy_keras")
    assert "toy_keras" not in export.FORMATS


def test_a_registered_format_is_in_the_cli_help_and_choices(toy_format, capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "{saved_model,onnx,tflite,toy_keras,all}" in help_text
    assert "toy_q" in help_text and "--toy-note" in help_text and "ToyKeras only: a note" in help_text
    args = build_parser().parse_args(["export", "m.keras", "--format", "toy_keras", "--quantize", "toy_q",
                                      "--toy-note", "hi", "--out", "o"])
    assert (args.format, args.quantize, args.toy_note) == ("toy_keras", "toy_q", "hi")
    assert build_parser().parse_args(["encode", "m", "--input", "x", "--output", "y",
                                      "--runtime", "toy_keras"]).runtime == "toy_keras"
    assert ("keras_file", "toy_keras", None) in export.runtime_variants()
    assert export.default_mse_rtol("toy_keras", "toy_q") == 0.5


def test_a_registered_format_exports_and_loads_in_both_forms(toy_format, tmp_path):
    model = tiny_model("ae_dense")
    folder = export_model(model, "toy_keras", tmp_path / "folder", toy_note="hi")
    single = export_model(model, "toy_keras", tmp_path / "enc.keras", quantize="toy_q")
    assert folder.passed and folder.details["toy_note"] == "hi" and single.passed and single.mse_rtol == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.keras", "enc.keras.export_report.json", "folder"]
    for path in (tmp_path / "folder", tmp_path / "enc.keras"):
        fmt, _ = export.find_artifact(path)
        runner = load_artifact(path)
        assert fmt is toy_format and (runner.input_name, runner.output_name) == ("images", "codes")
        np.testing.assert_allclose(runner(IMAGES), model.encoder.predict(IMAGES, verbose=0), atol=1e-6)


def test_a_registered_format_from_the_cli(toy_format, tmp_path):
    model = tiny_model("ae_dense")
    model.save(tmp_path / "mine.keras")
    assert main(["export", str(tmp_path / "mine.keras"), "--format", "toy_keras", "--toy-note", "cli",
                 "--out", str(tmp_path / "exp")]) == 0
    report = json.loads((tmp_path / "exp" / "mine_encoder.keras.export_report.json").read_text())
    assert report["passed"] and report["details"]["toy_note"] == "cli"


def test_built_in_declarations():
    tflite, onnx_fmt = export.get_format("tflite"), export.get_format("onnx")
    assert {q: o.mse_rtol for q, o in tflite.quantize_options.items()} == {
        "float16": 0.01, "dynamic_int8": 0.05, "int8": 0.10, "int16x8": 0.10}
    assert tflite.calibrated == ("int8", "int16x8") and onnx_fmt.quantize == ("dynamic_int8", "int8")
    assert tflite.fallback == onnx_fmt.fallback == ("int8",) and onnx_fmt.calibrated == ("int8",)
    assert export.default_mse_rtol("onnx", "dynamic_int8") == 0.05 and export.default_mse_rtol("onnx", "int8") == 0.10
    assert [tuple(v) for v in export.runtime_variants()] == [
        ("saved_model", "saved_model", None), ("onnxruntime", "onnx", None), ("onnxruntime_int8", "onnx", "int8"),
        ("litert", "tflite", None), ("litert_int8", "tflite", "int8")]
    assert [(f.name, f.suffix) for f in export.FORMATS.values()] == [
        ("saved_model", None), ("onnx", ".onnx"), ("tflite", ".tflite")]
    with pytest.raises(ValueError, match="already registered"):
        export.register_format(type(onnx_fmt))


def test_a_format_option_goes_only_to_the_format_that_declares_it(tmp_path, capsys):
    model = tiny_model("ae_dense")
    report = export_model(model, "onnx", tmp_path / "o", opset=15)
    assert report.details["opset"] == 15
    with pytest.raises(ValueError, match=r"Format 'tflite' has no option 'opset' \('opset' is an option of onnx\)"):
        export_model(model, "tflite", tmp_path / "t", opset=15)
    assert export_model(model, "saved_model", tmp_path / "s", opset=None).passed  # None means not given
    assert main(["export", "ae_dense.mnist", "--format", "tflite", "--opset", "13", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "has no option 'opset'" in err and err.count("\n") == 1


def test_deprecated_mse_rtol_table_still_reads():
    from export import validate

    with pytest.warns(DeprecationWarning, match="default_mse_rtol"):
        table = validate.DEFAULT_MSE_RTOL
    assert table == {"float16": 0.01, "dynamic_int8": 0.05, "int8": 0.10, "int16x8": 0.10}
