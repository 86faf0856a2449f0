"""Peak resident memory of training from data on disk, as the dataset grows (issue 11: streaming input).

    python -m benchmarks.streaming_memory [--sizes 2000 20000] [--extra-npy-sizes 200000] [--out DIR]

Generates, in a temporary folder, 28x28 uint8 blob images at each size as 20 ``.npy``
shards, as an image folder of PNGs and as TFRecord shards (``aezoo data pack``), plus
one whole ``.npy`` file (loaded into memory: the reference), then trains ``ae_dense``
for one epoch from each in a fresh ``aezoo train`` process under each Keras backend and records that process's
peak resident set size (``ru_maxrss`` from ``os.wait4``). Streaming keeps memory flat
when the peak at the largest size stays within 1.5x of the smallest. A measurement,
not a test: rows go to ``OUT/streaming_memory.{csv,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import row_environment
from benchmarks.results_io import write_csv, write_json
from zoo.utils.cliargs import script_main

KEYS = ["backend", "source", "examples", "files", "disk_mb", "streamed", "peak_rss_mb", "wall_s", "command"]
SHARDS = 20


def blob_images(n: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """``n`` uint8 images of one Gaussian blob each, made in chunks (structured, so the model can learn)."""
    out = np.empty((n, size, size, 1), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(seed)
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        cy, cx, r = rng.uniform(5, size - 5, m), rng.uniform(5, size - 5, m), rng.uniform(2, 5, m)
        img = np.exp(-((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2) / (2 * r[:, None, None] ** 2))
        out[start:start + m, ..., 0] = (255 * img).astype(np.uint8)
    return out


def _disk_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 1)


def make_sources(folder: Path, n: int, kinds: Sequence[str]) -> dict[str, Path]:
    """The data of one size in each requested layout, written under ``folder``."""
    from PIL import Image

    x = blob_images(n)
    sources = {}
    npy = folder / f"npy_{n}"
    npy.mkdir()
    for i, part in enumerate(np.array_split(x, SHARDS)):
        np.save(npy / f"part-{i:02d}.npy", part)
    sources["npy_shards"] = npy
    if "whole_npy" in kinds:
        np.save(folder / f"whole_{n}.npy", x)
        sources["whole_npy"] = folder / f"whole_{n}.npy"
    if "images" in kinds:
        images = folder / f"images_{n}"
        for i in range(n):
            sub = images / f"{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir(parents=True)
            Image.fromarray(x[i, ..., 0]).save(sub / f"{i:06d}.png")
        sources["images"] = images
    if "tfrecord" in kinds:
        packed = folder / f"tfrecord_{n}"
        subprocess.run([sys.executable, "-m", "aezoo", "data", "pack", str(npy), "--out", str(packed),
                        "--format", "tfrecord", "--shard-size", str(-(-n // SHARDS))], check=True)
        sources["tfrecord"] = packed
    return {k: v for k, v in sources.items() if k in kinds}


def peak_rss(command: list[str], env: dict) -> tuple[float, float]:
    """``(peak RSS in MB, wall seconds)`` of one fresh process running ``command``."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {proc.stderr.read().decode()[-2000:]}")
    return round(usage.ru_maxrss / 1024, 1), round(time.perf_counter() - start, 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000], help="dataset sizes, every layout")
    parser.add_argument("--extra-npy-sizes", type=int, nargs="*", default=[200_000],
                        help="larger sizes for the .npy layouts only (cheap to generate)")
    parser.add_argument("--kinds", nargs="+", default=["npy_shards", "images", "tfrecord", "whole_npy"],
                        choices=["npy_shards", "images", "tfrecord", "whole_npy"])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"], choices=["tensorflow", "jax", "torch"],
                        help="Keras backends to train under (tf.data under TensorFlow, a lazy PyDataset otherwise)")
    parser.add_argument("--model", default="ae_dense")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/results/streaming")


def run(args: argparse.Namespace) -> int:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "AEZOO_STREAM_ABOVE_MB": "0"}
    rows = []
    plan = [(n, args.kinds) for n in args.sizes]
    plan += [(n, [k for k in args.kinds if k in ("npy_shards", "whole_npy")]) for n in args.extra_npy_sizes]
    with tempfile.TemporaryDirectory(prefix="aezoo-streaming-") as tmp:
        for n, kinds in plan:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            for source, path in make_sources(folder, n, kinds).items():
                for backend in args.backends:
                    run_dir = folder / f"run_{source}_{backend}"
                    command = [sys.executable, "-m", "aezoo", "train", args.model, "--dataset", str(path),
                               "--epochs", "1", "--batch-size", str(args.batch_size), "--run-dir", str(run_dir),
                               "--verbose", "0"]
                    rss, wall = peak_rss(command, {**env, "KERAS_BACKEND": backend})
                    row = {"backend": backend, "source": source, "examples": n,
                           "files": 1 if path.is_file() else sum(1 for p in path.rglob("*") if p.is_file()),
                           "disk_mb": _disk_mb(path), "streamed": source != "whole_npy", "peak_rss_mb": rss,
                           "wall_s": wall,
                           "command": f"KERAS_BACKEND={backend} " + " ".join(["aezoo", *command[3:]]).replace(tmp, "$TMP")}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "streaming_memory.csv", KEYS)
    ratios = {}
    for key in sorted({(r["backend"], r["source"]) for r in rows}):
        mine = sorted((r["examples"], r["peak_rss_mb"]) for r in rows if (r["backend"], r["source"]) == key)
        ratios["/".join(key)] = {f"{n}/{mine[0][0]}": round(rss / mine[0][1], 3) for n, rss in mine[1:]}
    write_json({"command": "python -m benchmarks.streaming_memory " + " ".join(sys.argv[1:]), "rows": rows,
                "peak_rss_ratio_to_smallest": ratios, "environment": row_environment()},
               out / "streaming_memory.json", indent=1)
    print(json.dumps(ratios, indent=1))
    print(f"wrote {out / 'streaming_memory.csv'}, {out / 'streaming_memory.json'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return script_main(add_arguments, run, argv, prog="python -m benchmarks.streaming_memory", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
