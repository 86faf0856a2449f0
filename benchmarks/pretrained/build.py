"""Rebuild the pretrained zoo: train every recipe in parallel processes.

    python -m benchmarks.pretrained.build --out runs/zoo --jobs 8 [--only ae_conv.mnist ...]

Each recipe in ``recipes.json`` becomes one ``aezoo train`` run in
``OUT/<run>``; its log goes to ``OUT/<run>.log``. Recipes that share a name are
candidates for that entry (e.g. a small sweep of a penalty weight); how the
published one was chosen is written in its card.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

RECIPES = Path(__file__).with_name("recipes.json")


def load_recipes(only: list[str] | None = None) -> list[dict]:
    """Recipes from ``recipes.json``, optionally only those whose name or run is in ``only``."""
    recipes = json.loads(RECIPES.read_text())
    return [r for r in recipes if not only or r["name"] in only or r["run"] in only]


def train_arguments(recipe: dict) -> list[str]:
    """The ``aezoo train`` arguments that reproduce a recipe."""
    args = [recipe["model"], "--dataset", recipe["dataset"], "--epochs", str(recipe["epochs"]),
            "--batch-size", str(recipe["batch_size"]), "--learning-rate", str(recipe["learning_rate"]),
            "--seed", str(recipe["seed"])]
    for key, value in recipe["model_kwargs"].items():
        if key == "latent_dim":
            args += ["--latent-dim", str(value)]
        else:
            args += ["--set", f"{key}={value!r}".replace(" ", "")]
    return args


def _launch(recipe: dict, out: Path, backend: str, data_dir: str | None) -> subprocess.Popen:
    """Start one ``aezoo train`` run in a subprocess, logging to ``OUT/<run>.log``."""
    train_args = train_arguments(recipe)
    record = f"KERAS_BACKEND={backend} aezoo train {shlex.join(train_args)}"
    cmd = [sys.executable, "-m", "aezoo", "train", *train_args, "--run-dir", str(out / recipe["run"]),
           "--verbose", "2", "--record-command", record]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    log = open(out / f"{recipe['run']}.log", "w")  # noqa: SIM115 - closed by the caller when the run ends
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/zoo")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--data-dir")
    parser.add_argument("--epochs", type=int, help="override every recipe's epochs (smoke tests)")
    parser.add_argument("--deadline-s", type=float, default=float("inf"),
                        help="stop starting runs, and stop running ones, after this many seconds")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    queue = load_recipes(args.only)
    running: list[tuple[dict, subprocess.Popen, float]] = []
    start = time.monotonic()
    while queue or running:
        late = time.monotonic() - start > args.deadline_s
        if late:
            queue = []
        while queue and len(running) < args.jobs:
            recipe = dict(queue.pop(0))
            if args.epochs:
                recipe["epochs"] = args.epochs
            running.append((recipe, _launch(recipe, out, backend, args.data_dir), time.monotonic()))
            print(f"[{time.monotonic() - start:6.0f}s] start {recipe['run']}", flush=True)
        for item in list(running):
            recipe, proc, t0 = item
            if late and proc.poll() is None:
                proc.kill()
            if proc.poll() is not None:
                running.remove(item)
                proc.log_file.close()
                print(f"[{time.monotonic() - start:6.0f}s] {recipe['run']} exit {proc.returncode} "
                      + f"after {time.monotonic() - t0:.0f}s", flush=True)
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
