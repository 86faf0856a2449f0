"""IWAE: the k-sample bound against numpy, the model's loss on its own seeded draws, and binarisation."""

import keras
import numpy as np
import pytest
from keras import ops

import zoo
from tests.helpers import blob_images, tiny_model
from zoo.data.binarize import bernoulli, binarize
from zoo.families.iwae import IWAE, iwae_bound, log_importance_weights


def _numpy_log_weights(x, probs, eps, z_mean, z_log_var):
    """log p(x|z) + log p(z) - log q(z|x) per sample, written out in float64."""
    k, b = eps.shape[:2]
    z = z_mean[None] + np.exp(0.5 * z_log_var)[None] * eps
    p = np.clip(probs.reshape(k, b, -1), 1e-7, 1 - 1e-7)
    t = x.reshape(1, b, -1)
    log_px_z = np.sum(t * np.log(p) + (1 - t) * np.log(1 - p), axis=-1)
    log_pz = np.sum(-0.5 * z**2 - 0.5 * np.log(2 * np.pi), axis=-1)
    log_qz = np.sum(-0.5 * eps**2 - 0.5 * z_log_var[None] - 0.5 * np.log(2 * np.pi), axis=-1)
    return log_px_z + log_pz - log_qz, log_px_z


def _numpy_bound(log_w):
    m = log_w.max(axis=0)
    return m + np.log(np.mean(np.exp(log_w - m), axis=0))


def test_log_weights_and_bound_match_numpy():
    rng = np.random.default_rng(0)
    k, b, d, pixels = 4, 3, 2, 7
    x = (rng.uniform(size=(b, pixels)) < 0.4).astype(np.float64)
    probs, eps = rng.uniform(0.01, 0.99, size=(k * b, pixels)), rng.normal(size=(k, b, d))
    z_mean, z_log_var = rng.normal(size=(b, d)), rng.normal(0, 0.5, size=(b, d))
    z = z_mean[None] + np.exp(0.5 * z_log_var)[None] * eps
    log_w, log_px_z = log_importance_weights(x, probs, eps, z, z_mean, z_log_var)
    want_w, want_px = _numpy_log_weights(x, probs, eps, z_mean, z_log_var)
    np.testing.assert_allclose(ops.convert_to_numpy(log_w), want_w, rtol=1e-10)
    np.testing.assert_allclose(ops.convert_to_numpy(log_px_z), want_px, rtol=1e-10)
    bound = ops.convert_to_numpy(iwae_bound(ops.convert_to_tensor(want_w)))
    np.testing.assert_allclose(bound, _numpy_bound(want_w), rtol=1e-10)
    assert np.all(bound >= want_w.mean(axis=0))  # never below the ELBO of the same samples
    np.testing.assert_allclose(ops.convert_to_numpy(iwae_bound(want_w[:1])), want_w[0], rtol=1e-12)


@pytest.mark.parametrize("k, binarized", [(1, False), (6, False), (6, True)])
def test_model_loss_is_minus_the_bound_on_its_seeded_draws(k, binarized):
    model = tiny_model("iwae_dense", k=k, binarize=binarized, seed=11)
    model.compile("adam", jit_compile=False)
    x = blob_images(8)
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    # Replay the head's generator: (binarisation, then) the k x batch x d normal draws.
    seed = keras.random.SeedGenerator(11)
    target = x
    if binarized:
        u = ops.convert_to_numpy(keras.random.uniform(x.shape, seed=seed))
        target = (u < x).astype("float32")
    z_mean, z_log_var = (np.asarray(v, np.float64) for v in model.encode_distribution(target))
    eps = np.asarray(ops.convert_to_numpy(keras.random.normal((k, *z_mean.shape), seed=seed)), np.float64)
    z = z_mean[None] + np.exp(0.5 * z_log_var)[None] * eps
    probs = model.decode(z.reshape(-1, z.shape[-1]).astype("float32"))
    log_w, log_px_z = _numpy_log_weights(target.astype(np.float64), probs.astype(np.float64), eps, z_mean, z_log_var)
    np.testing.assert_allclose(logs["loss"], -_numpy_bound(log_w).mean(), rtol=2e-5)
    np.testing.assert_allclose(logs["reconstruction_loss"], -log_px_z.mean(), rtol=2e-5)
    np.testing.assert_allclose(logs["penalty"], logs["loss"] - logs["reconstruction_loss"], atol=1e-3)


def test_more_samples_tighten_the_bound_of_the_same_model():
    model = tiny_model("iwae_dense", k=1, binarize=False, seed=3)
    model.compile("adam")
    x = blob_images(64)
    model.fit(x, epochs=5, batch_size=16, verbose=0)
    weights = model.get_weights()
    losses = {}
    for k in (1, 50):
        other = tiny_model("iwae_dense", k=k, binarize=False, seed=3)
        other.set_weights(weights)
        other.compile("adam")
        losses[k] = other.evaluate(x, batch_size=64, verbose=0, return_dict=True)["loss"]
    assert losses[50] < losses[1]


def test_config_keeps_k_and_binarize_and_the_encoder_is_the_posterior_mean():
    model = tiny_model("iwae_conv", k=3)
    config = model.get_config()
    assert config["k"] == 3 and config["binarize"] is True and "beta" not in config
    assert isinstance(model, IWAE) and isinstance(model, zoo.VAE)
    x = blob_images(5)
    np.testing.assert_allclose(model.encode(x), model.encode_distribution(x)[0], atol=1e-6)


@pytest.mark.parametrize("bad, match", [({"k": 0}, "k"), ({"binarize": "yes"}, "binarize")])
def test_bad_arguments_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        tiny_model("iwae_dense", **bad)


def test_a_gaussian_decoder_is_refused():
    model = tiny_model("iwae_dense")
    with pytest.raises(ValueError, match="reconstruction='bce'.*mse"):
        IWAE(model.encoder_network, model.decoder, reconstruction="mse")


def test_static_binarisation_is_seeded_and_unbiased():
    x = np.random.default_rng(0).uniform(size=(2000, 8)).astype("float32")
    a = binarize(x, seed=5)
    np.testing.assert_array_equal(a, binarize(x, seed=5))
    assert not np.array_equal(a, binarize(x, seed=6))
    assert set(np.unique(a)) <= {0.0, 1.0}
    # Each pixel is Bernoulli(x): the column means of a - x have standard deviation <= 0.5 / sqrt(2000).
    assert np.max(np.abs((a - x).mean(axis=0))) < 4 * 0.5 / np.sqrt(2000)
    binary = (x > 0.5).astype("float32")
    np.testing.assert_array_equal(binarize(binary), binary)
    np.testing.assert_array_equal(binarize(np.array([[0, 255]], np.uint8)), [[0.0, 1.0]])


def test_static_binarisation_refuses_values_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\].*Received: values in \[-0.5"):
        binarize(np.array([-0.5, 0.5]))


def test_dynamic_binarisation_draws_anew_each_call():
    x = ops.convert_to_tensor(np.full((4000,), 0.3, "float32"))
    seed = keras.random.SeedGenerator(0)
    a, b = (ops.convert_to_numpy(bernoulli(x, seed)) for _ in range(2))
    assert set(np.unique(a)) <= {0.0, 1.0} and not np.array_equal(a, b)
    assert abs(a.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 4000)


def test_the_gaussian_heads_summary_adds_the_binarised_nll():
    from zoo.models.heads import GaussianSampling

    head = GaussianSampling()
    assert head.summarize({"neg_elbo_nats": 96.74}) == "−ELBO 96.7 nats"
    assert head.summarize({"neg_elbo_nats": 96.74, "nll_nats": 89.795, "nll_samples": 5000}) == (
        "−ELBO 96.7 nats; binarised NLL 89.80 (K = 5000)")
