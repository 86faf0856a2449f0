"""Image files: listing a folder, inferring its shape, and decoding one image, the same way in memory and streamed.

The shape rule of image folders (:func:`plan_images`, documented in ``docs/training.md``):

- **size**: without an explicit ``(height, width)`` every image must have the same size,
  which becomes the shape; a folder of mixed sizes is refused with the sizes found.
  With an explicit size, images of another size are resized (bilinear) and counted.
- **channels**: without an explicit colour, a folder is ``gray`` (1 channel) when every
  image is grayscale, else ``rgb`` (3). Images stored otherwise (RGBA, palette,
  grayscale + alpha, 16-bit, CMYK...) are converted to that colour (alpha dropped) and counted.

What was converted comes back as notes (``"converted 12 RGBA images to RGB"``,
``"resized 3 to 32x32"``) that the callers record and print.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.utils.inputs import PIXEL_MAX

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
#: ``--color`` choices: PIL mode and number of channels.
COLORS = {"gray": ("L", 1), "rgb": ("RGB", 3)}
#: PIL modes read as grayscale when no colour is asked for; every other mode is colour.
_GRAY_MODES = ("L", "LA", "1", "I", "I;16", "I;16B", "I;16L", "F")
#: Names of PIL modes in conversion notes.
_MODE_NAMES = {"L": "grayscale", "LA": "grayscale + alpha", "1": "1-bit", "P": "palette", "PA": "palette + alpha",
               "I": "32-bit grayscale", "I;16": "16-bit grayscale", "F": "float grayscale"}


def magic(path: Path, n: int) -> bytes:
    with path.open("rb") as f:
        return f.read(n)


def scale_pixels(x):
    """The one pixel scaling rule: integer pixels (0..255) become float32 ``x / 255``; floats pass as float32.

    Takes a numpy array or a ``tf.Tensor`` (inside ``tf.data`` pipelines) and returns the same kind.
    The range of integer data is checked where data enter a model
    (:func:`zoo.utils.inputs.as_model_input`); this function only applies the rule.

    Example:
        >>> scale_pixels(np.array([0, 51, 255], np.uint8))
        array([0. , 0.2, 1. ], dtype=float32)
    """
    if hasattr(getattr(x, "dtype", None), "is_integer"):  # a tf.Tensor (eager, or symbolic in a tf.data map)
        import tensorflow as tf

        return tf.cast(x, tf.float32) / PIXEL_MAX if x.dtype.is_integer else tf.cast(x, tf.float32)
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32) / np.float32(PIXEL_MAX)
    return x.astype(np.float32, copy=False)


def image_read_options(shape) -> tuple[tuple[int, int] | None, str | None]:
    """``(image_size, color)`` that read an image folder at a model's per-example ``shape``: ``(H, W, 1|3)``
    gives its size and colour, anything else (a flat shape, free sizes) leaves both to be inferred."""
    if shape is None or len(shape) != 3 or None in tuple(shape) or shape[2] not in (1, 3):
        return None, None
    return (int(shape[0]), int(shape[1])), "gray" if shape[2] == 1 else "rgb"


def list_images(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (searched recursively), sorted by path."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _broken(path, err: BaseException) -> ValueError:
    return ValueError(f"Cannot read image {path}: {' '.join(str(err).split()) or type(err).__name__}. "
                      + "Remove or replace the file.")


@dataclass(frozen=True)
class ImagePlan:
    """How a folder's images are read: one size and colour for all, and what that converts.

    Attributes:
        size: ``(height, width)`` every image is read at.
        color: ``"gray"`` or ``"rgb"``.
        notes: What reading converts, e.g. ``("converted 12 RGBA images to RGB", "resized 3 to 32x32")``.
    """

    size: tuple[int, int]
    color: str
    notes: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, COLORS[self.color][1])

    @property
    def grayscale(self) -> bool:
        return self.color == "gray"


def _headers(files: list[Path]) -> list[tuple[tuple[int, int], str]]:
    """``((height, width), PIL mode)`` of each image, from its header (no pixels decoded)."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for path in files:
        try:
            with Image.open(path) as img:
                out.append(((img.height, img.width), img.mode))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise _broken(path, err) from None
    return out


def _sizes(counts: Counter) -> str:
    return ", ".join(f"{h}x{w} ({n})" for (h, w), n in counts.most_common())


def plan_images(files: list[Path], size: tuple[int, int] | None = None, color: str | None = None,
                where: str | os.PathLike = "the folder") -> ImagePlan:
    """The shape a folder of images is read at (the rule of the module docstring), from the images' headers.

    Args:
        files: The images (already listed, non-empty).
        size: ``(height, width)`` to resize every image to; None infers it (all images must agree).
        color: ``"gray"`` or ``"rgb"`` to convert every image to; None infers it.
        where: The folder, named in messages.

    Returns:
        An :class:`ImagePlan`.

    Raises:
        ValueError: Images of several sizes without ``size`` (listing the sizes and counts),
            an unknown ``color``, or an unreadable image (named).
    """
    if color is not None and color not in COLORS:
        raise ValueError(f"`color` must be one of {sorted(COLORS)}. Received: color={color!r}")
    headers = _headers(files)
    found = Counter(s for s, _ in headers)
    if size is None:
        if len(found) > 1:
            raise ValueError(f"{where} holds images of {len(found)} sizes (height x width: {_sizes(found)}); "
                             + "give one size to resize them all to (--input-shape H,W[,C], API image_size=(H, W)).")
        size = next(iter(found))
    size = (int(size[0]), int(size[1]))
    modes = Counter(m for _, m in headers)
    if color is None:
        color = "gray" if all(m in _GRAY_MODES for m in modes) else "rgb"
    target = COLORS[color][0]
    notes = [f"converted {n} {_MODE_NAMES.get(m, m)} image{'s' * (n > 1)} to {'gray' if color == 'gray' else 'RGB'}"
             + (" (alpha dropped)" if "A" in m else "")
             for m, n in sorted(modes.items()) if m != target]
    resized = sum(n for s, n in found.items() if s != size)
    if resized:
        notes.append(f"resized {resized} of {len(files)} to {size[0]}x{size[1]}")
    return ImagePlan(size, color, tuple(notes))


#: PIL modes of integer pixels wider than 8 bits, which ``Image.convert`` clamps at 255 instead of scaling.
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _eight_bit(img):
    """A 16-bit (or 32-bit integer) grayscale image scaled to 8 bits: ``round(v * 255 / 65535)``.

    PIL's ``convert("L")`` clamps such pixels at 255, which turns every pixel above 255 of a 16-bit
    image white. A mode ``"I"`` image whose pixels all lie in 0..255 is left as it is.
    """
    from PIL import Image

    if img.mode not in _WIDE_MODES:
        return img
    pixels = np.asarray(img, dtype=np.float64)
    if img.mode == "I" and pixels.max(initial=0) <= 255:
        return img
    top = 65535.0 if img.mode != "I" or pixels.max(initial=0) <= 65535 else float(pixels.max())
    return Image.fromarray(np.clip(np.round(pixels * (255.0 / top)), 0, 255).astype(np.uint8), "L")


def read_image(path: str | os.PathLike, size: tuple[int, int], grayscale: bool) -> np.ndarray:
    """One image as uint8 ``(h, w, 1)`` (grayscale) or ``(h, w, 3)``, resized to ``size``; a broken one is named.

    The one decoder of image folders, in memory and streamed alike, so both give the same pixels.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = _eight_bit(img).convert("L" if grayscale else "RGB")
            if img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            pixels = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise _broken(path, err) from None
    return pixels[..., None] if grayscale else pixels


def read_images(files: list[Path], plan: ImagePlan) -> np.ndarray:
    """The images of ``files`` (already listed, non-empty) read as ``plan`` says, each on its own so a broken one is named."""
    return np.stack([read_image(path, plan.size, plan.grayscale) for path in files])
