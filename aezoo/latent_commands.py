"""``aezoo decode``, and ``aezoo encode`` for models of any image size (Tiny AutoEncoders).

Latents come as a ``.npy`` of raw latents ``(n, h, w, C)`` (or ``(h, w, C)``), an
``.npz`` of such arrays, or a folder of 8-bit latent PNGs. A latent PNG holds the
``C`` channels as ``C / k`` tiles side by side, each an image of ``k`` channels
(RGBA: 4, RGB: 3, grayscale: 1), values ``scale_latents(z)`` in 0..255; a
4-channel latent is one RGBA image, as the original TAESD stores them.

Images of a dynamic-size model are encoded one size at a time: a folder of mixed
sizes goes image by image; sizes the down factor does not divide are refused
(naming the sizes that work) unless ``--pad`` pads them at the bottom and right.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.utils.atomic import save_array, save_arrays, save_atomic

#: Runtime value that runs the Keras model itself.
KERAS = "keras"
#: PIL mode -> channels of one tile of a latent PNG.
TILE_MODES = {"L": 1, "RGB": 3, "RGBA": 4}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


@dataclass
class Part:
    """One part of a model, ready to run on a batch of one size.

    Attributes:
        run: numpy batch -> numpy batch.
        input_shape: Per-example input shape (None for dynamic axes).
        down: Spatial down factor of the encoder (1 when unknown).
        runtime: What runs it, for messages.
        name: The model's name, for messages.
    """

    run: Callable[[np.ndarray], np.ndarray]
    input_shape: tuple
    down: int
    runtime: str
    name: str


def open_part(target: str, part: str, runtime: str | None) -> Part:
    """``part`` of a pretrained name / ``.keras`` file (run in Keras, or exported to ``runtime`` and run there)
    or of an exported artifact (its own runtime)."""
    from export import export_model, find_artifact, load_artifact, read_metadata

    path = Path(target)
    if path.exists() and not (path.suffix == ".keras" or (path / "model.keras").exists()):
        fmt, _ = find_artifact(path)
        if runtime not in (None, fmt.name):
            raise ValueError(f"{target} is a {fmt.name} export; it cannot run with --runtime {runtime}.")
        meta = read_metadata(path)
        if meta.get("part") != part:
            raise ValueError(f"{target} is an export of the {meta.get('part')}; aezoo {_verb(part)} needs the {part}.")
        runner = load_artifact(path)
        return Part(runner, tuple(runner.input_shape), int(meta.get("down") or 1), runner.runtime,
                    meta.get("model_name", path.name))
    from export.exporter import resolve_model
    from export.graph import check_loaded

    model, card = resolve_model(target)
    name = card.name if card is not None else path.stem
    check_loaded(model, part)
    down = int(getattr(model, "down", 1))
    if (runtime or KERAS) == KERAS:
        return keras_part(model, part, name)
    with tempfile.TemporaryDirectory(prefix=f"aezoo-{_verb(part)}-") as tmp:
        report = export_model(model, runtime, Path(tmp) / part, part=part, card=card)
        runner = load_artifact(report.path)  # loaded into memory; the files can go
    print(f"exported and validated the {part} in {report.runtime} (max abs err {report.max_abs_error:.2e}); "
          + "the artifact was temporary")
    return Part(runner, tuple(runner.input_shape), down, runner.runtime, name)


def keras_part(model, part: str, name: str) -> Part:
    """``part`` of a zoo model run by Keras, called eagerly: no ``tf.function`` to retrace for every new image size."""
    import keras

    from export.graph import part_input_shape

    network = model.get_part(part)
    return Part(lambda x: keras.ops.convert_to_numpy(network(x, training=False)), part_input_shape(model, part),
                int(getattr(model, "down", 1)), f"keras {keras.__version__}", name)


def _verb(part: str) -> str:
    return "encode" if part == "encoder" else "decode"


def is_dynamic(shape: tuple) -> bool:
    """Whether a per-example image shape has a dynamic height or width."""
    return len(shape) == 3 and (shape[0] is None or shape[1] is None)


def read_images_any_size(source: str, convert: bool = False) -> list[tuple[str, np.ndarray]]:
    """``(name, image batch)`` pairs from a ``.npy``/``.npz`` of images or an image file/folder, at their own sizes.

    An array file is one batch; every image of a folder is its own batch of one (RGB, native size).
    Grayscale, RGBA and palette images are refused unless ``convert`` (``--convert-rgb``).
    """
    from aezoo.tae_commands import read_rgb
    from zoo.data.datasets import load_user_data

    path = Path(source)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not files:
            raise ValueError(f"{source} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
        base = path if path.is_dir() else path.parent
        return [(str(f.relative_to(base).with_suffix("")), read_rgb(f, convert)[None]) for f in files]
    return [(path.stem, load_user_data(path))]


def fit_size(x: np.ndarray, down: int, pad: bool, what: str) -> np.ndarray:
    """``x`` padded (bottom/right, edge) to multiples of ``down`` if ``pad``; else refused unless they divide."""
    from zoo.families.tae import check_divisible, pad_to_multiple

    if pad:
        return pad_to_multiple(x, down)[0]
    try:
        check_divisible(tuple(x.shape[1:3]), down, what)
    except ValueError as err:
        raise ValueError(f"{err} Or pass --pad to pad them.") from None
    return x


def encode_any_size(part: Part, source: str, output: str, pad: bool, batch_size: int,
                    convert: bool = False) -> int:
    """Encode images of any size with a dynamic-size encoder and write ``.npy``, ``.npz`` or latent PNGs."""
    from zoo.utils.inputs import as_model_input

    codes: list[tuple[str, np.ndarray]] = []
    for name, raw in read_images_any_size(source, convert):
        x = as_model_input(raw, part.input_shape, what=f"--input {name}")
        x = fit_size(x, part.down, pad, f"--input {name}")
        codes.append((name, np.concatenate([part.run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])))
    out = Path(output)
    shapes = sorted({c.shape[1:] for _, c in codes})
    if out.suffix == ".npy":
        if len(shapes) > 1:
            raise ValueError(f"The images have {len(shapes)} sizes, so their latents {shapes} do not stack into one "
                             + ".npy; write an .npz (one array per image) or a folder of latent PNGs instead.")
        save_array(out, np.concatenate([c for _, c in codes]))
    elif out.suffix == ".npz":
        save_arrays(out, {name.replace("/", "__"): c for name, c in codes})
    else:
        write_latent_pngs(codes, out)
    count = sum(len(c) for _, c in codes)
    print(f"encoded {count} images -> latents {', '.join(str(s) for s in shapes)} with {part.runtime}; wrote {out}")
    return 0


def latent_png(z: np.ndarray) -> np.ndarray:
    """One raw latent ``(h, w, C)`` as an 8-bit image: ``C / k`` tiles of ``k`` channels side by side.

    ``k`` is 4 (RGBA) when it divides ``C``, else 3, else 1.
    """
    from zoo.families.tae import scale_latents

    h, w, c = z.shape
    k = next(k for k in (4, 3, 1) if c % k == 0)
    pixels = np.round(scale_latents(z) * 255).astype(np.uint8)
    tiles = pixels.reshape(h, w, c // k, k).transpose(0, 2, 1, 3).reshape(h, w * (c // k), k)
    return tiles[..., 0] if k == 1 else tiles


def read_latent_png(path: Path, channels: int) -> np.ndarray:
    """Raw latents ``(1, h, w, channels)`` from a latent PNG (see :func:`latent_png`)."""
    from PIL import Image

    from zoo.families.tae import unscale_latents

    with Image.open(path) as img:
        mode = img.mode
        if mode not in TILE_MODES:
            raise ValueError(f"{path}: a latent PNG is grayscale, RGB or RGBA. Received mode {mode}.")
        pixels = np.asarray(img, dtype=np.uint8)
    k = TILE_MODES[mode]
    height, width = pixels.shape[:2]
    tiles = channels // k if channels % k == 0 else 0
    if not tiles or width % tiles:
        raise ValueError(f"{path}: a {mode} latent PNG {width}x{height} cannot hold {channels} latent channels "
                         + f"({channels} / {k} tiles side by side); wrong latent channel count for this decoder?")
    pixels = pixels.reshape(height, width, k) if k == 1 else pixels
    z = pixels.reshape(height, tiles, width // tiles, k).transpose(0, 2, 1, 3).reshape(height, width // tiles, channels)
    return unscale_latents(z)[None].astype(np.float32)


def write_latent_pngs(codes: list[tuple[str, np.ndarray]], folder: Path) -> None:
    """Every latent as a latent PNG in ``folder`` (``NAME.png``, or ``NAME_i.png`` for a batch of several)."""
    from PIL import Image

    for name, batch in codes:
        for i, z in enumerate(batch):
            path = folder / (f"{name}.png" if len(batch) == 1 else f"{name}_{i:04d}.png")
            save_atomic(path, Image.fromarray(latent_png(z)).save)


def read_latents(source: str, channels: int) -> list[tuple[str, np.ndarray]]:
    """``(name, latents (n, h, w, channels))`` from a ``.npy``/``.npz`` of raw latents or a folder of latent PNGs."""
    from zoo.utils.inputs import as_model_input

    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"No latents at {source}.")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.png"))
        if not files:
            raise ValueError(f"{source} holds no latent PNGs.")
        found = [(str(f.relative_to(path).with_suffix("")), read_latent_png(f, channels)) for f in files]
    elif path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            found = [(key.replace("__", "/"), f[key]) for key in f.files]
    elif path.suffix == ".npy":
        found = [(path.stem, np.load(path, allow_pickle=False))]
    else:
        raise ValueError(f"--input {source}: expected raw latents (.npy, .npz) or a folder of latent PNGs.")
    out = []
    for name, z in found:
        z = np.asarray(z)
        z = z[None] if z.ndim == 3 else z
        if z.ndim != 4 or z.shape[-1] != channels:
            raise ValueError(f"--input {name}: latents of shape {z.shape}; this decoder takes (n, height, width, "
                             + f"{channels}) raw latents ({channels} channels).")
        out.append((name, as_model_input(z, (None, None, channels), what=f"--input {name}", pixels=False,
                                         value_range=None)))
    return out


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode latents into one PNG per latent."""
    from PIL import Image

    part = open_part(args.target, "decoder", args.runtime)
    channels = part.input_shape[-1]
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, z in read_latents(args.input, channels):
        for i in range(0, len(z), args.batch_size):
            images = part.run(z[i:i + args.batch_size])
            for j, image in enumerate(images):
                stem = name if len(z) == 1 else f"{name}_{i + j:04d}"
                path = out / f"{stem}.png"
                save_atomic(path, Image.fromarray(np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)).save)
                written += 1
    print(f"decoded {written} latents with {part.runtime}; wrote {written} PNGs to {out}")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``decode`` to the ``aezoo`` parser."""
    from export import FORMATS
    from zoo.utils.cliargs import positive_int

    p = sub.add_parser("decode", help="decode latents (.npy, .npz or latent PNGs) into one PNG per latent")
    p.add_argument("target", metavar="NAME_OR_PATH",
                   help="pretrained name, .keras file, or an exported decoder (.onnx, .tflite, SavedModel folder)")
    p.add_argument("--input", required=True,
                   help="raw latents (n, h, w, C) as .npy or .npz, or a folder of 8-bit latent PNGs")
    p.add_argument("--output", required=True, help="folder for the PNGs")
    p.add_argument("--runtime", choices=[KERAS, *FORMATS],
                   help="keras (default for models), or export the decoder and run it in this format's runtime")
    p.add_argument("--batch-size", type=positive_int, default=16)
    return {"decode": cmd_decode}
