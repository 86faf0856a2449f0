"""Evaluation metrics against closed forms and hand-computed values."""

import numpy as np
import pytest

from tests.helpers import blob_images, tiny_model
from zoo.evaluation.evaluate import linear_probe, psnr, reconstruction_metrics, sparsity_metrics, vae_metrics


def test_psnr_closed_form():
    x = np.zeros((3, 4, 4, 1), "float32")
    assert psnr(x, x + 0.1) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 -> 20 dB


def test_reconstruction_metrics_match_formulas():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 6)).astype("float32")
    y = rng.uniform(0.1, 0.9, size=(5, 6)).astype("float32")
    m = reconstruction_metrics(x, y)
    assert m["bce"] == pytest.approx(float(np.mean(-(x * np.log(y) + (1 - x) * np.log(1 - y)))), rel=1e-5)
    assert m["mse"] == pytest.approx(float(np.mean((x - y) ** 2)), rel=1e-6)


def test_sparsity_metrics_on_a_known_array():
    codes = np.array([[0.0, 0.5], [0.04, 1.0], [0.2, 0.001]], "float32")
    m = sparsity_metrics(codes)
    assert m["code_mean_activation"] == pytest.approx(codes.mean())
    assert m["fraction_below_0.05"] == pytest.approx(3 / 6)
    assert m["fraction_below_1pct_of_max"] == pytest.approx(2 / 6)  # 0.0 and 0.001 < 0.01
    assert m["unit_mean_activations"] == pytest.approx([0.08, 0.500333], rel=1e-4)


def test_linear_probe_separates_separable_classes():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    z = np.eye(3)[y] * 3 + 0.1 * rng.normal(size=(300, 3))
    assert linear_probe(z[:200], y[:200], z[200:], y[200:]) == 1.0
    noise = rng.normal(size=(300, 3))
    assert linear_probe(noise[:200], y[:200], noise[200:], y[200:]) < 0.6


def test_vae_metrics_add_up_and_use_the_closed_form_kl():
    model = tiny_model("vae_dense")
    x = blob_images(16)
    m = vae_metrics(model, x, seed=0)
    z_mean, z_log_var = model.encode_distribution(x)
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1 - z_log_var, axis=1).mean()
    assert m["kl_nats"] == pytest.approx(kl, rel=1e-5)
    assert m["neg_elbo_nats"] == pytest.approx(m["reconstruction_nats"] + m["kl_nats"], rel=1e-6)
    assert vae_metrics(model, x, seed=0) == m  # seeded


def test_the_probe_solves_scikit_learns_logistic_regression():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from zoo.models.metrics import _standardise, fit_logistic_regression

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 3000)
    z = rng.normal(size=(3000, 12)) + 0.6 * np.eye(4, 12)[y] * rng.uniform(1, 3, 12) + 5.0
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(z[:2000], y[:2000])
    assert linear_probe(z[:2000], y[:2000], z[2000:], y[2000:]) == pytest.approx(
        reference.score(z[2000:], y[2000:]), abs=0.002)
    _, weights = fit_logistic_regression(_standardise(z[:2000], z[2000:])[0], y[:2000])
    sk = reference[-1]
    np.testing.assert_allclose(weights[:-1].T, sk.coef_, atol=2e-3)
    np.testing.assert_allclose(weights[-1], sk.intercept_, atol=2e-3)
