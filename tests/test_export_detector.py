"""Exported anomaly detectors: both outputs in every runtime against the Keras detector, the threshold in metadata."""

import json

import numpy as np
import pytest

from aezoo.cli import main
from export import (
    FORMATS,
    ExportReport,
    ExportValidationError,
    Runner,
    export_model,
    load_artifact,
    read_metadata,
)
from tests.helpers import blob_images, tiny_model
from zoo.anomaly import Detector

NORMAL = blob_images(40, seed=5)
NEW = blob_images(72, seed=9)  # 1 + 7 + 64 images, none seen in fitting


@pytest.fixture(scope="module")
def combined():
    """A combined (reconstruction + Mahalanobis) detector: it exercises every piece of the scoring graph."""
    return Detector(tiny_model("ae_conv"), score="combined").fit(NORMAL, fpr=0.1)


def _target(tmp_path, fmt):
    suffix = FORMATS[fmt].suffix
    return tmp_path / (f"det{suffix}" if suffix else "det")  # file artifacts as files, SavedModel a folder


def assert_within_export_bound(outputs, scores, maps):
    """The documented float32 bound: scores to 1e-4 of max |score|, maps to 1e-5 x max(1, max |map|)."""
    np.testing.assert_allclose(outputs["scores"], scores, rtol=0, atol=1e-4 * np.abs(scores).max())
    np.testing.assert_allclose(outputs["error_maps"], maps, rtol=0, atol=1e-5 * max(1.0, np.abs(maps).max()))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_exports_scores_and_maps_within_the_bound(fmt, combined, tmp_path):
    target = _target(tmp_path, fmt)
    report = export_model(combined, fmt, target)
    assert report.passed and report.part == "detector" and report.batch_sizes == [1, 7, 64]
    assert report.output_name == "scores, error_maps" and report.quantize is None
    assert set(report.outputs) == {"scores", "error_maps"}
    assert all(o["max_abs_error"] <= o["bound"] for o in report.outputs.values())
    runner = load_artifact(target)
    assert runner.input_name == "images" and set(runner.output_names) == {"scores", "error_maps"}
    batches = [runner(x) for x in np.split(NEW, [1, 8])]  # batch sizes 1, 7, 64 through one session
    assert [len(b["scores"]) for b in batches] == [1, 7, 64]  # a dict each: the artifact has two outputs
    out = {name: np.concatenate([b[name] for b in batches]) for name in ("scores", "error_maps")}
    assert out["error_maps"].shape == NEW.shape
    # The scale is max |score| over all 72 validation images, as in the exporter's check.
    assert_within_export_bound(out, *combined.score_with_maps(NEW))
    keras_out = combined.scoring_model().predict(NEW, verbose=0)
    assert_within_export_bound(out, keras_out["scores"], keras_out["error_maps"])
    meta = read_metadata(target)
    assert meta["detector"]["threshold"] == combined.threshold == report.threshold
    assert ExportReport.load(target).threshold == combined.threshold
    assert meta["detector"]["threshold_method"] == combined.threshold_method == "target false-positive rate 0.1"
    assert (meta["detector"]["score"], meta["detector"]["error"]) == ("combined", "mse")  # the default
    stats = meta["detector"]["statistics"]
    assert "code_precision" not in stats and stats["code_dim"] == 4
    assert stats["reconstruction_std"] == combined.statistics["reconstruction_std"]
    assert meta["outputs"] == {"scores": [None], "error_maps": [None, 16, 16, 1]}


def test_changing_the_threshold_needs_no_re_export(combined, tmp_path):
    runner = load_artifact(export_model(combined, "onnx", tmp_path / "d.onnx").path)
    threshold = read_metadata(tmp_path / "d.onnx")["detector"]["threshold"]
    scores = runner(NEW)["scores"]
    np.testing.assert_array_equal((scores > threshold).astype(np.int64), combined.predict(NEW))
    ordered = np.sort(combined.score_samples(NEW))
    moved = Detector(combined.model, score="combined", threshold=float(ordered[35:37].mean()),
                     statistics=combined.statistics)  # a deployment's new threshold, between two scores
    flags = (scores > moved.threshold).astype(np.int64)
    np.testing.assert_array_equal(flags, moved.predict(NEW))
    assert flags.sum() == 36


@pytest.mark.parametrize("score, error, fmt", [("reconstruction", "mse", "tflite"), ("mahalanobis", None, "saved_model")])
def test_a_saved_detector_folder_exports(score, error, fmt, tmp_path):
    detector = Detector(tiny_model("ae_dense"), score=score, error=error).fit(NORMAL)
    detector.save(tmp_path / "folder")
    report = export_model(tmp_path / "folder", fmt, tmp_path / "out")  # the folder, loaded with its checks
    assert report.passed and report.metadata["detector"]["score"] == score
    assert report.metadata["detector"]["error"] == detector.error and report.threshold == detector.threshold
    out = load_artifact(tmp_path / "out").outputs(NEW[:7])
    assert_within_export_bound(out, *detector.score_with_maps(NEW[:7]))


@pytest.mark.slow
def test_refusals_are_one_line_and_leave_nothing(combined, tmp_path):
    elbo = Detector(tiny_model("vae_dense"), score="elbo", n_samples=2).fit(NORMAL)
    cases = [
        (lambda: export_model(elbo, "onnx", tmp_path / "e.onnx"), "no deterministic graph"),
        (lambda: export_model(combined, "tflite", tmp_path / "q.tflite", quantize="int8"), "float32 only"),
        (lambda: export_model(combined, "onnx", tmp_path / "p.onnx", part="encoder"), "part='encoder'"),
        (lambda: export_model(tiny_model("ae_dense"), "onnx", tmp_path / "m.onnx", score_rtol=1e-3), "detector"),
    ]
    for call, needle in cases:
        with pytest.raises(ValueError, match=needle) as err:
            call()
        assert "\n" not in str(err.value)
    with pytest.raises(ExportValidationError, match="scores: max abs error") as err:
        export_model(combined, "tflite", tmp_path / "strict.tflite", score_rtol=0.0)  # float32 is not exact
    assert err.value.report.outputs["scores"]["max_abs_error"] > 0
    assert list(tmp_path.iterdir()) == []


def test_multi_output_runner_keeps_the_one_output_api():
    one = Runner.of(lambda x: {"codes": x[:, :2]}, "images", ["codes"], "numpy", (3,))
    two = Runner.of(lambda x: {"scores": x.sum(1), "error_maps": x}, "images", ["scores", "error_maps"],
                    "numpy", (3,))
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert isinstance(one(x), np.ndarray) and one(x).dtype == np.float32 and one.output_names == ("codes",)
    assert one.outputs(x).keys() == {"codes"} and one.output_name == "codes"
    assert set(two(x)) == {"scores", "error_maps"} and two.output_name == "scores, error_maps"
    np.testing.assert_array_equal(two.outputs(x)["scores"], [3, 12])


def test_cli_exports_a_detector_folder(combined, tmp_path, capsys):
    combined.save(tmp_path / "digits")
    assert main(["export", str(tmp_path / "digits"), "--format", "onnx", "--out", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "exp" / "digits_detector.onnx"
    report = json.loads((tmp_path / "exp" / "digits_detector.onnx.export_report.json").read_text())
    assert report["passed"] and report["part"] == "detector" and report["threshold"] == combined.threshold
    assert "detector" in out and f"threshold {combined.threshold:.6g}" in out
    assert read_metadata(folder)["detector"]["threshold"] == combined.threshold
    assert main(["export", str(tmp_path / "digits"), "--format", "onnx", "--part", "decoder",
                 "--out", str(tmp_path / "exp2")]) == 1
    err = capsys.readouterr().err
    assert "part='decoder' does not apply" in err and err.count("\n") == 1
