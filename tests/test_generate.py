"""Sampling from the prior, walks between codes, and the pictures of both."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from tests.helpers import blob_images, tiny_model
from zoo.evaluation.generate import (
    interpolate,
    interpolation_strip,
    latent_map,
    latent_path,
    sample_grid,
    tile,
)

ROOT = Path(__file__).resolve().parents[1]
GENERATIVE = ["vae_dense", "iwae_conv", "wae_dense"]


@pytest.mark.parametrize("name", GENERATIVE)
def test_sample_decodes_seeded_prior_draws(name):
    model = tiny_model(name)
    a = model.sample(6, seed=3)
    assert a.shape == (6, *model.data_shape) and a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, model.sample(6, seed=3))
    assert not np.allclose(a, model.sample(6, seed=4))
    stddev = getattr(model.head, "prior_stddev", 1.0)
    codes = stddev * np.random.default_rng(3).standard_normal((6, model.latent_dim))
    np.testing.assert_allclose(a, model.decode(codes.astype("float32")), atol=1e-6)
    assert model.sample(2).shape == (2, *model.data_shape)  # no seed: fresh draws


def test_wae_samples_from_its_own_prior_scale():
    model = tiny_model("wae_dense", prior_stddev=2.5)
    codes = 2.5 * np.random.default_rng(0).standard_normal((4, model.latent_dim))
    np.testing.assert_allclose(model.sample(4, seed=0), model.decode(codes.astype("float32")), atol=1e-6)


@pytest.mark.parametrize("name", ["ae_dense", "sparse_kl_dense", "denoising_conv", "contractive_dense"])
def test_non_generative_families_refuse_to_sample(name):
    with pytest.raises(ValueError, match=f"{name} is not generative.*vae_"):
        tiny_model(name).sample(4, seed=0)


def test_sample_refuses_a_bad_count():
    with pytest.raises(ValueError, match="n"):
        tiny_model("vae_dense").sample(0)


def test_linear_and_slerp_paths():
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=5), rng.normal(size=5)
    line = latent_path(z0, z1, 5, "linear")
    np.testing.assert_allclose(line[2], (z0 + z1) / 2, rtol=1e-6)
    z1 = z1 / np.linalg.norm(z1) * np.linalg.norm(z0)  # equal norms: slerp stays on the sphere
    arc = latent_path(z0, z1, 7, "slerp").astype(np.float64)
    np.testing.assert_allclose(arc[[0, -1]], [z0, z1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(arc, axis=1), np.linalg.norm(z0), rtol=1e-6)
    cos = np.sum(arc[:-1] * arc[1:], axis=1) / np.linalg.norm(z0) ** 2
    np.testing.assert_allclose(cos, cos[0], rtol=1e-6)  # constant angular steps
    np.testing.assert_allclose(latent_path(z0, 2 * z0, 3, "slerp")[1], 1.5 * z0, rtol=1e-6)  # parallel: the line


@pytest.mark.parametrize("kwargs, match", [({"steps": 1}, "steps >= 2"), ({"path": "spline"}, "path")])
def test_bad_walks_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        latent_path(np.zeros(2), np.ones(2), **{"steps": 4, **kwargs})


@pytest.mark.parametrize("path", ["linear", "slerp"])
def test_interpolate_decodes_the_walk_between_the_codes(path):
    model = tiny_model("vae_dense")
    x = blob_images(4)
    strip = zoo.interpolate(model, x[0], x[1], steps=5, path=path)
    assert strip.shape == (5, *model.data_shape)
    za, zb = model.encode(x[:2])
    np.testing.assert_allclose(strip, model.decode(latent_path(za, zb, 5, path)), atol=1e-6)
    np.testing.assert_allclose(strip[0], model.predict(x[:1], verbose=0)[0], atol=1e-5)
    batch = interpolate(model, x[:2], x[2:], steps=3)
    assert batch.shape == (2, 3, *model.data_shape)
    np.testing.assert_allclose(batch[0], zoo.interpolate(model, x[0], x[2], steps=3), atol=1e-6)
    with pytest.raises(ValueError, match="as many examples"):
        interpolate(model, x[:2], x[:3])


def test_tile_lays_images_out_row_by_row():
    images = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3, 1)
    mosaic = tile(images, cols=2, pad=1)
    assert mosaic.shape == (3 * 3 - 1, 2 * 4 - 1)
    np.testing.assert_array_equal(mosaic[3:5, 4:7], images[3, ..., 0])
    assert np.all(mosaic[6:, 4:] == 1.0) and np.all(mosaic[2] == 1.0)  # empty cell and gap are white


def test_pictures_are_written(tmp_path):
    model = tiny_model("vae_dense", latent_dim=2)
    x = blob_images(4)
    for written in (sample_grid(model, tmp_path / "grid.png", n=9, seed=0, title="samples"),
                    interpolation_strip(model, x[:2], x[2:], tmp_path / "strip.png", steps=4, walk="slerp"),
                    latent_map(model, tmp_path / "map.png", n=5, title="map")):
        assert Path(written).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="2-D code"):
        latent_map(tiny_model("vae_dense"), tmp_path / "no.png")
    with pytest.raises(ValueError, match="no prior"):
        latent_map(tiny_model("ae_dense", latent_dim=2), tmp_path / "no.png")
    latent_map(tiny_model("ae_dense", latent_dim=2), tmp_path / "span.png", n=3, span=2.0)


_SAMPLE_SCRIPT = """
import json, sys
import keras, numpy as np
import zoo.families
zoo.families.load_families()
model = keras.models.load_model(sys.argv[1])
print(json.dumps({"backend": keras.backend.backend(), "a": model.sample(5, seed=9).tolist(),
                  "b": model.sample(5, seed=9).tolist()}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_sampling_is_deterministic_for_a_seed_on_every_backend(backend, tmp_path):
    model = tiny_model("iwae_dense")
    model.save(tmp_path / "m.keras")
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _SAMPLE_SCRIPT, str(tmp_path / "m.keras")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == backend
    np.testing.assert_array_equal(out["a"], out["b"])
    np.testing.assert_allclose(out["a"], model.sample(5, seed=9), atol=1e-5)  # and the TensorFlow draw
