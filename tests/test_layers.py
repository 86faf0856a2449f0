"""Corruption layers: identity at inference, the statistics they were given in training."""

import keras
import numpy as np
import pytest

from zoo.models.layers import AdditiveGaussianNoise, MaskingNoise, SaltAndPepperNoise

N = 200_000


@pytest.mark.parametrize(
    "layer",
    [AdditiveGaussianNoise(0.5), MaskingNoise(0.4), SaltAndPepperNoise(0.3)],
    ids=["gaussian", "masking", "salt_and_pepper"],
)
def test_identity_at_inference(layer):
    x = np.random.default_rng(0).uniform(size=(4, 5, 5, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    assert not np.allclose(np.asarray(layer(x, training=True)), x)


def test_gaussian_noise_statistics():
    x = np.full((N,), 0.5, dtype="float32")
    noise = np.asarray(AdditiveGaussianNoise(0.3, seed=1)(x, training=True)) - x
    assert abs(noise.mean()) < 4 * 0.3 / np.sqrt(N)
    np.testing.assert_allclose(noise.var(), 0.09, rtol=0.02)


def test_gaussian_noise_clip_keeps_pixels_in_range():
    x = np.random.default_rng(1).uniform(size=(1000,)).astype("float32")
    y = np.asarray(AdditiveGaussianNoise(1.0, clip=True, seed=2)(x, training=True))
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_masking_fraction():
    x = np.ones((N,), dtype="float32")
    y = np.asarray(MaskingNoise(0.3, seed=3)(x, training=True))
    assert set(np.unique(y)) <= {0.0, 1.0}
    np.testing.assert_allclose((y == 0).mean(), 0.3, atol=4 * np.sqrt(0.3 * 0.7 / N))


def test_salt_and_pepper_fractions():
    x = np.full((N,), 0.5, dtype="float32")
    y = np.asarray(SaltAndPepperNoise(0.2, seed=4)(x, training=True))
    tol = 4 * np.sqrt(0.1 * 0.9 / N)
    np.testing.assert_allclose((y == 0.0).mean(), 0.1, atol=tol)
    np.testing.assert_allclose((y == 1.0).mean(), 0.1, atol=tol)
    np.testing.assert_allclose((y == 0.5).mean(), 0.8, atol=2 * tol)


def test_noise_changes_between_calls_and_is_seeded():
    x = np.zeros((100,), dtype="float32")
    a = AdditiveGaussianNoise(1.0, seed=5)
    first, second = np.asarray(a(x, training=True)), np.asarray(a(x, training=True))
    assert not np.allclose(first, second)
    again = np.asarray(AdditiveGaussianNoise(1.0, seed=5)(x, training=True))
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize(
    "layer",
    [AdditiveGaussianNoise(0.2, clip=True, seed=1), MaskingNoise(0.1), SaltAndPepperNoise(0.1, low=-1.0)],
)
def test_serializable(layer):
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()
