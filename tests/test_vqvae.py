"""VQ-VAE: the quantiser against numpy references, the model's codes, parts and sampling, every backend."""

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from tests.helpers import blob_images, tiny_model
from tests.vqvae_backend import BETA, CHECKS, D, K, case, head_with
from zoo.data import datasets as zdata
from zoo.evaluation.evaluate import evaluate
from zoo.families.vqvae import VQVAE
from zoo.models.quantize import CodebookView, VectorQuantizer, code_vectors, codebook_statistics, nearest_code

ROOT = Path(__file__).resolve().parents[1]


def test_nearest_code_matches_numpy_nearest_neighbour():
    rng = np.random.default_rng(0)
    x, codebook = rng.normal(size=(5, 4, 3, 8)), rng.normal(size=(37, 8))
    want = np.linalg.norm(x[..., None, :] - codebook, axis=-1).argmin(-1)  # explicit distances, float64
    got = ops.convert_to_numpy(nearest_code(x.astype("float32"), codebook.astype("float32")))
    assert got.dtype == np.int32 and got.shape == (5, 4, 3)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ops.convert_to_numpy(code_vectors(got, codebook.astype("float32"))),
                                  codebook.astype("float32")[want])


@pytest.mark.parametrize("ema", [False, True])
def test_head_returns_nearest_codes_and_adds_codebook_and_commitment_losses(ema):
    x, codebook, indices = case(0)
    head = head_with(codebook, ema=ema)
    q = codebook.astype(np.float64)[indices]
    sq = np.mean((x - q) ** 2)
    for training in (False, True):
        out = ops.convert_to_numpy(head(x, training=training))
        np.testing.assert_allclose(out, q, atol=1e-6)
        # The codebook loss and the commitment loss have the same value; EMA replaces the first.
        loss = float(ops.convert_to_numpy(head.losses[0]))
        np.testing.assert_allclose(loss, (BETA if ema else 1 + BETA) * sq, rtol=1e-5)
        head = head_with(codebook, ema=ema)  # the training call moved an EMA codebook


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_quantiser_checks_on_tensorflow(check):
    # Straight-through gradient and the loss gradients by hand, one EMA step and a dead-code restart
    # against numpy, seeded sampling (tests/vqvae_backend.py); the other backends below.
    assert CHECKS[check]() == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_quantiser_checks_on_other_backends(backend, tmp_path):
    if find_spec(backend) is None:
        pytest.fail(f"{backend} is not installed; `make install` installs every backend")
    out = tmp_path / "checks.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.vqvae_backend", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report.pop("backend") == backend
    assert report == dict.fromkeys(CHECKS, "ok")


def test_codebook_statistics_closed_forms():
    uniform = np.tile(np.arange(4), 25)  # 4 of 8 codes, equally often
    stats = codebook_statistics(uniform, 8)
    assert stats["codebook_perplexity"] == pytest.approx(4.0, rel=1e-12)
    assert (stats["codebook_usage"], stats["dead_codes"], stats["codebook_size"]) == (0.5, 4, 8)
    skewed = np.array([0] * 3 + [5])  # p = (3/4, 1/4): perplexity 4 / 3^(3/4)
    assert codebook_statistics(skewed, 6)["codebook_perplexity"] == pytest.approx(4 / 3**0.75, rel=1e-12)


def test_model_codes_parts_and_decoding_agree():
    model = tiny_model("vqvae_conv", codebook_size=16)
    x = blob_images(6)
    assert isinstance(model, VQVAE) and model.grid_shape == (4, 4) and model.latent_dim == 4
    assert model.code_bits == 16 * 4
    vectors, indices = model.encode(x), model.encode(x, output="indices")
    assert indices.dtype == np.int32 and indices.shape == (6, 4, 4)
    codebook = ops.convert_to_numpy(model.head.codebook)
    np.testing.assert_array_equal(vectors, codebook[indices])
    z_e = model.encoder_network.predict(x, verbose=0)
    np.testing.assert_array_equal(indices, np.linalg.norm(z_e[..., None, :] - codebook, axis=-1).argmin(-1))
    reconstruction = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.decode_indices(indices), reconstruction, atol=1e-6)
    np.testing.assert_allclose(model.decode(vectors), reconstruction, atol=1e-6)
    for part in VQVAE.PARTS:
        assert isinstance(model.get_part(part), keras.Model)
    np.testing.assert_array_equal(model.get_part("encoder_indices").predict(x, verbose=0), indices)
    # Both views read the head's codebook: a new codebook changes them.
    model.head.codebook.assign(codebook[::-1])
    np.testing.assert_array_equal(model.encode(x), codebook[::-1][model.encode(x, output="indices")])


def test_model_loss_is_reconstruction_plus_the_commitment_loss():
    model = tiny_model("vqvae_conv", codebook_size=16, beta=0.5)
    model.compile("adam")
    x = blob_images(8)
    logs = model.evaluate(x, verbose=0, return_dict=True)
    z_e = model.encoder_network.predict(x, verbose=0)
    q = model.encode(x)
    np.testing.assert_allclose(logs["penalty"], 0.5 * np.mean((z_e - q) ** 2), rtol=1e-4)
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + logs["penalty"], rtol=1e-5)


def test_training_moves_the_ema_codebook_only_in_training():
    model = tiny_model("vqvae_conv", codebook_size=16)
    model.compile(keras.optimizers.Adam(1e-3))
    x = blob_images(16)
    before = ops.convert_to_numpy(model.head.codebook).copy()
    model.predict(x, verbose=0)
    model.evaluate(x, verbose=0)
    np.testing.assert_array_equal(ops.convert_to_numpy(model.head.codebook), before)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(ops.convert_to_numpy(model.head.codebook), before)
    assert not model.head.codebook.trainable and model.head.cluster_size.trainable is False


def test_evaluation_reports_codebook_usage():
    model = tiny_model("vqvae_conv", input_shape=(28, 28, 1), codebook_size=16)
    metrics = evaluate(model, "sample:mnist")
    assert {"bce", "psnr", "codebook_perplexity", "codebook_usage", "dead_codes"} <= set(metrics)
    indices = model.encode(zdata.to_unit_range(zdata.load_sample("mnist")[0]), output="indices")
    assert metrics == {**metrics, **codebook_statistics(indices, 16)}
    assert "codebook perplexity" in model.summarize_metrics(metrics)


def test_keras_round_trip_keeps_codebook_counts_and_parts(tmp_path):
    model = tiny_model("vqvae_dense", codebook_size=16)
    model.compile("adam")
    x = blob_images(16)
    model.fit(x, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded) is VQVAE and isinstance(loaded.head, VectorQuantizer)
    np.testing.assert_array_equal(loaded.encode(x, output="indices"), model.encode(x, output="indices"))
    np.testing.assert_array_equal(loaded.head.prior(), model.head.prior())
    np.testing.assert_array_equal(loaded.sample(2, seed=0, prior="uniform"),
                                  model.sample(2, seed=0, prior="uniform"))


def test_codebook_view_round_trips_alone(tmp_path):
    model = tiny_model("vqvae_conv", codebook_size=16)
    part = model.get_part("encoder_indices")
    part.save(tmp_path / "p.keras")
    loaded = keras.models.load_model(tmp_path / "p.keras")
    x = blob_images(4)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), part.predict(x, verbose=0))
    assert any(isinstance(layer, CodebookView) for layer in loaded.layers)


def test_empirical_prior_follows_the_moving_counts():
    model = tiny_model("vqvae_conv", codebook_size=4)
    model.head.cluster_size.assign(np.array([0.0, 3.0, 0.0, 1.0], np.float32))
    indices = np.random.default_rng(5).choice(4, size=(400, 4, 4), p=[0, 0.75, 0, 0.25])
    samples = model.sample(400, seed=5)
    np.testing.assert_allclose(samples, model.decode_indices(indices), atol=1e-6)
    # The head's prior codes (what a generic sampler decodes) are the same draws' code vectors.
    codes = model.head.prior_codes(400, model.code_shape, np.random.default_rng(5))
    np.testing.assert_allclose(model.decode(codes), samples, atol=1e-6)
    assert set(np.unique(model.encode(samples, output="indices"))) <= {0, 1, 2, 3}


@pytest.mark.parametrize(("call", "match"), [
    (lambda m: m.decode_indices(np.full((2, 4, 4), 16)), r"0\.\.15.*max=16"),
    (lambda m: m.decode_indices(np.zeros((2, 4, 4), np.float32)), "integer indices"),
    (lambda m: m.decode_indices(np.zeros((2, 16), np.int32)), r"\(batch, 4, 4\).*\(2, 16\)"),
    (lambda m: m.encode(blob_images(2), output="logits"), "output"),
    (lambda m: m.sample(0), "n"),
    (lambda m: m.sample(2, prior="pixelcnn"), "prior"),
    (lambda m: m.get_part("codebook"), "part"),
])
def test_bad_calls_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call(tiny_model("vqvae_conv", codebook_size=16))


@pytest.mark.parametrize("bad", [{"codebook_size": 1}, {"beta": -1.0}, {"decay": 1.0}, {"epsilon": 0.0},
                                 {"restart_threshold": -1.0}, {"ema": "yes"}])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        tiny_model("vqvae_conv", **bad)


def test_a_codebook_of_another_size_is_refused():
    head = VectorQuantizer(8, embedding_dim=D + 1)
    with pytest.raises(ValueError, match="embedding_dim"):
        head(np.zeros((1, 2, 2, D), np.float32))
    assert K and VectorQuantizer.from_config(head.get_config()).embedding_dim == D + 1
