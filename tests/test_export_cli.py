"""``aezoo export``, ``aezoo encode`` and ``aezoo quickstart`` end to end."""

import json

import numpy as np
import pytest

import export
import zoo
from aezoo.cli import main
from zoo.data import datasets as zdata


def _sample(tmp_path, n=20):
    x = zdata.load_sample("mnist")[0][:n]
    np.save(tmp_path / "x.npy", x)
    return zdata.to_unit_range(x)


@pytest.mark.slow
def test_export_all_formats_prints_a_table(tmp_path, capsys):
    assert main(["export", "ae_dense.mnist", "--format", "all", "--part", "decoder", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["ae_dense.mnist_decoder.onnx", "ae_dense.mnist_decoder.onnx.export_report.json",
                            "ae_dense.mnist_decoder.saved_model", "ae_dense.mnist_decoder.tflite",
                            "ae_dense.mnist_decoder.tflite.export_report.json"])
    for fmt in ("onnx", "saved_model", "tflite"):
        report = export.ExportReport.load(tmp_path / f"ae_dense.mnist_decoder.{fmt}")
        assert report.passed and report.part == "decoder" and fmt in out


@pytest.mark.slow
def test_encode_with_each_runtime_matches_keras(tmp_path):
    x = _sample(tmp_path)
    reference = zoo.load_pretrained("ae_dense.mnist").encode(x)
    for runtime in ("keras", "onnx", "tflite"):
        out = tmp_path / f"{runtime}.npy"
        assert main(["encode", "ae_dense.mnist", "--input", str(tmp_path / "x.npy"), "--output", str(out),
                     "--runtime", runtime]) == 0
        np.testing.assert_allclose(np.load(out), reference, atol=1e-5, rtol=0)


def test_encode_from_an_export_folder(tmp_path, capsys):
    x = _sample(tmp_path)
    assert main(["export", "ae_dense.mnist", "--format", "onnx", "--out", str(tmp_path / "exp")]) == 0
    folder = tmp_path / "exp" / "ae_dense.mnist_encoder.onnx"
    assert main(["encode", str(folder), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "c.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), zoo.load_pretrained("ae_dense.mnist").encode(x),
                               atol=1e-5, rtol=0)
    capsys.readouterr()
    assert main(["encode", str(folder), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "d.npy"),
                 "--runtime", "tflite"]) == 1
    assert "is a onnx export" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_writes_reports_grid_and_summary(tmp_path):
    from aezoo.quickstart import planned_exports, run
    from export import FORMATS
    from export.publish import export_name
    from export.report import report_path

    EXPORTS = planned_exports()
    timings = run("ae_dense.mnist", tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"codes.npy", "reconstructions.png", "summary.md"}
    for part, fmt, quantize in EXPORTS:
        path = tmp_path / export_name("ae_dense.mnist", part, FORMATS[fmt], quantize)
        assert path.is_file() == (FORMATS[fmt].suffix is not None)  # ONNX and TFLite as files, SavedModel a folder
        assert json.loads(report_path(path).read_text())["passed"]
    assert len(timings) == 1 + sum(part == "encoder" for part, _, _ in EXPORTS)
    assert all(t["samples_per_s"] > 0 and t["batch1_latency_us"] > 0 for t in timings)
    assert np.load(tmp_path / "codes.npy").shape == (1000, 32)
    assert "Chained ONNX" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_quickstart_reports_a_failed_export_and_goes_on(tmp_path, monkeypatch, capsys):
    from aezoo.quickstart import run
    from export import validate

    monkeypatch.setattr(validate, "DEFAULT_ATOL", 1e-12)  # no float32 export can pass this
    run("linear_dense.mnist", tmp_path)
    out = capsys.readouterr().out
    # Every float32 export that differs from Keras by more than the impossible atol fails; one that is
    # (nearly) bit-identical, as a SavedModel running TensorFlow's own kernels can be, passes.
    rows = [line.split() for line in out.splitlines() if line.startswith("linear_dense.mnist ")]
    float_rows = [r for r in rows if r[3] == "-"]
    failed = [r for r in float_rows if "FAILED:" in r]
    assert failed and all(float(r[6]) > 1e-12 for r in failed)
    assert all(float(r[6]) <= 1e-12 for r in float_rows if r not in failed)
    assert f"{len(failed)} export(s) failed validation and were not written" in out
    assert not (tmp_path / "linear_dense.mnist_encoder.onnx").exists()
    assert (tmp_path / "linear_dense.mnist_encoder-int8.tflite.export_report.json").exists()
    assert "not run (an ONNX export failed)" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_export_a_keras_file_and_encode_through_tflite(tmp_path):
    from tests.helpers import tiny_model

    model = tiny_model("vae_conv")
    model.save(tmp_path / "mine.keras")
    assert main(["export", str(tmp_path / "mine.keras"), "--format", "tflite", "--out", str(tmp_path / "exp")]) == 0
    folder = tmp_path / "exp" / "mine_encoder.tflite"
    assert folder.is_file() and export.ExportReport.load(folder).metadata["family"] == "vae_conv"
    x = np.random.default_rng(0).uniform(size=(5, 16, 16, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    assert main(["encode", str(tmp_path / "mine.keras"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "z.npy"), "--runtime", "tflite"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), model.encode_distribution(x)[0], atol=1e-5, rtol=0)


def test_encode_an_image_folder(tmp_path):
    import keras

    x = zdata.load_sample("mnist")[0][:4]
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(x):
        keras.utils.save_img(folder / f"{i}.png", image, scale=False)
    assert main(["encode", "ae_dense.mnist", "--input", str(folder), "--output", str(tmp_path / "z.npy")]) == 0
    expected = zoo.load_pretrained("ae_dense.mnist").encode(zdata.to_unit_range(x))
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), expected, atol=1e-5, rtol=0)
