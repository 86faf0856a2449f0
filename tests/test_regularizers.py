"""Activity penalties against their numpy formulas."""

import keras
import numpy as np
import pytest

from zoo.models.regularizers import KLSparsity, L1Activity


def test_l1_matches_numpy():
    a = np.random.default_rng(0).normal(size=(10, 6)).astype("float32")
    expected = 0.3 * np.abs(a).sum() / a.shape[0]
    np.testing.assert_allclose(float(L1Activity(0.3)(a)), expected, rtol=1e-6)


def test_kl_matches_numpy():
    a = np.random.default_rng(1).uniform(0.01, 0.99, size=(50, 8)).astype("float32")
    rho, beta = 0.1, 2.5
    rho_hat = a.mean(axis=0)
    expected = beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    np.testing.assert_allclose(float(KLSparsity(rho, beta)(a)), expected, rtol=1e-5)


def test_kl_is_zero_at_target():
    a = np.full((4, 3), 0.2, dtype="float32")
    assert abs(float(KLSparsity(0.2, 1.0)(a))) < 1e-6


@pytest.mark.parametrize("reg", [L1Activity(0.01), KLSparsity(0.05, 3.0)])
def test_serializable(reg):
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert type(restored) is type(reg) and restored.get_config() == reg.get_config()
