"""Every registered model: build, shapes, config and .keras round-trips, and training."""

import keras
import numpy as np
import pytest

import zoo
from tests.helpers import blob_images, tiny_model, tiny_shape

MODELS = zoo.list_models()


def test_registry_lists_every_family():
    expected = {"ae_dense", "ae_conv", "linear_dense", "sparse_l1_dense", "sparse_kl_dense",
                "denoising_dense", "denoising_conv", "contractive_dense", "vae_dense", "vae_conv"}
    assert expected <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_forward_shapes(name):
    model = tiny_model(name)
    shape = tiny_shape(name)
    x = blob_images(5, shape)
    assert isinstance(model, zoo.Autoencoder)
    assert isinstance(model.encoder, keras.Model) and isinstance(model.decoder, keras.Model)
    assert tuple(model(x).shape) == (5, *shape)
    z = model.encode(x)
    assert z.shape == (5, *model.code_shape) and np.prod(z.shape[1:]) == np.prod(model.code_shape)
    assert model.code_shape[-1] == 4
    assert model.decode(z).shape == (5, *shape)
    # Inference is deterministic: corruption and sampling are off.
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(model.decode(z), model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_config_round_trip(name):
    model = tiny_model(name)
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    x = blob_images(4, tiny_shape(name))
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_keras_file_round_trip(name, tmp_path):
    model = tiny_model(name)
    x = blob_images(4, tiny_shape(name))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode stays on
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(loaded.encode(x), model.encode(x))


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_training_lowers_loss_without_targets(name):
    model = tiny_model(name)
    x = blob_images(32, tiny_shape(name))
    model.compile(keras.optimizers.Adam(3e-3))
    before = model.evaluate(x, verbose=0, return_dict=True)["loss"]
    model.fit(x, epochs=15, batch_size=32, verbose=0)
    after = model.evaluate(x, verbose=0, return_dict=True)["loss"]
    assert np.isfinite(after) and after < before


def test_reconstruction_loss_matches_numpy_bce():
    model = tiny_model("ae_dense")
    model.compile("adam")
    x = blob_images(8)
    logs = model.evaluate(x, verbose=0, return_dict=True)
    p = np.clip(model.predict(x, verbose=0), 1e-7, 1 - 1e-7)
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).mean()
    np.testing.assert_allclose(logs["loss"], bce, rtol=1e-4)


def test_denoising_target_is_the_clean_input():
    # With 99.9 % masking the corrupted input is ~all zeros, so the training-mode
    # output is a constant c = decoder(encoder(0)). The loss must be BCE(x, c), not BCE(0, c).
    model = tiny_model("denoising_dense", noise="masking", noise_level=0.999)
    model.compile(keras.optimizers.SGD(0.0))
    bias = model.decoder.get_layer("output").bias
    bias.assign(np.full(bias.shape, -2.0, "float32"))  # c ≈ 0.12, so the two targets differ
    x = blob_images(16)
    c = np.clip(model.decoder.predict(model.encoder.predict(np.zeros_like(x), verbose=0), verbose=0),
                1e-7, 1 - 1e-7)
    loss = model.train_on_batch(x, return_dict=True)["loss"]
    clean = -(x * np.log(c) + (1 - x) * np.log(1 - c)).mean()
    noisy = -np.log(1 - c).mean()
    np.testing.assert_allclose(loss, clean, rtol=5e-3)
    assert abs(loss - noisy) > 10 * abs(loss - clean)


def test_sparse_model_adds_its_penalty_to_the_loss():
    model = tiny_model("sparse_l1_dense", l1=0.5)
    model.compile("adam")
    x = blob_images(8)
    logs = model.evaluate(x, verbose=0, return_dict=True)
    codes = model.encode(x)
    np.testing.assert_allclose(logs["penalty"], 0.5 * np.abs(codes).sum() / len(x), rtol=1e-4)
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + logs["penalty"], rtol=1e-5)


def test_vae_encoder_is_the_posterior_mean():
    model = tiny_model("vae_dense")
    x = blob_images(6)
    z_mean, z_log_var = model.encode_distribution(x)
    np.testing.assert_allclose(model.encode(x), z_mean, atol=1e-6)
    assert z_log_var.shape == z_mean.shape
    # The exported encoder graph holds no random op.
    ops = {type(layer).__name__ for layer in model.encoder._flatten_layers()}
    assert "GaussianSampling" not in ops


def test_epoch_logs_add_up_with_a_smaller_last_batch():
    model = tiny_model("sparse_l1_dense", l1=0.1)
    model.compile("adam")
    logs = model.evaluate(blob_images(10), batch_size=4, verbose=0, return_dict=True)  # batches 4, 4, 2
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + logs["penalty"], rtol=1e-5)
