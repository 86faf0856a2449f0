"""Pictures are written and show what they claim (rows of the right images)."""

import numpy as np
from PIL import Image

from tests.helpers import blob_images, tiny_model
from zoo.evaluation.plots import latent_scatter, reconstruction_grid


def test_reconstruction_grid_rows(tmp_path):
    x = blob_images(6)
    plain = Image.open(reconstruction_grid(tiny_model("ae_dense"), x, tmp_path / "a.png", n=6))
    noisy = Image.open(reconstruction_grid(tiny_model("denoising_dense"), x, tmp_path / "b.png", n=6))
    assert plain.size[0] == noisy.size[0]
    assert noisy.size[1] > plain.size[1]  # the denoising grid has an extra row of noisy inputs


def test_latent_scatter_writes_a_png(tmp_path):
    path = latent_scatter(tiny_model("vae_dense"), blob_images(40), np.arange(40) % 3, tmp_path / "z.png")
    assert Image.open(path).format == "PNG"
