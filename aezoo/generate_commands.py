"""``aezoo sample`` and ``aezoo interpolate``: pictures of what a generative model makes.

    aezoo sample iwae_dense.mnist --n 64 --seed 0 --output grid.png
    aezoo interpolate vae_dense.mnist --a 0 --b 1 --steps 10 --path slerp --output strip.png
    aezoo interpolate my_run/ --a digit3.png --b digit8.png --output strip.png

A model is a pretrained name, a ``.keras`` file or a run folder. ``--a`` and
``--b`` are an index into ``--split`` (default test) of ``--dataset`` (default: the card's)
or a file: an image, or a ``.npy``/``.npz`` whose first example is taken.
``--npy`` also saves the images as an array. Errors are one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.utils.atomic import save_array
from zoo.utils.cliargs import add_split_argument, positive_int


def _load(target: str):
    from zoo.pretrained import load_target

    return load_target(target)


def _save_array(path: str | None, images: np.ndarray) -> str:
    if not path:
        return ""
    save_array(path, images)
    return f" and {path}"


def cmd_sample(args: argparse.Namespace) -> int:
    """Write a grid of ``--n`` samples drawn with ``--seed``."""
    from zoo.evaluation.generate import sample_grid

    model, card = _load(args.model)
    name = card.name if card else Path(args.model).stem
    images = model.sample(args.n, seed=args.seed) if args.npy else None
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    sample_grid(model, args.output, n=args.n, seed=args.seed, title=args.title or f"{name}: {args.n} samples, "
                + f"seed {args.seed}")
    print(f"wrote {args.output}{_save_array(args.npy, images)} ({args.n} samples of {name}, seed {args.seed})")
    return 0


def _example(model, spec: str, dataset: str | None, data_dir, what: str, split: str | None = None) -> np.ndarray:
    """One example: an index into ``dataset``'s ``split`` (default test), or the first example of a file."""
    from zoo.data import datasets as zdata
    from zoo.data.images import image_read_options, read_image

    image_size, color = image_read_options(model.data_shape)
    if spec.lstrip("-").isdigit():
        if dataset is None:
            raise ValueError(f"{what} {spec} is an index: pass --dataset (the model has no card naming one).")
        data = zdata.parse_data_spec(dataset).load(split, default="test", data_dir=data_dir,
                                                   image_size=image_size, color=color)
        index = int(spec)
        if not 0 <= index < len(data.x):
            raise ValueError(f"{what} must index the {len(data.x):,} examples of {dataset}'s {data.split} split. "
                             + f"Received: {spec}")
        return data.x[index]
    path = Path(spec)
    if not path.exists():
        raise ValueError(f"{what} is neither an index nor an existing file. Received: {spec}")
    if path.is_file() and path.suffix.lower() not in (".npy", ".npz", ".csv"):
        shape = model.data_shape
        return read_image(path, image_size or tuple(shape[:2]), grayscale=len(shape) < 3 or shape[-1] == 1)
    x = zdata.parse_data_spec(path).load(split, default="test", image_size=image_size, color=color).x
    if len(x) == 0:
        raise ValueError(f"{what}: {spec} holds no examples.")
    return np.asarray(x[0])


def cmd_interpolate(args: argparse.Namespace) -> int:
    """Write a strip: ``--a``, the decoded walk of ``--steps`` images, ``--b``."""
    from zoo.evaluation.generate import interpolate, interpolation_strip

    model, card = _load(args.model)
    name = card.name if card else Path(args.model).stem
    dataset = args.dataset or (card.dataset if card else None)
    a = _example(model, args.a, dataset, args.data_dir, "--a", args.split)
    b = _example(model, args.b, dataset, args.data_dir, "--b", args.split)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    interpolation_strip(model, a, b, args.output, steps=args.steps, walk=args.path,
                        title=args.title or f"{name}: {args.path} walk, {args.steps} steps")
    images = interpolate(model, a, b, steps=args.steps, path=args.path) if args.npy else None
    print(f"wrote {args.output}{_save_array(args.npy, images)} ({name}, {args.a} -> {args.b}, {args.path})")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``sample`` and ``interpolate`` to the ``aezoo`` parser."""
    from zoo.evaluation.generate import PATHS

    p = sub.add_parser("sample", help="draw samples from a generative model's prior into a PNG grid",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="pretrained name (vae_*, iwae_*, wae_*...), .keras file or run folder")
    p.add_argument("--n", type=positive_int, default=64, help="number of samples (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the prior draws (default 0)")
    p.add_argument("--output", default="samples.png", help="PNG path (default samples.png)")
    p.add_argument("--npy", help="also save the images as a .npy array")
    p.add_argument("--title", help="figure title")

    p = sub.add_parser("interpolate", help="decode a walk between two examples' codes into a PNG strip",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="pretrained name, .keras file or run folder")
    p.add_argument("--a", required=True, help="start: an index into --split of --dataset, or an image/.npy/.npz file")
    p.add_argument("--b", required=True, help="end: an index into --split of --dataset, or an image/.npy/.npz file")
    p.add_argument("--steps", type=positive_int, default=8, help="decoded images, both ends included (default 8)")
    p.add_argument("--path", choices=PATHS, default="linear", help="linear or slerp (default linear)")
    p.add_argument("--dataset", help="dataset the indices refer to (default: the card's)")
    add_split_argument(p, "test", "the dataset the indices refer to")
    p.add_argument("--data-dir", help="folder holding <dataset>.npz")
    p.add_argument("--output", default="interpolation.png", help="PNG path (default interpolation.png)")
    p.add_argument("--npy", help="also save the walk's images as a .npy array")
    p.add_argument("--title", help="figure title")
    return {"sample": cmd_sample, "interpolate": cmd_interpolate}
