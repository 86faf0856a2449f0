"""Anomaly scores against numpy references, thresholds against hand-computed quantiles, save/load integrity."""

import json

import numpy as np
import pytest

from tests.helpers import blob_images, tiny_model
from zoo.anomaly import Detector, DetectorIntegrityError, GaussianCodes, elbo_scores, threshold_from_scores

X = blob_images(60, seed=5)


def _bce(x, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


def test_reconstruction_score_and_maps_match_numpy():
    model = tiny_model("denoising_conv")  # corruption must not touch scoring
    detector = Detector(model, error="bce").fit(X[:40], percentile=95)
    scores, maps = detector.score_with_maps(X[40:])
    recon = model.decoder.predict(model.encoder.predict(X[40:], verbose=0), verbose=0)
    np.testing.assert_allclose(maps, _bce(X[40:], recon), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(scores, _bce(X[40:], recon).reshape(20, -1).mean(axis=1), rtol=1e-4)
    np.testing.assert_array_equal(detector.decision_function(X[40:]), detector.score_samples(X[40:]))


def test_mse_reconstruction_score_matches_numpy_whatever_the_training_loss():
    model = tiny_model("ae_dense")  # trained with BCE; the default error="mse" scores with the squared error
    detector = Detector(model).fit(X[:40], percentile=95)
    assert detector.error == "mse"
    recon = model.decoder.predict(model.encoder.predict(X[40:], verbose=0), verbose=0)
    scores, maps = detector.score_with_maps(X[40:])
    np.testing.assert_allclose(maps, (X[40:] - recon) ** 2, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(scores, ((X[40:] - recon) ** 2).reshape(20, -1).mean(axis=1), rtol=1e-4)


def test_elbo_score_is_seeded_and_matches_numpy():
    model = tiny_model("vae_dense")
    x = X[:10]
    got = elbo_scores(model, x, n_samples=3, seed=4)
    np.testing.assert_array_equal(got, elbo_scores(model, x, n_samples=3, seed=4))
    mean, log_var = model.encode_distribution(x)
    rng = np.random.default_rng(4)
    rec = np.zeros(len(x))
    for _ in range(3):
        z = mean + np.exp(0.5 * log_var) * rng.standard_normal(mean.shape).astype("float32")
        rec += _bce(x, model.decode(z)).reshape(len(x), -1).sum(axis=1)
    kl = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=1)
    np.testing.assert_allclose(got, rec / 3 + kl, rtol=1e-4)


def test_mahalanobis_distance_matches_the_formula():
    codes = np.random.default_rng(0).normal(size=(200, 3)) @ np.array([[2, 0, 0], [0.5, 1, 0], [0, 0, 0.3]])
    gauss = GaussianCodes.fit(codes)
    q = codes[:5] + 1.0
    d = q - gauss.mean
    want = np.sqrt(np.array([row @ np.linalg.inv(np.linalg.inv(gauss.precision)) @ row for row in d]))
    np.testing.assert_allclose(gauss.distance(q), want, rtol=1e-8)


def test_thresholds_match_hand_computed_quantiles():
    s = np.arange(1, 101, dtype=float)  # 1..100
    assert threshold_from_scores(s, percentile=90)[0] == pytest.approx(np.percentile(s, 90))
    assert threshold_from_scores(s, fpr=0.05)[0] == pytest.approx(np.quantile(s, 0.95))
    assert threshold_from_scores(s)[0] == pytest.approx(np.percentile(s, 99))  # default


def test_f1_threshold_is_the_brute_force_optimum():
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(80, int), np.ones(20, int)]
    scores = np.r_[rng.normal(0, 1, 80), rng.normal(1.5, 1, 20)]
    cut, how = threshold_from_scores(scores[labels == 0], scores=scores, labels=labels)

    def f1(t):
        pred = scores > t
        tp = np.sum(pred & (labels == 1))
        return 2 * tp / max(pred.sum() + labels.sum(), 1)

    best = max(f1(t) for t in np.r_[scores, -np.inf] - 1e-12)
    assert f1(cut) == pytest.approx(best) and "F1-optimal" in how


@pytest.mark.parametrize("score", ["reconstruction", "mahalanobis", "combined", "elbo"])
def test_save_load_round_trip_gives_the_same_scores(score, tmp_path):
    model = tiny_model("vae_dense" if score == "elbo" else "ae_dense")
    detector = Detector(model, score=score, n_samples=2).fit(X[:40], fpr=0.1)
    detector.save(tmp_path / "d")
    loaded = Detector.load(tmp_path / "d")
    np.testing.assert_allclose(loaded.score_samples(X[40:]), detector.score_samples(X[40:]), rtol=1e-6)
    assert loaded.threshold == detector.threshold and loaded.threshold_method == detector.threshold_method
    np.testing.assert_array_equal(loaded.predict(X[40:]), detector.predict(X[40:]))


def test_tampered_detector_folders_are_refused(tmp_path):
    Detector(tiny_model("ae_dense")).fit(X[:40]).save(tmp_path / "d")
    record_path = tmp_path / "d" / "detector.json"
    original = record_path.read_text()
    record = json.loads(original)
    record["threshold"] = 1e9  # would silence every alarm
    record_path.write_text(json.dumps(record))
    with pytest.raises(DetectorIntegrityError, match="edited after it was saved"):
        Detector.load(tmp_path / "d")
    record_path.write_text(original)
    model_path = tmp_path / "d" / "model.keras"
    model_path.write_bytes(model_path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DetectorIntegrityError, match="SHA-256 mismatch"):
        Detector.load(tmp_path / "d")


@pytest.mark.parametrize("call, needle", [
    (lambda d: d.fit(X[:0]), "at least one example"),
    (lambda d: d.fit(np.full_like(X[:10], np.nan)), "NaN"),
    (lambda d: d.fit(X[:10, :8]), "expected data of shape"),
    (lambda d: d.fit(X[:30], validation=X[30:40], validation_labels=np.zeros(10)), "both normal"),
    (lambda d: d.fit(X[:30], fpr=1.5), "fpr"),
    (lambda d: d.score_samples(X[:3]), "not fitted"),
])
def test_bad_input_is_a_one_line_error(call, needle):
    with pytest.raises(ValueError, match=needle) as err:
        call(Detector(tiny_model("ae_dense")))
    assert "\n" not in str(err.value)


def test_elbo_needs_a_gaussian_posterior():
    with pytest.raises(ValueError, match="Gaussian posterior"):
        Detector(tiny_model("ae_dense"), score="elbo").fit(X[:20])


@pytest.mark.slow
@pytest.mark.parametrize("score", ["reconstruction", "mahalanobis", "combined"])
def test_the_scoring_graph_matches_the_detector(score):
    detector = Detector(tiny_model("ae_conv"), score=score).fit(X[:40])
    graph = detector.scoring_model()
    out = graph.predict(X[40:], verbose=0)
    scores, maps = detector.score_with_maps(X[40:])
    # float32 graph vs the float64 reference: within 1e-4 of the scores' scale (the export bound)
    np.testing.assert_allclose(out["scores"], scores, rtol=0, atol=1e-4 * np.abs(scores).max())
    np.testing.assert_allclose(out["error_maps"], maps, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="no deterministic graph"):
        Detector(tiny_model("vae_dense"), score="elbo").fit(X[:40]).scoring_model()
