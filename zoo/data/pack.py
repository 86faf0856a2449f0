"""``aezoo data pack``: any data spec training accepts, written as shards plus a manifest for streaming.

The folder holds ``shard-00000-of-0000K.npy`` (or ``.tfrecord``: one ``tf.train.Example``
per example, its raw bytes in feature ``x``) and ``manifest.json``: the storage, count,
per-example shape and dtype, the value range, and each shard's file, count, header size
and SHA-256. :func:`zoo.data.streaming.open_stream` reads it from the manifest alone and
verifies the hashes before training.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from zoo.utils.atomic import write_text_atomic
from zoo.utils.checks import check_positive_int
from zoo.utils.integrity import sha256

STORAGES = ("npy", "tfrecord")
DEFAULT_SHARD_SIZE = 10_000
FORMAT = "aezoo-pack"


def _arrays(source: str | os.PathLike, split: str | None, image_size, color: str | None,
            data_dir) -> tuple[Iterator, int, object]:
    """``(chunks of examples in order, count, Data)``: folders read lazily, anything else loaded as training loads it."""
    from zoo.data import datasets as data

    loaded = data.data_spec_or_path(source).load(split, default="train", data_dir=data_dir, image_size=image_size,
                                                 color=color, stream=True)
    if hasattr(loaded.x, "iter_arrays"):
        loaded.x.verify()
        return loaded.x.iter_arrays(), len(loaded), loaded
    x = loaded.x
    return (x[i:i + 4096] for i in range(0, len(x), 4096)), len(x), loaded


def _write_tfrecord(path: Path, x: np.ndarray) -> None:
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in x:
            feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[row.tobytes()]))
            writer.write(tf.train.Example(features=tf.train.Features(feature={"x": feature})).SerializeToString())


def _write_shard(folder: Path, name: str, x: np.ndarray, storage: str) -> dict:
    from zoo.data.streaming import npy_header

    path = folder / f"{name}.{storage}"
    x = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<") if x.dtype.byteorder == ">" else x.dtype)
    offset = 0
    if storage == "npy":
        np.save(path, x, allow_pickle=False)
        offset = npy_header(path)[3]
    else:
        _write_tfrecord(path, x)
    return {"file": path.name, "count": len(x), "offset": offset, "sha256": sha256(path)}


def _check_chunk(chunk: np.ndarray, first: np.ndarray | None, start: int, source) -> None:
    from zoo.data.streaming import check_dtype

    check_dtype(chunk.dtype, source)
    if first is not None and (chunk.shape[1:], chunk.dtype) != (first.shape[1:], first.dtype):
        raise ValueError(f"{source}: examples from {start} on have shape {chunk.shape[1:]} {chunk.dtype}, "
                         + f"earlier ones {first.shape[1:]} {first.dtype}.")
    if np.issubdtype(chunk.dtype, np.floating):
        finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
        if not finite.all():
            raise ValueError(f"{source} holds NaN or infinite values, the first in example "
                             + f"{start + int(np.argmin(finite))}; clean it first.")


def _remove_dead_partials(out: Path) -> None:
    """Remove what packs into ``out`` killed outright (SIGKILL, power loss) left: partial folders of dead PIDs."""
    for partial in out.parent.glob(f".{out.name}.partial-*"):
        try:
            os.kill(int(partial.name.rsplit("-", 1)[1]), 0)
        except ValueError:
            continue
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:  # alive, another user's
            continue


def pack(source: str | os.PathLike, out: str | os.PathLike, *, shard_size: int = DEFAULT_SHARD_SIZE,
         storage: str = "npy", split: str | None = None, image_size: tuple[int, int] | None = None,
         color: str | None = None, data_dir: str | os.PathLike | None = None, progress: bool | None = None) -> dict:
    """Write ``source`` into ``out`` as shards and a manifest, atomically.

    Everything is written to a hidden ``.NAME.partial-PID`` folder beside ``out``
    and renamed to ``out`` at the end, so an interrupted pack leaves no ``out``
    and removes its partial folder; one killed outright leaves it, and the next pack
    into ``out`` removes it.

    Args:
        source: ``mnist``, ``sample:mnist``, a file, or a folder of images or shards.
        out: Folder to create; an existing non-empty one is refused.
        shard_size: Examples per shard.
        storage: ``"npy"`` or ``"tfrecord"``.
        split: ``"train"``, ``"test"`` or ``"all"``; None reads the train split of data that have
            one (a known dataset, a ``keras.datasets``-layout ``.npz``) and all of data that have none.
        image_size: ``(height, width)`` to resize images to (default: inferred from the images).
        color: ``"gray"`` or ``"rgb"`` to read images as (default: inferred from the images).
        data_dir: Folder holding ``<dataset>.npz``.
        progress: Draw a progress bar (None: when stderr is a terminal).

    Returns:
        The manifest (with the ``split`` read and what reading ``converted``).

    Raises:
        FileExistsError: ``out`` exists and is not empty.
        ValueError: A bad option, or data that cannot be packed (empty, NaN, mixed shapes).
    """
    from zoo.data.streaming import MANIFEST
    from zoo.utils.progress import steps

    check_positive_int("shard_size", shard_size)
    if storage not in STORAGES:
        raise ValueError(f"`storage` must be one of {STORAGES}. Received: storage={storage!r}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty; choose a new folder (nothing was written).")
    chunks, count, loaded = _arrays(source, split, image_size, color, data_dir)
    if count == 0:
        raise ValueError(f"{source} holds no examples.")
    total = -(-count // shard_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(out)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        shards, pending, first, seen = [], [], None, 0
        low, high = np.inf, -np.inf
        with steps(total, f"pack {source}", enabled=progress) as bar:
            def flush(final: bool) -> None:
                nonlocal pending
                while pending and (final or sum(len(p) for p in pending) >= shard_size):
                    block = np.concatenate(pending)
                    name = f"shard-{len(shards):05d}-of-{total:05d}"
                    bar.start(name)
                    shards.append(_write_shard(tmp, name, block[:shard_size], storage))
                    bar.done()
                    pending = [block[shard_size:]] if len(block) > shard_size else []

            for chunk in chunks:
                chunk = np.asarray(chunk)
                _check_chunk(chunk, first, seen, source)
                first = chunk[:1] if first is None else first
                low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
                seen += len(chunk)
                pending.append(chunk)
                flush(False)
            flush(True)
        manifest = {"format": FORMAT, "version": 1, "storage": storage, "count": seen,
                    "shape": list(first.shape[1:]), "dtype": first.dtype.str, "min": low, "max": high,
                    "feature": "x", "source": str(source), "split": loaded.split,
                    "converted": list(loaded.notes), "shards": shards}
        write_text_atomic(tmp / MANIFEST, json.dumps(manifest, indent=1))  # flushed to disk before the rename
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


__all__ = ["DEFAULT_SHARD_SIZE", "STORAGES", "pack"]
