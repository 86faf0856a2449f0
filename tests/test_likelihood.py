"""Importance-sampled log-likelihood against closed forms: a linear-Gaussian model, a z-blind Bernoulli decoder."""

import numpy as np
import pytest

import zoo
from tests.helpers import tiny_model
from zoo.data.binarize import binarize
from zoo.evaluation.likelihood import binarized_nll, log_likelihood
from zoo.models.assemble import assemble
from zoo.models.autoencoder import VAE
from zoo.models.heads import GaussianSampling

D, LATENT, SIGMA = 6, 3, 0.5


def _linear_gaussian(seed: int = 0):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, σ²I) with orthogonal columns of W, so the exact posterior is diagonal."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(D, LATENT)))
    scales = np.array([2.0, 1.0, 0.5])
    w, b = q * scales, rng.normal(size=D)
    post_var = 1.0 / (1.0 + scales**2 / SIGMA**2)        # (I + WᵀW/σ²)⁻¹, diagonal
    a = (post_var[:, None] * w.T) / SIGMA**2               # posterior mean = a (x - b)
    model = assemble("dense", (D,), LATENT, (), model_cls=VAE, head=GaussianSampling(seed=0, name="sampling"),
                     output_activation="linear", reconstruction="mse", name="linear_gaussian")
    return model, w, b, a, post_var


def _set_posterior(model, kernel, bias, log_var):
    enc = model.encoder_network
    enc.get_layer("z_mean").set_weights([kernel.astype("float32"), bias.astype("float32")])
    enc.get_layer("z_log_var").set_weights([np.zeros((D, LATENT), "float32"), log_var.astype("float32")])


def _gaussian_logpdf(x, mean, cov):
    diff = x - mean
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (np.einsum("nd,de,ne->n", diff, np.linalg.inv(cov), diff) + logdet + len(mean) * np.log(2 * np.pi))


@pytest.fixture(scope="module")
def linear_gaussian():
    model, w, b, a, post_var = _linear_gaussian()
    model.decoder.get_layer("output").set_weights([w.T.astype("float32"), b.astype("float32")])
    x = np.random.default_rng(1).normal(size=(40, D)).astype("float32") + b.astype("float32")
    exact = _gaussian_logpdf(x.astype(np.float64), b, w @ w.T + SIGMA**2 * np.eye(D))
    return model, w, b, a, post_var, x, exact


@pytest.mark.parametrize("k", [1, 7, 300])
def test_exact_posterior_gives_the_closed_form_for_any_k(linear_gaussian, k):
    model, w, b, a, post_var, x, exact = linear_gaussian
    _set_posterior(model, a.T, -a @ b, np.log(post_var))
    got = log_likelihood(model, x, k, likelihood="gaussian", noise_stddev=SIGMA, batch_size=16, chunk=50)
    np.testing.assert_allclose(got, exact, atol=2e-4)


def test_a_worse_posterior_converges_from_its_elbo_to_the_closed_form(linear_gaussian):
    model, w, b, a, post_var, x, exact = linear_gaussian
    # q: the exact mean shifted by 0.4 and twice the exact variance.
    shift, var = 0.4, 2.0 * post_var
    _set_posterior(model, a.T, -a @ b + shift, np.log(var))
    m = (x.astype(np.float64) - b) @ a.T + shift
    mu_x = m @ w.T + b  # E_q[log N(x; Wz + b, σ²I)] = log N(x; Wm + b, σ²I) - tr(W S Wᵀ) / 2σ²
    expected_log_px_z = (-0.5 * np.sum((x - mu_x) ** 2 / SIGMA**2 + np.log(2 * np.pi * SIGMA**2), axis=1)
                         - np.sum(w**2 * var) / (2 * SIGMA**2))
    elbo = expected_log_px_z - 0.5 * np.sum(var + m**2 - 1.0 - np.log(var), axis=1)
    gaps = []
    for k in (1, 10, 1000):
        est, elbo_est = log_likelihood(model, x, k, seed=3, likelihood="gaussian", noise_stddev=SIGMA,
                                       with_elbo=True)
        assert np.all(est >= elbo_est - 1e-9)  # log-mean-exp >= mean, sample by sample
        if k == 1:
            np.testing.assert_allclose(est, elbo_est, rtol=1e-12)  # one sample: the estimate is a one-sample ELBO
        gaps.append(np.mean(exact - est))
    _, elbo_est = log_likelihood(model, x, 20000, seed=4, likelihood="gaussian", noise_stddev=SIGMA, with_elbo=True)
    np.testing.assert_allclose(elbo_est, elbo, atol=0.05)      # the K-sample mean of log weights is the ELBO
    assert gaps[0] > 0.1 and gaps[0] > gaps[1] > gaps[2] >= -0.01 and gaps[2] < 0.02


def test_bernoulli_decoder_blind_to_z_with_the_prior_as_posterior_is_exact():
    model = zoo.create_model("vae_dense", input_shape=(5,), latent_dim=2, hidden_units=(), seed=0)
    logits = np.array([-2.0, -0.5, 0.0, 1.0, 3.0], "float32")
    model.decoder.get_layer("output").set_weights([np.zeros((2, 5), "float32"), logits])
    enc = model.encoder_network
    for name in ("z_mean", "z_log_var"):
        enc.get_layer(name).set_weights([np.zeros((5, 2), "float32"), np.zeros(2, "float32")])
    x = binarize(np.random.default_rng(0).uniform(size=(30, 5)), seed=1)
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    want = np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=1)
    np.testing.assert_allclose(log_likelihood(model, x, 17), want, atol=1e-5)


def test_the_estimate_is_seeded_and_chunking_only_changes_the_draws():
    model = tiny_model("vae_dense")
    x = binarize(np.random.default_rng(0).uniform(size=(9, 16, 16, 1)), seed=2)
    a = log_likelihood(model, x, 40, seed=5, batch_size=4, chunk=8)
    np.testing.assert_array_equal(a, log_likelihood(model, x, 40, seed=5, batch_size=4, chunk=8))
    assert not np.array_equal(a, log_likelihood(model, x, 40, seed=6, batch_size=4, chunk=8))
    np.testing.assert_allclose(a, log_likelihood(model, x, 40, seed=5, batch_size=4, chunk=40), atol=2.0)


def test_binarized_nll_reports_the_protocol():
    model = tiny_model("iwae_dense")
    x = np.random.default_rng(0).integers(0, 256, size=(12, 16, 16, 1), dtype=np.uint8)
    out = binarized_nll(model, x, 20, limit=10)
    assert out["nll_n"] == 10 and out["nll_samples"] == 20
    assert out["nll_nats"] <= out["nll_elbo_nats"] + 1e-9 and out["nll_stderr"] > 0
    assert "seed 0" in out["nll_protocol"] and "K = 20" in out["nll_protocol"]
    want = -log_likelihood(model, binarize(x, 0)[:10], 20).mean()
    assert out["nll_nats"] == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda m, x: log_likelihood(m, x * 0.5, 3), "binary data"),
    (lambda m, x: log_likelihood(m, x, 0), "num_samples"),
    (lambda m, x: log_likelihood(m, x, 3, likelihood="gaussian"), "noise_stddev"),
    (lambda m, x: log_likelihood(tiny_model("ae_dense"), x, 3), "Gaussian posterior.*ae_dense"),
])
def test_bad_calls_are_refused(call, match):
    x = np.ones((2, 16, 16, 1), "float32")
    with pytest.raises(ValueError, match=match):
        call(tiny_model("vae_dense"), x)
