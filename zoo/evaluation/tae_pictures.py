"""Pictures of a Tiny AutoEncoder on photographs: reconstruction grids and latent visualisations (matplotlib, Agg).

* :func:`reconstruction_figure`: one row per image: original, reconstruction (with its
  PSNR), and the per-pixel absolute error on one colour scale for all rows.
* :func:`latent_figure`: one row per image: original, the first three principal
  components of the latent channels as RGB, and the latents as the 8-bit image the
  original stores (:func:`zoo.families.tae.scale_latents`, channels tiled in a grid).

Images are RGB ``(H, W, 3)``, uint8 or float in [0, 1], of any size; sizes the model's
down factor does not divide are refused with the sizes that would work, or padded
(edge pixels, ``pad=True``) and the reconstruction cropped back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from zoo.families.tae import check_divisible, pad_to_multiple, scale_latents
from zoo.utils.atomic import save_figure


def _figure(rows: int, cols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return plt, fig, axes


def _save(plt, fig, path: str | os.PathLike, dpi: int) -> str:
    fig.tight_layout()
    save_figure(fig, path, dpi=dpi)
    plt.close(fig)
    return str(path)


def as_rgb_image(image, name: str = "image") -> np.ndarray:
    """One RGB image as float32 (H, W, 3) in [0, 1], or a one-line ``ValueError`` saying what was received.

    Args:
        image: uint8 pixels (0..255) or floats in [0, 1], shape (H, W, 3).
        name: What to call the image in messages (its file name).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        got = "grayscale" if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 1) else (
            "RGBA" if image.ndim == 3 and image.shape[-1] == 4 else f"shape {image.shape}")
        raise ValueError(f"{name}: expected an RGB image (height, width, 3). Received: {got} "
                         + f"(shape {image.shape}); convert it to RGB first.")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"{name}: expected uint8 pixels or floats in [0, 1]. Received: dtype={image.dtype}")
    if not np.isfinite(image).all():
        raise ValueError(f"{name}: the image contains NaN or infinite values.")
    low, high = float(image.min()), float(image.max())
    if low < 0.0 or high > 1.0:
        hint = " (it looks like 0..255 pixels: divide by 255 or pass uint8)" if high <= 255 and high > 1.5 else ""
        raise ValueError(f"{name}: float images must lie in [0, 1]. Received range [{low:.4g}, {high:.4g}]{hint}.")
    return image.astype(np.float32)


def _images(images, names: Sequence[str] | None) -> tuple[list[np.ndarray], list[str]]:
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    if len(names) != len(images):
        raise ValueError(f"{len(images)} images but {len(names)} names.")
    return [as_rgb_image(im, n) for im, n in zip(images, names, strict=True)], names


def encode_image(model, image: np.ndarray, pad: bool = False, name: str = "image") -> np.ndarray:
    """Latents (h, w, C) of one RGB image in [0, 1]; ``pad`` pads the bottom and right edges to the down factor."""
    if pad:
        image = pad_to_multiple(image[None], model.down)[0][0]
    check_divisible(image.shape[:2], model.down, name)
    return model.encode(image[None])[0]


def reconstruct_image(model, image: np.ndarray, pad: bool = False, name: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """(latents, reconstruction cropped to the image's size) of one RGB image in [0, 1]."""
    latents = encode_image(model, image, pad, name)
    decoded = model.decode(latents[None])[0]
    return latents, np.clip(decoded[: image.shape[0], : image.shape[1]], 0.0, 1.0)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images in [0, 1] (peak 1)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _needs_decoder(model) -> None:
    parts = getattr(model, "loaded_parts", None)
    if parts is not None and "decoder" not in parts:
        raise ValueError(f"{getattr(model, 'pretrained_name', model.name)} has no decoder weights (loaded parts: "
                         + f"{', '.join(parts)}); draw its latents instead.")


def _row_height(images: list[np.ndarray], width: float) -> list[float]:
    return [width * im.shape[0] / im.shape[1] for im in images]


def reconstruction_figure(model, images, path: str | os.PathLike, names: Sequence[str] | None = None,
                          pad: bool = False, title: str | None = None, panel_width: float = 3.0,
                          dpi: int = 64) -> dict:
    """Save a PNG grid: per image, original | reconstruction (PSNR) | absolute error map.

    Args:
        model: A :class:`zoo.families.tae.TinyAutoencoder` with decoder weights.
        images: RGB images (a list of (H, W, 3), sizes may differ, or a batch array), uint8 or float in [0, 1].
        path: Output PNG path.
        names: Row labels (default "image 0", ...).
        pad: Pad sizes the down factor does not divide (else they are refused).
        title: Figure title.
        panel_width: Width of each panel in inches.
        dpi: Resolution of the PNG.

    Returns:
        ``{"path": str, "psnr_db": {name: value}, "max_abs_error": {name: value}}``.

    Example:
        >>> reconstruction_figure(zoo.load_pretrained("tae.flux2"), [photo], "grid.png", names=["china"])
    """
    _needs_decoder(model)
    images, names = _images(images, names)
    recons = [reconstruct_image(model, im, pad, n)[1] for im, n in zip(images, names, strict=True)]
    errors = [np.abs(r - im).mean(axis=-1) for r, im in zip(recons, images, strict=True)]
    vmax = max(float(np.percentile(e, 99.5)) for e in errors) or 1e-6
    plt, fig, axes = _figure(len(images), 3)
    heights = _row_height(images, panel_width)
    fig.set_size_inches(3 * panel_width + 0.6, sum(heights) + 0.45 * len(images) + (0.4 if title else 0))
    scores, worst = {}, {}
    for row, (image, recon, error, name) in enumerate(zip(images, recons, errors, names, strict=True)):
        scores[name], worst[name] = psnr(recon, image), float(np.abs(recon - image).max())
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(f"{name} ({image.shape[0]}x{image.shape[1]})", fontsize=8)
        axes[row, 1].imshow(recon)
        axes[row, 1].set_title(f"reconstruction, PSNR {scores[name]:.2f} dB", fontsize=8)
        shown = axes[row, 2].imshow(error, cmap="inferno", vmin=0.0, vmax=vmax)
        axes[row, 2].set_title("|error|, mean over RGB", fontsize=8)
        fig.colorbar(shown, ax=axes[row, 2], fraction=0.035, pad=0.02).ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return {"path": _save(plt, fig, path, dpi), "psnr_db": scores, "max_abs_error": worst}


def latent_pca_rgb(latents: np.ndarray) -> np.ndarray:
    """The first three principal components of a latent map's channels as an RGB image in [0, 1].

    Each component is scaled by its 1st..99th percentiles; signs are fixed (largest loading
    positive) so the colours do not flip between runs or backends.

    Args:
        latents: ``(h, w, C)`` with ``C >= 3``.
    """
    h, w, c = latents.shape
    flat = latents.reshape(-1, c).astype(np.float64)
    flat = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat, full_matrices=False)
    components = vt[:3] * np.sign(vt[:3][np.arange(min(3, len(vt))), np.abs(vt[:3]).argmax(axis=1)])[:, None]
    projected = flat @ components.T
    low, high = np.percentile(projected, 1, axis=0), np.percentile(projected, 99, axis=0)
    rgb = np.clip((projected - low) / np.maximum(high - low, 1e-12), 0.0, 1.0)
    if rgb.shape[1] < 3:
        rgb = np.concatenate([rgb, np.zeros((len(rgb), 3 - rgb.shape[1]))], axis=1)
    return rgb.reshape(h, w, 3)


def latent_mosaic(latents: np.ndarray, columns: int | None = None) -> np.ndarray:
    """The 8-bit latent image (``round(scale_latents(z) * 255)``) with its channels tiled in a grid, uint8 (rows*h, cols*w).

    Channels are separated by a one-pixel line of 255.
    """
    h, w, c = latents.shape
    columns = columns or math.ceil(math.sqrt(c))  # a square grid keeps the image's aspect
    rows = math.ceil(c / columns)
    pixels = np.round(scale_latents(latents) * 255).astype(np.uint8)
    mosaic = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), 255, np.uint8)
    for i in range(c):
        r, k = divmod(i, columns)
        mosaic[r * (h + 1): r * (h + 1) + h, k * (w + 1): k * (w + 1) + w] = pixels[..., i]
    return mosaic


def latent_figure(model, images, path: str | os.PathLike, names: Sequence[str] | None = None, pad: bool = False,
                  title: str | None = None, panel_width: float = 3.0, dpi: int = 64) -> dict:
    """Save a PNG: per image, original | latent PCA as RGB | 8-bit latent channels (``scale_latents``).

    Args:
        model: A :class:`zoo.families.tae.TinyAutoencoder` (encoder weights are enough).
        images: RGB images, as for :func:`reconstruction_figure`.
        path: Output PNG path.
        names: Row labels.
        pad: Pad sizes the down factor does not divide (else they are refused).
        title: Figure title.
        panel_width: Width of each panel in inches.
        dpi: Resolution of the PNG.

    Returns:
        ``{"path": str, "latent_shape": {name: (h, w, C)}, "latent_range": {name: (min, max)}}``.
    """
    images, names = _images(images, names)
    latents = [encode_image(model, im, pad, n) for im, n in zip(images, names, strict=True)]
    mosaics = [latent_mosaic(z) for z in latents]
    plt, fig, axes = _figure(len(images), 3)
    heights = [max(panel_width * im.shape[0] / im.shape[1], panel_width * m.shape[0] / m.shape[1])
               for im, m in zip(images, mosaics, strict=True)]
    fig.set_size_inches(3 * panel_width, sum(heights) + 0.45 * len(images) + (0.4 if title else 0))
    shapes, ranges = {}, {}
    for row, (image, z, mosaic, name) in enumerate(zip(images, latents, mosaics, names, strict=True)):
        shapes[name], ranges[name] = tuple(z.shape), (float(z.min()), float(z.max()))
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(f"{name} ({image.shape[0]}x{image.shape[1]})", fontsize=8)
        axes[row, 1].imshow(latent_pca_rgb(z), interpolation="nearest")
        axes[row, 1].set_title(f"latents {z.shape[0]}x{z.shape[1]}x{z.shape[2]}: PCA 1-3 as RGB", fontsize=8)
        axes[row, 2].imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[row, 2].set_title(f"8-bit latents (z/6 + 0.5), {z.shape[2]} channels", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return {"path": _save(plt, fig, path, dpi), "latent_shape": shapes, "latent_range": ranges}

