"""Image files: listing a folder and decoding one image, the same way in memory and streamed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def magic(path: Path, n: int) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def list_images(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (searched recursively), sorted by path."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_image(path: str | os.PathLike, size: tuple[int, int], grayscale: bool) -> np.ndarray:
    """One image as uint8 ``(h, w, 1)`` (grayscale) or ``(h, w, 3)``, resized to ``size``; a broken one is named.

    The one decoder of image folders, in memory and streamed alike, so both give the same pixels.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("L" if grayscale else "RGB")
            if img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            pixels = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"Cannot read image {path}: {' '.join(str(err).split()) or type(err).__name__}. "
                         + "Remove or replace the file.") from None
    return pixels[..., None] if grayscale else pixels


def read_images(files: list[Path], image_size: tuple[int, int] | None, grayscale: bool) -> np.ndarray:
    """The images of ``files`` (already listed, non-empty), each read on its own so a broken one is named."""
    size = tuple(image_size or (28, 28))
    return np.stack([read_image(path, size, grayscale) for path in files])
