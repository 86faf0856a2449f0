"""Training runs: a seeded, resumable ``fit`` that writes a self-describing run folder.

A run folder holds ``run.json`` (what was asked for), ``log.csv`` (one row per
epoch, with its wall time), ``backup/`` while the run is unfinished (Keras'
``BackupAndRestore``: resume loses at most the epoch in progress), and at the
end ``model.keras``, ``model.weights.h5`` and ``card.json``.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from zoo import backend
from zoo import data as zdata
from zoo.environment import environment
from zoo.registry import build_model
from zoo.timing import EpochTimer

DEFAULTS = {"epochs": 20, "batch_size": 128, "learning_rate": 1e-3, "seed": 0}


def compile_options(model) -> dict:
    """The ``compile`` settings of aezoo's default training path.

    Several steps run per call into the compiled graph, which removes most of the
    per-step Python and callback overhead. On a CPU, XLA (which Keras leaves off
    there) is turned on only where the model says it gains
    (:attr:`zoo.Autoencoder.prefers_xla_on_cpu`, measured by
    ``benchmarks/train_throughput.py``). On a GPU, and under JAX (always jitted)
    and PyTorch (eager unless asked), Keras' own ``"auto"`` choice is kept.
    """
    if backend.name() == "tensorflow" and backend.computes_on_cpu():
        return {"steps_per_execution": 32, "jit_compile": bool(model.prefers_xla_on_cpu)}
    return {"steps_per_execution": 32, "jit_compile": "auto"}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class _NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite batch loss and remembers where."""

    def __init__(self):
        super().__init__()
        self.where: tuple[int, int] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = (self._epoch, batch)
            self.model.stop_training = True


class _FiniteBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that never overwrites the last good state with a diverged one."""

    def on_epoch_end(self, epoch, logs=None):
        if logs and not all(math.isfinite(float(v)) for v in logs.values()):
            return
        super().on_epoch_end(epoch, logs)


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    run_dir: Path
    model: keras.Model
    card: dict


def _read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _load_training_data(dataset: str, data_dir, download: bool,
                        input_shape=None) -> tuple[np.ndarray, str]:
    spec = zdata.parse_data_spec(dataset)
    if spec.kind == "dataset":
        x, _ = zdata.load_dataset(spec.name, "train", data_dir=data_dir, download=download)
        return x, f"{spec.name} train split ({len(x):,} images)"
    if spec.kind == "sample":
        x, _ = zdata.load_sample(spec.name)
        return x, f"bundled 1k sample of {spec.name} test split"
    size = tuple(input_shape[:2]) if input_shape and len(input_shape) == 3 else None
    grayscale = not input_shape or len(input_shape) != 3 or input_shape[2] == 1
    return zdata.load_user_data(spec.name, image_size=size, grayscale=grayscale), f"user data {spec.name}"


def train(
    model_name: str,
    dataset: str,
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    batch_size: int = DEFAULTS["batch_size"],
    learning_rate: float = DEFAULTS["learning_rate"],
    seed: int = DEFAULTS["seed"],
    model_kwargs: dict | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    resume: bool = False,
    tensorboard: bool = False,
    verbose: str | int = "auto",
    command: str | None = None,
) -> TrainResult:
    """Train a registered model and write a run folder.

    Args:
        model_name: A name from :func:`zoo.list_models`.
        dataset: ``"mnist"``, ``"fashion_mnist"``, ``"sample:mnist"`` (the
            bundled 1k images) or a path to your own data (see
            :func:`zoo.data.load_user_data`).
        run_dir: Folder to write; it must not hold a finished run.
        epochs: Total number of epochs (default 20; a resumed run keeps its
            recorded total unless this is given).
        batch_size: Examples per step.
        learning_rate: Adam's learning rate.
        seed: Seeds weights, shuffling and noise.
        model_kwargs: ``latent_dim`` and family arguments for the builder.
        data_dir: Folder holding ``<dataset>.npz``.
        download: Let tensorflow-datasets download a missing dataset.
        resume: Continue the unfinished run in ``run_dir`` from its last epoch.
        tensorboard: Also write TensorBoard logs under ``run_dir/tensorboard``.
        verbose: Keras progress-bar mode.
        command: The command line to record in the card (defaults to ``sys.argv``).

    Returns:
        A :class:`TrainResult` with the trained model and its card.

    Raises:
        FileExistsError: ``run_dir`` holds a finished run, or an unfinished one
            without ``resume=True``.
        TrainingDiverged: The loss became NaN; ``run_dir/backup`` keeps the last
            good epoch for ``resume``.
    """
    run_dir = Path(run_dir)
    spec_path, backup = run_dir / "run.json", run_dir / "backup"
    if (run_dir / "model.keras").exists():
        raise FileExistsError(f"{run_dir} already holds a finished run; choose another --run-dir.")
    if resume:
        if not spec_path.exists():
            raise FileNotFoundError(f"Nothing to resume in {run_dir}: no run.json there.")
        spec = json.loads(spec_path.read_text())
        spec["epochs"] = spec["epochs"] if epochs is None else epochs
    else:
        if backup.exists() or spec_path.exists():
            raise FileExistsError(
                f"{run_dir} holds an unfinished run; pass --resume to continue it or choose another --run-dir."
            )
        spec = {
            "model": model_name, "dataset": dataset, "model_kwargs": dict(model_kwargs or {}),
            "epochs": DEFAULTS["epochs"] if epochs is None else epochs, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
            "command": command or " ".join(["aezoo", *sys.argv[1:]]),
        }
    for key in ("epochs", "batch_size"):
        if not isinstance(spec[key], int) or spec[key] < 1:
            raise ValueError(f"`{key}` must be an integer >= 1. Received: {key}={spec[key]!r}")
    if not spec["learning_rate"] > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={spec['learning_rate']!r}")

    x, data_desc = _load_training_data(spec["dataset"], data_dir, download,
                                       spec["model_kwargs"].get("input_shape"))
    keras.utils.set_random_seed(spec["seed"])
    kwargs = {"input_shape": tuple(x.shape[1:]), **spec["model_kwargs"]}
    model = build_model(spec["model"], **kwargs)
    model.compile(keras.optimizers.Adam(spec["learning_rate"]), **compile_options(model))
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(spec, indent=2, default=list))

    guard = _NaNGuard()
    callbacks = [
        EpochTimer(), guard,
        _FiniteBackup(str(backup), delete_checkpoint=False),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "tensorboard")))
    fit_data = zdata.make_pipeline(x, spec["batch_size"], shuffle=True, seed=spec["seed"])
    model.fit(fit_data, epochs=spec["epochs"], callbacks=callbacks, verbose=verbose)

    if guard.where is not None:
        epoch, batch = guard.where
        raise TrainingDiverged(
            f"Loss became NaN at epoch {epoch + 1}, batch {batch}. The last good state (end of epoch "
            + f"{epoch}) is kept in {backup}; lower the learning rate and rerun with --resume."
        )
    model.save(run_dir / "model.keras")
    model.save_weights(run_dir / "model.weights.h5")
    rows = _read_log(run_dir / "log.csv")
    card = {
        "model": spec["model"],
        "dataset": spec["dataset"],
        "data": data_desc,
        "preprocessing": zdata.PREPROCESSING,
        "input_shape": list(model.data_shape),
        "latent_dim": model.latent_dim,
        "family_args": {k: v for k, v in spec["model_kwargs"].items() if k not in ("input_shape", "latent_dim")},
        "training": {
            "command": spec["command"],
            "seed": spec["seed"],
            "epochs": len(rows),
            "batch_size": spec["batch_size"],
            "optimizer": f"Adam(learning_rate={spec['learning_rate']})",
            "wall_time_s": round(sum(float(r.get("epoch_time_s", 0)) for r in rows), 1),
            "final_loss": float(rows[-1]["loss"]) if rows else None,
            "environment": environment(),
        },
    }
    (run_dir / "card.json").write_text(json.dumps(card, indent=2, default=list))
    shutil.rmtree(backup, ignore_errors=True)
    return TrainResult(run_dir=run_dir, model=model, card=card)
