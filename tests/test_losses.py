"""Contractive and VAE terms against independent references."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import blob_images, tiny_model
from zoo.models.layers import GaussianSampling
from zoo.models.losses import gaussian_kl, jacobian_frobenius_sq, reconstruction_error


def _finite_difference_frobenius(fn, x, eps=1e-5):
    """Central-difference Jacobian, squared and summed, per example (float64)."""
    n, d = x.shape
    out = []
    for i in range(n):
        plus = x[i] + eps * np.eye(d)
        minus = x[i] - eps * np.eye(d)
        jac = (np.asarray(fn(plus)) - np.asarray(fn(minus))) / (2 * eps)  # (d, k)
        out.append(np.sum(jac**2))
    return np.array(out)


@pytest.mark.parametrize(
    "layers",
    [
        [("sigmoid", 3)],
        [("tanh", 7), ("sigmoid", 3)],
        [("softplus", 6), ("tanh", 5), ("linear", 2)],
    ],
    ids=["one-sigmoid", "two-layer", "three-layer"],
)
def test_jacobian_penalty_matches_finite_differences(layers):
    d = 5
    encoder = keras.Sequential(
        [keras.Input((d,), dtype="float64")]
        + [keras.layers.Dense(u, activation=a, dtype="float64") for a, u in layers]
    )
    x = np.random.default_rng(0).normal(size=(6, d))
    got = jacobian_frobenius_sq(encoder, tf.constant(x)).numpy()
    want = _finite_difference_frobenius(lambda t: encoder(t).numpy(), x)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_contractive_model_penalty_uses_the_encoder_jacobian():
    model = tiny_model("contractive_dense", contractive=0.5)
    model.compile("adam")
    x = blob_images(3)
    logs = model.evaluate(x, verbose=0, return_dict=True)
    per_sample = []
    for xi in x:  # autodiff one example at a time, with the full (non-batch) Jacobian
        xi = tf.constant(xi[None])
        with tf.GradientTape() as tape:
            tape.watch(xi)
            z = model.encoder(xi)
        per_sample.append(float(tf.reduce_sum(tape.jacobian(z, xi) ** 2)))
    np.testing.assert_allclose(logs["penalty"], 0.5 * np.mean(per_sample), rtol=1e-4)


def test_contractive_penalty_is_differentiable():
    encoder = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="sigmoid")])
    x = tf.constant(np.random.default_rng(2).normal(size=(5, 4)), dtype="float32")
    with tf.GradientTape() as tape:
        penalty = tf.reduce_mean(jacobian_frobenius_sq(encoder, x))
    grads = tape.gradient(penalty, encoder.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)


def test_gaussian_kl_matches_closed_form_and_monte_carlo():
    rng = np.random.default_rng(3)
    mean = rng.normal(size=(4, 3))
    log_var = rng.normal(scale=0.5, size=(4, 3))
    got = np.asarray(gaussian_kl(mean, log_var))
    var = np.exp(log_var)
    closed = 0.5 * np.sum(var + mean**2 - 1 - log_var, axis=1)
    np.testing.assert_allclose(got, closed, rtol=1e-6)
    # Monte Carlo: E_q[log q(z) - log p(z)] with z ~ q.
    z = mean[None] + np.sqrt(var)[None] * rng.normal(size=(200_000, *mean.shape))
    log_q = -0.5 * (np.log(2 * np.pi) + log_var + (z - mean) ** 2 / var)
    log_p = -0.5 * (np.log(2 * np.pi) + z**2)
    mc = (log_q - log_p).sum(axis=-1).mean(axis=0)
    np.testing.assert_allclose(got, mc, rtol=0.03, atol=0.01)


def test_sampling_layer_adds_beta_times_kl_and_is_deterministic_at_inference():
    rng = np.random.default_rng(4)
    mean = rng.normal(size=(8, 2)).astype("float32")
    log_var = rng.normal(scale=0.3, size=(8, 2)).astype("float32")
    layer = GaussianSampling(beta=4.0, seed=1)
    z = layer([mean, log_var])
    np.testing.assert_array_equal(np.asarray(z), mean)
    closed = 0.5 * np.sum(np.exp(log_var) + mean**2 - 1 - log_var, axis=1).mean()
    np.testing.assert_allclose(float(layer.losses[0]), 4.0 * closed, rtol=1e-5)
    z_train = np.asarray(layer([mean, log_var], training=True))
    assert not np.allclose(z_train, mean)


def test_vae_loss_is_negative_elbo_in_nats():
    model = tiny_model("vae_dense", beta=1.0)
    model.compile("adam")
    x = blob_images(8)
    logs = model.evaluate(x, verbose=0, return_dict=True)
    z_mean, z_log_var = model.encode_distribution(x)
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1 - z_log_var, axis=1).mean()
    np.testing.assert_allclose(logs["penalty"], kl, rtol=1e-4)
    # Reconstruction is summed over the 256 pixels: nats per image.
    assert logs["reconstruction_loss"] > 256 * 0.1


def test_reconstruction_error_reductions():
    x = np.random.default_rng(5).uniform(size=(3, 4, 4, 1)).astype("float32")
    y = np.random.default_rng(6).uniform(0.05, 0.95, size=x.shape).astype("float32")
    bce = -(x * np.log(y) + (1 - x) * np.log(1 - y)).reshape(3, -1)
    np.testing.assert_allclose(reconstruction_error(x, y, "bce", "mean"), bce.mean(1), rtol=1e-5)
    np.testing.assert_allclose(reconstruction_error(x, y, "bce", "sum"), bce.sum(1), rtol=1e-5)
    np.testing.assert_allclose(reconstruction_error(x, y, "mse"), ((x - y) ** 2).reshape(3, -1).mean(1), rtol=1e-5)
