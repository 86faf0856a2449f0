"""Detector ensembles: scores against numpy from the members' own scores, thresholds, save/load integrity, export, CLI."""

import json

import keras
import numpy as np
import pytest

from tests.helpers import blob_images, tiny_model
from zoo.anomaly import Detector, DetectorEnsemble, DetectorIntegrityError, load_detector

X = blob_images(60, seed=5)
NORMAL, NEW = X[:40], X[40:]


def _members(score_b: str = "mahalanobis") -> list[Detector]:
    return [Detector(tiny_model("ae_dense")), Detector(tiny_model("ae_conv"), score=score_b)]


@pytest.fixture(scope="module")
def ensemble() -> DetectorEnsemble:
    """A dense AE's MSE reconstruction score with a conv AE's Mahalanobis score: the benchmark's pairing."""
    return DetectorEnsemble(_members()).fit(NORMAL, fpr=0.1)


def _held_out(n: int = 40, fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """The validation indices of the documented hold-out: the first ``fraction`` of a seeded permutation."""
    return np.random.default_rng(seed).permutation(n)[: int(round(fraction * n))]


def test_the_score_is_the_mean_of_members_scores_standardised_on_normal_validation_data(ensemble):
    x_val = NORMAL[_held_out()]
    val = [m.score_samples(x_val) for m in ensemble.members]
    means, stds = [v.mean() for v in val], [v.std() for v in val]
    np.testing.assert_allclose(ensemble.statistics["member_means"], means, rtol=1e-12)
    np.testing.assert_allclose(ensemble.statistics["member_stds"], stds, rtol=1e-12)
    want = np.mean([(m.score_samples(NEW) - mu) / sd for m, mu, sd in zip(ensemble.members, means, stds, strict=True)],
                   axis=0)
    np.testing.assert_allclose(ensemble.score_samples(NEW), want, rtol=1e-10)
    np.testing.assert_array_equal(ensemble.decision_function(NEW), ensemble.score_samples(NEW))
    # every member was fitted on the same split: 32 normal examples, 8 held out
    assert all((m.statistics["n_normal"], m.statistics["n_validation"]) == (32, 8) for m in ensemble.members)
    # fpr=0.1: the 0.9 quantile of the ensemble's own validation scores
    val_ensemble = np.mean([(v - mu) / sd for v, mu, sd in zip(val, means, stds, strict=True)], axis=0)
    assert ensemble.threshold == pytest.approx(np.quantile(val_ensemble, 0.9), rel=1e-12)
    assert ensemble.threshold_method == "target false-positive rate 0.1"
    np.testing.assert_array_equal(ensemble.predict(NEW), (want > ensemble.threshold).astype(int))


def test_maps_are_the_mean_of_the_members_maps(ensemble):
    scores, maps = ensemble.score_with_maps(NEW)
    np.testing.assert_allclose(scores, ensemble.score_samples(NEW), rtol=1e-12)
    want = np.mean([m.score_with_maps(NEW)[1] for m in ensemble.members], axis=0)
    np.testing.assert_allclose(maps, want, rtol=1e-6)
    assert maps.shape == NEW.shape


def test_percentile_and_f1_thresholds_on_given_validation_data():
    members = _members("combined")
    ens = DetectorEnsemble(members).fit(NORMAL[:30], NORMAL[30:], percentile=80)
    val = [m.score_samples(NORMAL[30:]) for m in members]
    z = np.mean([(v - v.mean()) / v.std() for v in val], axis=0)
    assert ens.threshold == pytest.approx(np.percentile(z, 80), rel=1e-10)
    # F1: validation with anomalies (inverted blobs); the standardisation sees the normal ones only
    x_val, labels = np.concatenate([NORMAL[30:], 1 - NEW[:5]]), np.r_[np.zeros(10, int), np.ones(5, int)]
    ens.fit(NORMAL[:30], x_val, validation_labels=labels)
    val = [m.score_samples(x_val) for m in members]
    np.testing.assert_allclose(ens.statistics["member_means"], [v[:10].mean() for v in val], rtol=1e-10)
    assert "F1-optimal" in ens.threshold_method


def test_save_load_round_trip_gives_identical_scores(ensemble, tmp_path):
    ensemble.save(tmp_path / "e")
    assert {p.name for p in (tmp_path / "e").iterdir()} == {"ensemble.json", "members"}
    loaded = load_detector(tmp_path / "e")
    assert isinstance(loaded, DetectorEnsemble)
    np.testing.assert_array_equal(loaded.score_samples(NEW), ensemble.score_samples(NEW))
    assert (loaded.threshold, loaded.threshold_method) == (ensemble.threshold, ensemble.threshold_method)
    assert loaded.statistics == ensemble.statistics
    assert [m.score for m in loaded.members] == ["reconstruction", "mahalanobis"]
    assert isinstance(Detector.load(tmp_path / "e" / "members" / "1"), Detector)  # each member is a detector folder


def _re_sign(path):
    """Edit a detector record and recompute its own digest, as a careful forger would."""
    from zoo.anomaly.records import _record_digest

    record = json.loads(path.read_text())
    record["threshold"] = 1e9
    record["record_sha256"] = _record_digest(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize("tamper, needle", [
    (lambda f: _re_sign(f / "members" / "1" / "detector.json"), "not the member this ensemble was saved with"),
    (lambda f: (f / "members" / "0" / "model.keras").write_bytes(b"not a model"), "SHA-256 mismatch"),
    (lambda f: (f / "ensemble.json").write_text((f / "ensemble.json").read_text().replace('"threshold": ',
                                                                                          '"threshold": 1')),
     "edited after it was saved"),
])
def test_a_tampered_ensemble_is_refused_before_any_model_loads(ensemble, tamper, needle, tmp_path, monkeypatch):
    ensemble.save(tmp_path / "e")
    tamper(tmp_path / "e")

    def no_load(*args, **kwargs):
        raise AssertionError("a model was loaded from a tampered ensemble")

    monkeypatch.setattr(keras.models, "load_model", no_load)
    with pytest.raises(DetectorIntegrityError, match=needle):
        load_detector(tmp_path / "e")


@pytest.mark.parametrize("call, needle", [
    (lambda: DetectorEnsemble([Detector(tiny_model("ae_dense"))]), "at least two detectors. Received: 1"),
    (lambda: DetectorEnsemble([Detector(tiny_model("ae_dense")), "ae_conv"]), "Received member 1: str"),
    (lambda: DetectorEnsemble([Detector(tiny_model("ae_dense")),
                               Detector(tiny_model("ae_dense", input_shape=(8, 8, 1)))]),
     r"member 0 \(ae_dense\) takes \(16, 16, 1\), member 1 \(ae_dense\) takes \(8, 8, 1\)"),
    (lambda: DetectorEnsemble(_members()).score_samples(NEW), "not fitted"),
    (lambda: DetectorEnsemble(_members()).fit(NORMAL, fpr=0.1, percentile=90), "Choose one threshold method"),
    (lambda: DetectorEnsemble(_members()).fit(NORMAL[:30], NORMAL[30:], validation_labels=np.zeros(3)),
     "one label per validation example"),
])
def test_bad_input_is_a_one_line_error(call, needle):
    with pytest.raises((ValueError, TypeError), match=needle) as err:
        call()
    assert "\n" not in str(err.value)


def test_the_scoring_graph_matches_the_ensemble(ensemble):
    out = ensemble.scoring_model().predict(NEW, verbose=0)
    scores, maps = ensemble.score_with_maps(NEW)
    # float32 graph vs the float64 reference: within 1e-4 of the scores' scale (the export bound)
    np.testing.assert_allclose(out["scores"], scores, rtol=0, atol=1e-4 * np.abs(scores).max())
    np.testing.assert_allclose(out["error_maps"], maps, rtol=1e-4, atol=1e-6)


def test_an_elbo_member_scores_but_does_not_export():
    ens = DetectorEnsemble([Detector(tiny_model("ae_dense")),
                            Detector(tiny_model("vae_dense"), score="elbo", n_samples=2)]).fit(NORMAL)
    assert np.isfinite(ens.score_samples(NEW)).all()
    with pytest.raises(ValueError, match=r"Member 1 \(vae_dense\) uses score='elbo'"):
        ens.scoring_model()


def test_an_ensemble_folder_exports_to_onnx_with_its_members_in_metadata(ensemble, tmp_path):
    from export import export_model, load_artifact, read_metadata

    ensemble.save(tmp_path / "e")
    report = export_model(tmp_path / "e", "onnx", tmp_path / "e.onnx")
    assert report.passed and report.part == "detector" and report.batch_sizes == [1, 7, 64]
    meta = read_metadata(tmp_path / "e.onnx")["detector"]
    assert meta["threshold"] == ensemble.threshold == report.threshold and meta["score"] == "ensemble"
    assert [(m["model"], m["score"], m["error"]) for m in meta["members"]] == [
        ("ae_dense", "reconstruction", "mse"), ("ae_conv", "mahalanobis", "mse")]
    assert [m["mean"] for m in meta["members"]] == ensemble.statistics["member_means"]
    assert [m["std"] for m in meta["members"]] == ensemble.statistics["member_stds"]
    out = load_artifact(tmp_path / "e.onnx")(NEW)
    scores, maps = ensemble.score_with_maps(NEW)
    np.testing.assert_allclose(out["scores"], scores, rtol=0, atol=1e-4 * np.abs(scores).max())
    np.testing.assert_allclose(out["error_maps"], maps, rtol=0, atol=1e-5 * max(1.0, np.abs(maps).max()))


@pytest.mark.slow
def test_an_ensemble_exports_to_tflite_and_refuses_quantization(ensemble, tmp_path):
    from export import export_model, load_artifact

    with pytest.raises(ValueError, match="float32 only"):
        export_model(ensemble, "tflite", tmp_path / "q.tflite", quantize="float16")
    assert export_model(ensemble, "tflite", tmp_path / "e.tflite").passed
    scores = ensemble.score_samples(NEW)
    np.testing.assert_allclose(load_artifact(tmp_path / "e.tflite")(NEW)["scores"], scores,
                               rtol=0, atol=1e-4 * np.abs(scores).max())


@pytest.mark.slow
def test_cli_fits_and_scores_a_two_model_ensemble(tmp_path, capsys):
    from aezoo.cli import main

    out = tmp_path / "ens"
    assert main(["anomaly", "fit", "ae_dense.mnist", "ae_conv.mnist", "--score", "reconstruction", "mahalanobis",
                 "--normal", "sample:mnist", "--normal-class", "1", "--fpr", "0.05", "--out", str(out)]) == 0
    assert "fitted an ensemble of 2 detectors" in capsys.readouterr().out
    assert {"ensemble.json", "members", "scores.png", "most_anomalous_normal.png"} <= {p.name for p in out.iterdir()}
    csv = tmp_path / "s.csv"
    assert main(["anomaly", "score", str(out), "--input", "sample:mnist", "--output", str(csv)]) == 0
    rows = np.genfromtxt(csv, delimiter=",", names=True)
    loaded = DetectorEnsemble.load(out)
    assert [(m.model.name, m.score) for m in loaded.members] == [("ae_dense", "reconstruction"),
                                                                  ("ae_conv", "mahalanobis")]
    assert np.array_equal(rows["anomaly"], (rows["score"] > loaded.threshold).astype(float))
    ones = rows["label"] == 1
    assert rows["score"][~ones].mean() > rows["score"][ones].mean()  # other digits look more anomalous


@pytest.mark.parametrize("argv, needle", [
    (["a.mnist", "b.mnist", "c.mnist", "--score", "reconstruction", "mahalanobis"],
     "--score takes one score for all 3 models or one per model. Received 2"),
    (["a.mnist", "b.mnist", "--error", "mse", "bce", "mse"],
     "--error takes one error for all 2 models or one per model. Received 3"),
])
def test_cli_length_mismatch_is_a_one_line_error(argv, needle, capsys, tmp_path, monkeypatch):
    from aezoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["anomaly", "fit", *argv, "--normal", "sample:mnist", "--out", "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error:") and needle in err and err.count("\n") == 1
