"""``aezoo reconstruct``: pictures of a Tiny AutoEncoder on your photographs (``zoo.evaluation.tae_pictures``).

    aezoo reconstruct tae.flux2 --input photo.jpg --output grid.png
    aezoo reconstruct tae.flux2 --input photos/ --output grid.png --latents latents.png --pad
    aezoo reconstruct tae_f32.sana --input photo.jpg --latents latents.png      # encoder-only entry

``--input`` is an image file, a folder of images (each at its own size) or a ``.npy`` of
one (H, W, 3) image or a batch (N, H, W, 3), uint8 or float in [0, 1]. Only RGB is read:
grayscale, RGBA and palette images are refused, saying what they are, unless
``--convert-rgb`` converts them (alpha is dropped). Sizes the model's down factor does
not divide are refused, naming the sizes that work, unless ``--pad`` pads the bottom
and right edges (the reconstruction is cropped back).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Image files read from a folder or named directly.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: What PIL's modes are, for the message that refuses them.
MODE_NAMES = {"L": "grayscale", "LA": "grayscale + alpha", "RGBA": "RGBA", "P": "palette", "PA": "palette + alpha",
              "1": "1-bit", "CMYK": "CMYK", "I": "32-bit integer grayscale", "I;16": "16-bit grayscale",
              "F": "32-bit float grayscale", "YCbCr": "YCbCr", "LAB": "Lab", "HSV": "HSV"}


def read_rgb(path: str | Path, convert: bool = False) -> np.ndarray:
    """One image file as uint8 (H, W, 3); other modes are refused (or converted with ``convert``).

    Args:
        path: The image file.
        convert: Convert grayscale, RGBA, palette... to RGB (alpha dropped) instead of refusing them.

    Returns:
        The pixels.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode != "RGB":
                if not convert:
                    raise ValueError(f"{path}: expected an RGB image. Received: {MODE_NAMES.get(img.mode, img.mode)} "
                                     + f"(PIL mode {img.mode}); pass --convert-rgb to convert it (alpha is dropped).")
                img = img.convert("RGB")
            return np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"Cannot read image {path}: {' '.join(str(err).split()) or type(err).__name__}.") from None


def _array_to_rgb(array: np.ndarray, convert: bool, name: str) -> np.ndarray:
    """An array image to (H, W, 3): grayscale repeated and alpha dropped only when ``convert``."""
    channels = 1 if array.ndim == 2 else array.shape[-1]
    if array.ndim not in (2, 3) or channels == 3 or not convert:
        return array
    if channels == 1:
        return np.repeat(array.reshape(*array.shape[:2], 1), 3, axis=-1)
    if channels == 4:
        return array[..., :3]
    return array


def read_inputs(source: str, convert: bool = False) -> list[tuple[str, np.ndarray]]:
    """``(name, RGB image in [0, 1])`` pairs from an image file, a folder of images, or a ``.npy`` array.

    Raises:
        ValueError: Unreadable files, wrong channels, floats outside [0, 1], an empty folder (one line each).
    """
    from zoo.evaluation.tae_pictures import as_rgb_image

    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"--input {source} does not exist.")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise ValueError(f"Cannot read {path}: {' '.join(str(err).split())}.") from None
        batch = [array] if array.ndim in (2, 3) else list(array) if array.ndim == 4 else None
        if batch is None:
            raise ValueError(f"{path}: expected one image (H, W, 3) or a batch (N, H, W, 3). Received: shape {array.shape}")
        names = [path.stem] if len(batch) == 1 else [f"{path.stem}[{i}]" for i in range(len(batch))]
        return [(n, as_rgb_image(_array_to_rgb(a, convert, n), n)) for n, a in zip(names, batch, strict=True)]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise ValueError(f"{source} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    else:
        files = [path]
    return [(f.name, as_rgb_image(read_rgb(f, convert), f.name)) for f in files]


def _check_sizes(images: list[tuple[str, np.ndarray]], down: int, pad: bool, model_name: str) -> None:
    if pad:
        return
    for name, image in images:
        h, w = image.shape[:2]
        if h % down or w % down:
            up = (-(-h // down) * down, -(-w // down) * down)
            low = (max(down, h // down * down), max(down, w // down * down))
            raise ValueError(f"{name}: {model_name} takes heights and widths that are multiples of {down}. "
                             + f"Received: {h}x{w}; pass --pad to pad it to {up[0]}x{up[1]} (cropped back after "
                             + f"decoding), or crop it to {low[0]}x{low[1]}.")


def cmd_reconstruct(args: argparse.Namespace) -> int:
    """Draw the reconstruction grid and/or the latent figure of a Tiny AutoEncoder on ``--input``."""
    from zoo.evaluation.tae_pictures import latent_figure, reconstruction_figure
    from zoo.pretrained import load_target

    if not args.output and not args.latents:
        raise ValueError("Nothing to draw: give --output GRID.png, --latents LATENTS.png or both.")
    for option, value in (("--output", args.output), ("--latents", args.latents)):
        if value and Path(value).suffix.lower() != ".png":
            raise ValueError(f"{option} must be a .png path. Received: {value}")
    images = read_inputs(args.input, args.convert_rgb)
    model, _card = load_target(args.model)
    down = getattr(model, "down", None)
    if down is None:
        raise ValueError("aezoo reconstruct draws Tiny AutoEncoders (tae, tae_f32 and their entries). Received: "
                         + f"{args.model} (class {type(model).__name__}).")
    name = getattr(model, "pretrained_name", None) or args.model
    _check_sizes(images, down, args.pad, name)
    names, pixels = [n for n, _ in images], [im for _, im in images]
    for path in (args.output, args.latents):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if args.output:
        result = reconstruction_figure(model, pixels, args.output, names=names, pad=args.pad,
                                       title=args.title or f"{name}: original, reconstruction, error")
        for n in names:
            print(f"{n}: PSNR {result['psnr_db'][n]:.2f} dB, max abs error {result['max_abs_error'][n]:.3f}")
        print(f"wrote {result['path']}")
    if args.latents:
        result = latent_figure(model, pixels, args.latents, names=names, pad=args.pad,
                               title=args.title or f"{name}: latents")
        for n in names:
            low, high = result["latent_range"][n]
            print(f"{n}: latents {'x'.join(map(str, result['latent_shape'][n]))} in [{low:.2f}, {high:.2f}]")
        print(f"wrote {result['path']}")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``reconstruct`` to the ``aezoo`` subparsers."""
    p = sub.add_parser("reconstruct", help="draw a Tiny AutoEncoder's reconstructions, errors and latents as PNGs",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="pretrained entry (tae.flux2, tae_f32.sana), converted folder or .keras file")
    p.add_argument("--input", required=True, help="image file, folder of images, or .npy of (H, W, 3) / (N, H, W, 3)")
    p.add_argument("--output", help="PNG: original | reconstruction | error map, one row per image")
    p.add_argument("--latents", help="PNG: original | latent PCA as RGB | 8-bit latent channels, one row per image")
    p.add_argument("--pad", action="store_true", help="pad sizes the down factor does not divide (edge pixels)")
    p.add_argument("--convert-rgb", action="store_true", help="convert grayscale/RGBA/palette inputs to RGB")
    p.add_argument("--title", help="figure title")
    return {"reconstruct": cmd_reconstruct}
