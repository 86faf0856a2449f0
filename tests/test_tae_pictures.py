"""Pictures of the Tiny AutoEncoders (zoo.evaluation.tae_pictures) and ``aezoo reconstruct``: figures, sizes, one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

import zoo
from aezoo.cli import main
from zoo.evaluation.tae_pictures import (
    as_rgb_image,
    latent_figure,
    latent_mosaic,
    latent_pca_rgb,
    reconstruct_image,
    reconstruction_figure,
)
from zoo.families.tae import scale_latents

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def tiny_tae():
    return zoo.create_model("tae", latent_dim=4)


def _png_size(path) -> tuple[int, int]:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return img.size


def test_figures_take_images_of_different_sizes_and_report_psnr(tiny_tae, tmp_path):
    images = [RNG.random((16, 24, 3)).astype(np.float32), (RNG.random((17, 9, 3)) * 255).astype(np.uint8)]
    result = reconstruction_figure(tiny_tae, images, tmp_path / "grid.png", names=["a", "b"], pad=True)
    assert set(result["psnr_db"]) == {"a", "b"} and all(np.isfinite(v) for v in result["psnr_db"].values())
    assert _png_size(result["path"])[0] > 100
    result = latent_figure(tiny_tae, images, tmp_path / "latents.png", names=["a", "b"], pad=True)
    assert result["latent_shape"] == {"a": (2, 3, 4), "b": (3, 2, 4)}  # b padded to 24x16


def test_padding_is_explicit_and_the_reconstruction_is_cropped_back(tiny_tae):
    image = RNG.random((17, 23, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"multiples of 8\. Received: 17x23; crop to 16x16 or pad to 24x24"):
        reconstruct_image(tiny_tae, image)
    latents, recon = reconstruct_image(tiny_tae, image, pad=True)
    assert latents.shape == (3, 3, 4) and recon.shape == image.shape


def test_latent_pictures_are_deterministic_and_the_mosaic_holds_the_8_bit_latents():
    z = RNG.normal(0, 1.5, (5, 7, 32)).astype(np.float32)
    rgb = latent_pca_rgb(z)
    assert rgb.shape == (5, 7, 3) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_array_equal(rgb, latent_pca_rgb(z.copy()))
    np.testing.assert_allclose(latent_pca_rgb(z), latent_pca_rgb(z * 2 + 1), atol=1e-6)  # scale-free colours
    mosaic = latent_mosaic(z)
    assert mosaic.dtype == np.uint8 and mosaic.shape == (6 * 6 - 1, 6 * 8 - 1)  # 6x6 tiles of 5x7, 1-px gaps
    np.testing.assert_array_equal(mosaic[6:11, 8:15], np.round(scale_latents(z[..., 7]) * 255).astype(np.uint8))


@pytest.mark.parametrize("image, message", [
    (np.zeros((8, 8, 4), np.uint8), "Received: RGBA"),
    (np.zeros((8, 8), np.uint8), "Received: grayscale"),
    (np.full((8, 8, 3), 255.0, np.float32), r"must lie in \[0, 1\]\. Received range \[255, 255\].*0\.\.255"),
    (np.full((8, 8, 3), -0.5, np.float32), r"must lie in \[0, 1\]"),
    (np.zeros((8, 8, 3), np.int16), "dtype=int16"),
])
def test_bad_images_are_refused_saying_what_was_received(image, message):
    with pytest.raises(ValueError, match=message):
        as_rgb_image(image, "x")


# --- aezoo reconstruct --------------------------------------------------------------------------------------------


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["reconstruct", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    pixels = (RNG.random((16, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "rgb.png")
    Image.fromarray(np.dstack([pixels, np.full((16, 24), 255, np.uint8)])).save(folder / "rgba.png")
    Image.fromarray(pixels[..., 0]).save(folder / "gray.png")
    Image.fromarray(pixels[:13]).save(folder / "odd.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    np.save(folder / "bright.npy", pixels.astype(np.float32))
    return folder


@pytest.mark.parametrize("name, message", [
    ("rgba.png", re.escape("rgba.png: expected an RGB image. Received: RGBA (PIL mode RGBA); pass --convert-rgb")),
    ("gray.png", re.escape("gray.png: expected an RGB image. Received: grayscale (PIL mode L); pass --convert-rgb")),
    ("broken.png", "Cannot read image .*broken.png"),
    ("bright.npy", r"bright: float images must lie in \[0, 1\]\. Received range \[0, 25\d\]"),
    ("missing.png", "missing.png does not exist"),
])
def test_cli_refuses_bad_inputs_in_one_line_before_loading_a_model(capsys, photos, tmp_path, name, message):
    code, _out, err = _run(capsys, "tae.flux2", "--input", str(photos / name), "--output", str(tmp_path / "g.png"))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("aezoo: error: "), err
    assert re.search(message, err), err


@pytest.mark.slow
def test_cli_draws_both_figures_pads_only_when_asked_and_converts_only_when_asked(capsys, photos, tmp_path):
    grid, latents = tmp_path / "grid.png", tmp_path / "latents.png"
    code, _out, err = _run(capsys, "tae.flux2", "--input", str(photos / "odd.png"), "--output", str(grid))
    assert code == 1
    assert "odd.png: tae.flux2 takes heights and widths that are multiples of 8. Received: 13x24; pass --pad" in err
    code, out, err = _run(capsys, "tae.flux2", "--input", str(photos / "odd.png"), "--output", str(grid),
                          "--latents", str(latents), "--pad")
    assert code == 0, err
    assert "odd.png: PSNR" in out and "odd.png: latents 2x3x32" in out
    assert _png_size(grid)[0] > 100 and _png_size(latents)[0] > 100
    code, out, err = _run(capsys, "tae.flux2", "--input", str(photos / "rgba.png"), "--latents", str(latents),
                          "--convert-rgb")
    assert code == 0 and "rgba.png: latents 2x3x32" in out, err
    code, _out, err = _run(capsys, "tae_f32.sana", "--input", str(photos / "rgb.png"), "--output", str(grid), "--pad")
    assert code == 1 and "has no decoder weights" in err
