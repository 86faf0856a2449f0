"""Bad input fails early with a message that names what was received and expected."""

import numpy as np
import pytest

import zoo
from tests.helpers import blob_images, tiny_model
from zoo.models.layers import AdditiveGaussianNoise, MaskingNoise, SaltAndPepperNoise
from zoo.models.regularizers import KLSparsity, L1Activity


def test_unknown_model_suggests_close_matches():
    with pytest.raises(ValueError, match="Did you mean: ae_dense"):
        zoo.create_model("ae_dens")


def test_unknown_argument_lists_accepted_ones():
    with pytest.raises(ValueError, match=r"does not take argument\(s\) \['rho'\].*Accepted"):
        zoo.create_model("ae_dense", rho=0.1)


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("ae_dense", {"latent_dim": 0}, "latent_dim=0"),
        ("sparse_kl_dense", {"rho": 1.5}, "rho=1.5"),
        ("sparse_kl_dense", {"rho": 0.0}, "rho=0.0"),
        ("sparse_kl_dense", {"code_activation": "relu"}, "code_activation='relu'"),
        ("sparse_l1_dense", {"l1": -0.1}, "l1=-0.1"),
        ("vae_dense", {"beta": -1.0}, "beta=-1.0"),
        ("sparse_kl_dense", {"beta": -1.0}, "beta=-1.0"),
        ("contractive_dense", {"contractive": -1.0}, "contractive=-1.0"),
        ("denoising_dense", {"noise_level": -0.3}, "noise_level=-0.3"),
        ("denoising_dense", {"noise": "pink"}, "noise='pink'"),
        ("ae_conv", {"input_shape": (30, 30, 1)}, r"divisible by 4.*\(30, 30, 1\)"),
        ("ae_conv", {"input_shape": (784,)}, r"image inputs.*\(784,\)"),
        ("ae_dense", {"input_shape": (1, 2, 3, 4)}, "input_shape"),
        ("ae_dense", {"hidden_units": (64, 0)}, "hidden_units"),
    ],
)
def test_invalid_hyperparameters(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.create_model(name, **kwargs)


def test_wrong_data_shapes_name_the_expected_shape():
    model = tiny_model("ae_conv")
    model.compile("adam")
    # (2, 16, 16) is now taken (a missing channel axis); same-size data in another layout is refused.
    with pytest.raises(ValueError, match=r"expected data of shape \(batch, 16, 16, 1\).*\(2, 8, 32\).*not reshaped"):
        model.encode(np.zeros((2, 8, 32), "float32"))
    with pytest.raises(ValueError, match=r"fit: expected data of shape \(batch, 16, 16, 1\)"):
        model.fit(np.zeros((2, 28, 28, 1), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"decode: expected data of shape \(batch, 4\)"):
        model.decode(np.zeros((2, 5), "float32"))


def test_nan_data_is_rejected_before_training():
    model = tiny_model("ae_dense")
    model.compile("adam")
    x = blob_images(4)
    x[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(x, verbose=0)


def test_dataset_with_wrong_shape_is_rejected():
    import tensorflow as tf

    model = tiny_model("ae_dense")
    model.compile("adam")
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 8, 8, 1), "float32")).batch(2)
    with pytest.raises(ValueError, match=r"\(batch, 16, 16, 1\)"):
        model.fit(ds, verbose=0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: AdditiveGaussianNoise(-0.1), "stddev=-0.1"),
        (lambda: MaskingNoise(1.5), "rate=1.5"),
        (lambda: SaltAndPepperNoise(-0.2), "rate=-0.2"),
        (lambda: SaltAndPepperNoise(0.1, low=1.0, high=0.0), "low=1.0"),
        (lambda: L1Activity(-1.0), "l1=-1.0"),
        (lambda: KLSparsity(rho=1.5), "rho=1.5"),
        (lambda: KLSparsity(rho=0.0), "rho=0.0"),
        (lambda: KLSparsity(rho=0.1, beta=-2), "beta=-2"),
    ],
)
def test_invalid_layer_and_regularizer_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
