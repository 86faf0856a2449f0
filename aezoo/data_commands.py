"""``aezoo data pack``: write any data spec as shards plus a manifest, for training that streams from disk.

    aezoo data pack mnist --out packed/mnist --shard-size 10000
    aezoo data pack my_images/ --out packed/mine --format tfrecord --input-shape 64,64,3
    aezoo train ae_conv --dataset packed/mnist

A known dataset or a ``keras.datasets``-layout ``.npz`` gives its train split unless
``--split test|all`` says otherwise; other data are packed whole (``all``). An image
folder's size and colour are inferred from its images unless given (``--input-shape``,
``--color``); the line printed at the end says what was converted.

The folder is written atomically (nothing is left at --out if the pack fails) and
never over a non-empty folder; training verifies every shard's SHA-256 first.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C, e.g. 28,28,1. Received: {text!r}") from None
    if len(shape) not in (2, 3) or min(shape) < 1 or (len(shape) == 3 and shape[2] not in (1, 3)):
        raise argparse.ArgumentTypeError(f"expected H,W or H,W,C with C 1 or 3. Received: {text!r}")
    return shape


def cmd_pack(args: argparse.Namespace) -> int:
    """Pack the data and print what was written."""
    from zoo.data.pack import pack

    shape = args.input_shape
    from zoo.data.images import image_read_options

    color = image_read_options(shape)[1]
    if args.color and color not in (None, args.color):
        raise ValueError(f"--color {args.color} contradicts --input-shape {','.join(map(str, shape))}.")
    manifest = pack(args.source, args.out, shard_size=args.shard_size, storage=args.format, split=args.split,
                    image_size=shape[:2] if shape else None, color=args.color or color, data_dir=args.data_dir)
    size = sum((Path(args.out) / s["file"]).stat().st_size for s in manifest["shards"]) / 1e6
    converted = "".join(f"; {note}" for note in manifest["converted"])
    print(f"packed {manifest['count']:,} examples of shape {tuple(manifest['shape'])} {manifest['dtype']} "
          + f"({manifest['split']} split of {args.source}{converted}) into "
          + f"{len(manifest['shards'])} {args.format} shard(s), {size:.1f} MB, in {args.out}")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``data pack`` to the ``aezoo`` parser."""
    from zoo.data.pack import DEFAULT_SHARD_SIZE, STORAGES
    from zoo.utils.cliargs import add_color_argument, add_split_argument

    p = sub.add_parser("data", help="pack data into shards that training streams from disk",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="data_command", required=True)
    pk = commands.add_parser("pack", help="write data as shards + manifest.json")
    pk.add_argument("source", help="mnist, fashion_mnist, sample:NAME, a file, or a folder of images or shards")
    pk.add_argument("--out", required=True, help="folder to create (refused if it exists and is not empty)")
    pk.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="examples per shard")
    pk.add_argument("--format", choices=STORAGES, default="npy", help="shard format (default npy)")
    add_split_argument(pk, "train", "the source")
    pk.add_argument("--input-shape", type=_shape, help="H,W[,C]: size (and channels) to read images at "
                    + "(default: inferred from the images)")
    add_color_argument(pk)
    pk.add_argument("--data-dir", help="folder holding <dataset>.npz")

    def run(args: argparse.Namespace) -> int:
        return {"pack": cmd_pack}[args.data_command](args)

    return {"data": run}
