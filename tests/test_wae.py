"""WAE-MMD: the penalty against an independent numpy MMD, and the family end to end."""

import keras
import numpy as np
import pytest
from keras import ops

import zoo
from tests.helpers import blob_images, tiny_model
from zoo.evaluation.evaluate import evaluate
from zoo.families.wae import IMQ_SCALES, MMDPenalty, mmd_imq


def mmd_reference(z: np.ndarray, p: np.ndarray, sigma: float = 1.0) -> float:
    """Unbiased MMD² with summed IMQ kernels, by broadcasting differences (float64)."""
    n, d = z.shape
    total = 0.0
    for s in IMQ_SCALES:
        c = 2 * d * sigma**2 * s

        def gram(a, b, c=c):
            return c / (c + ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

        kzz, kpp, kzp = gram(z, z), gram(p, p), gram(z, p)
        total += (kzz.sum() - np.trace(kzz)) / (n * (n - 1)) + (kpp.sum() - np.trace(kpp)) / (n * (n - 1))
        total -= 2 * kzp.mean()
    return total


@pytest.mark.parametrize("sigma", [1.0, 2.5])
def test_mmd_matches_numpy_reference(sigma):
    rng = np.random.default_rng(0)
    z = rng.normal(0.3, 1.2, size=(17, 5))
    p = sigma * rng.normal(size=(17, 5))
    got = float(ops.convert_to_numpy(mmd_imq(z, p, sigma)))
    np.testing.assert_allclose(got, mmd_reference(z, p, sigma), rtol=1e-9)


def test_mmd_is_near_zero_for_the_prior_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    p = rng.normal(size=(400, 4))
    same = float(ops.convert_to_numpy(mmd_imq(rng.normal(size=(400, 4)), p)))
    shifted = float(ops.convert_to_numpy(mmd_imq(rng.normal(size=(400, 4)) + 1.0, p)))
    assert abs(same) < 0.01 and shifted > 20 * abs(same)


def test_head_adds_lam_times_mmd_against_its_seeded_prior_samples():
    z = np.random.default_rng(2).normal(size=(12, 3)).astype("float32")
    head = MMDPenalty(lam=2.0, prior_stddev=1.5, seed=3)
    out = head(z)
    np.testing.assert_array_equal(ops.convert_to_numpy(out), z)  # the code passes unchanged
    prior = keras.random.normal((12, 3), stddev=1.5, seed=keras.random.SeedGenerator(3))
    want = 2.0 * mmd_reference(z.astype("float64"), ops.convert_to_numpy(prior).astype("float64"), 1.5)
    np.testing.assert_allclose(float(ops.convert_to_numpy(head.losses[0])), want, rtol=1e-4)


@pytest.mark.slow
def test_model_loss_is_reconstruction_plus_the_mmd_penalty():
    model = tiny_model("wae_dense", lam=0.0)
    model.compile("adam")
    logs = model.evaluate(blob_images(8), verbose=0, return_dict=True)
    assert logs["penalty"] == 0.0
    model = tiny_model("wae_dense", lam=5.0)
    model.compile("adam")
    logs = model.evaluate(blob_images(8), verbose=0, return_dict=True)
    assert logs["penalty"] > 0
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + logs["penalty"], rtol=1e-5)


def test_evaluation_reports_the_mmd_to_the_prior():
    model = zoo.create_model("wae_dense", latent_dim=4, hidden_units=(16,), seed=0)
    metrics = evaluate(model, "sample:mnist")
    assert {"bce", "mse", "psnr", "mmd_to_prior", "code_std_mean"} <= set(metrics)
    assert "MMD² to prior" in model.summarize_metrics(metrics)
    assert "unit_mean_activations" not in metrics  # not reported as sparsity


@pytest.mark.parametrize("bad", [{"lam": -1.0}, {"prior_stddev": 0.0}])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        tiny_model("wae_conv", **bad)
