"""Training runs: a seeded, resumable ``fit`` that writes a self-describing run folder.

A run folder holds ``run.json`` (what was asked for), ``log.csv`` (one row per
epoch, with its wall time), ``backup/`` while the run is unfinished (the last
two epochs' states with their hashes, :mod:`zoo.training.backup`: resume loses at
most the epoch in progress, and falls back to the previous epoch if the newest
backup is damaged), and at the end ``model.keras``, ``model.weights.h5`` and
``card.json``. Every file is written atomically (:mod:`zoo.utils.atomic`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from zoo.data import datasets as zdata
from zoo.data.images import image_read_options
from zoo.data.pipeline import make_pipeline
from zoo.families import build_model, builder_arguments
from zoo.models import backend
from zoo.training import backup as backups
from zoo.training import distribute as zdistribute
from zoo.training.record import (  # noqa: F401 - DEFAULTS, IDENTITY and resume_differences are public here too
    BACKUP,
    DEFAULTS,
    IDENTITY,
    canonical,
    checked_spec,
    read_log,
    resume_differences,
)
from zoo.utils.atomic import save_atomic, write_text_atomic
from zoo.utils.environment import environment
from zoo.utils.inputs import check_input_shape_of
from zoo.utils.timing import EpochTimer


def compile_options(model, steps_per_epoch: int | None = None) -> dict:
    """The ``compile`` settings of aezoo's default training path.

    Given ``steps_per_epoch``, no call runs more steps than an epoch has (Keras'
    progress bar would count past the end, "32/10", with a negative time left).

    Several steps run per call into the compiled graph, which removes most of the
    per-step Python and callback overhead. On a CPU, XLA (which Keras leaves off
    there) is turned on only where the model says it gains
    (:attr:`zoo.Autoencoder.prefers_xla_on_cpu`, measured by
    ``benchmarks/train_throughput.py``). On a GPU, and under JAX (always jitted)
    and PyTorch (eager unless asked), Keras' own ``"auto"`` choice is kept.
    Under a ``tf.distribute`` strategy (compile in its scope) each call runs one
    step without XLA: with TensorFlow 2.21 both the multi-step loop and XLA fail
    there ("You must feed a value for placeholder tensor 'while/cond/...'").
    """
    if backend.in_tf_strategy():
        options = {"steps_per_execution": 1, "jit_compile": False}
    elif backend.name() == "tensorflow" and backend.computes_on_cpu():
        options = {"steps_per_execution": 32, "jit_compile": bool(model.prefers_xla_on_cpu)}
    else:  # Keras' PyTorch trainer runs one step per call (it refuses steps_per_execution > 1).
        options = {"steps_per_execution": 1 if backend.name() == "torch" else 32, "jit_compile": "auto"}
    if steps_per_epoch:
        options["steps_per_execution"] = max(1, min(options["steps_per_execution"], int(steps_per_epoch)))
    return options


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class _NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite batch loss and remembers where."""

    def __init__(self):
        super().__init__()
        self.where: tuple[int, int] | None = None
        self.epochs_done = 0

    def on_epoch_end(self, epoch, logs=None):
        if self.where is None:
            self.epochs_done += 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.where = (self._epoch, batch)
            self.model.stop_training = True


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    run_dir: Path
    model: keras.Model
    card: dict


def _load_training_data(spec: dict, data_dir, download: bool) -> zdata.Data:
    """The run's training data (:meth:`zoo.data.datasets.DataSpec.load`): its split, default train."""
    size, color = image_read_options(spec["model_kwargs"].get("input_shape"))
    return zdata.parse_data_spec(spec["dataset"]).load(spec.get("split"), default="train", data_dir=data_dir,
                                                       download=download, image_size=size, color=spec.get("color") or color,
                                                       stream=True)


def _model_input(model, x: np.ndarray, what: str) -> np.ndarray:
    """``x`` through the input contract; ``uint8`` stays ``uint8`` (the pipeline scales it per batch)."""
    if hasattr(x, "for_model"):  # a zoo.data.streaming.Stream: checked from its headers, read lazily by the pipeline
        return x.for_model(model.data_shape, model.input_range, what)
    if x.dtype == np.uint8:
        check_input_shape_of(x.shape, model.data_shape, what)
        if x.size == 0:
            model.prepare_input(x, what)  # raises: no data
        return x.reshape((-1, *model.data_shape))
    return model.prepare_input(x, what)


def _cleanup(run_dir: Path, existed: bool, before: set[str]) -> None:
    """Leave ``run_dir`` as it was found: remove what this start created (it finished no epoch)."""
    if not existed:
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    for path in run_dir.iterdir():
        if path.name not in before:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _worker_scratch(run_dir: Path, index: int) -> Path:
    """A non-chief worker's temporary folder, named after the run so a restart finds (and clears) a killed one's."""
    key = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"aezoo-worker{index}-{key}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def train(
    model_name: str | None,
    dataset: str | None,
    run_dir: str | Path,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int | None = None,
    model_kwargs: dict | None = None,
    split: str | None = None,
    color: str | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    resume: bool = False,
    tensorboard: bool = False,
    verbose: str | int = "auto",
    command: str | None = None,
    distribute: str = "none",
    distribute_timeout: float = zdistribute.DEFAULT_TIMEOUT_S,
) -> TrainResult:
    """Train a registered model and write a run folder.

    ``run.json`` records what the run is (:data:`IDENTITY`: model, its arguments,
    dataset, epochs, batch size, learning rate, seed, and the Keras backend).
    ``resume=True`` continues it and refuses any given option that differs from
    the record, naming each difference; options left as None are taken from it.
    A start that fails before its first epoch ends leaves ``run_dir`` as it found it.

    Args:
        model_name: A name from :func:`zoo.list_models` (None on resume: the run's).
        dataset: ``"mnist"``, ``"fashion_mnist"``, ``"sample:mnist"`` (the
            bundled 1k images) or a path to your own data (see
            :func:`zoo.data.datasets.load_user_data`); None on resume: the run's.
        run_dir: Folder to write; it must not hold a finished run.
        epochs: Total number of epochs (default 20).
        batch_size: Examples per step (default 128).
        learning_rate: Adam's learning rate (default 1e-3).
        seed: Seeds weights, shuffling and noise (default 0).
        model_kwargs: ``latent_dim`` and family arguments for the builder.
        split: ``"train"``, ``"test"`` or ``"all"`` of ``dataset``; None (default) reads the
            train split of data that have one and all of data that have none (an ``x``-only file,
            a folder). The split read and its size go into ``run.json`` and the card.
        color: ``"gray"`` or ``"rgb"`` to read an image folder as (default: inferred from the images,
            or the channels of ``model_kwargs["input_shape"]``).
        data_dir: Folder holding ``<dataset>.npz``.
        download: Let tensorflow-datasets download a missing dataset.
        resume: Continue the unfinished run in ``run_dir`` from its last epoch.
        tensorboard: Also write TensorBoard logs under ``run_dir/tensorboard``.
        verbose: Keras progress-bar mode.
        command: The command line to record in the card (defaults to ``sys.argv``).
        distribute: ``"none"``, ``"mirrored"`` (every GPU, or logical CPU device, of this
            machine) or ``"multi_worker"`` (a cluster from ``TF_CONFIG``, or JAX's
            ``KERAS_DISTRIBUTION_*``): see :mod:`zoo.training.distribute` and ``docs/distributed.md``.
            ``batch_size`` is the global batch, split evenly over the replicas; only the
            chief (worker 0) writes ``run_dir``, which every worker must see on resume.
        distribute_timeout: Seconds a ``multi_worker`` process waits for the others.

    Returns:
        A :class:`TrainResult` with the trained model and its card (a non-chief
        worker's card is not written anywhere).

    Raises:
        FileExistsError: ``run_dir`` holds a finished run, or an unfinished one
            without ``resume=True``.
        ValueError: An invalid option, data the model cannot take, or (on resume)
            options that differ from the run's record.
        TrainingDiverged: The loss became NaN; ``run_dir/backup`` keeps the last
            good epoch for ``resume`` (or, in the first epoch, the folder is left as found).
    """
    run_dir = Path(run_dir)
    typed = {"model": model_name, "dataset": dataset, "split": split, "color": color, "epochs": epochs,
             "batch_size": batch_size,
             "learning_rate": learning_rate, "seed": seed, "model_kwargs": model_kwargs}
    dist = zdistribute.setup(distribute, timeout=distribute_timeout)
    try:
        return _train(run_dir, typed, dist, data_dir=data_dir, download=download, resume=resume,
                      tensorboard=tensorboard, verbose=verbose, command=command)
    finally:
        zdistribute.teardown(dist)


def _train(run_dir: Path, typed: dict, dist, *, data_dir, download, resume, tensorboard, verbose,
           command) -> TrainResult:
    """A run in named steps; everything that can fail on the user's input fails before the folder is touched."""
    spec = checked_spec(run_dir, typed, dist, resume, command)
    data = _load_training_data(spec, data_dir, download)
    spec["split"], spec["data"] = data.split, data.record()
    model, x = _build(spec, data.x, dist)
    x, batch_size = dist.process_share(x, spec["batch_size"])
    existed = run_dir.exists()
    before = {p.name for p in run_dir.iterdir()} if existed else set()
    # Only the chief writes the run folder; another worker saves its backups and log in a
    # temporary folder of its own (deleted at the end), as Keras' multi-worker guide prescribes.
    scratch = None if dist.is_chief else _worker_scratch(run_dir, dist.worker_index)
    out = scratch or run_dir
    guard = _NaNGuard()
    try:
        with dist.scope():  # optimizer slots restored with the weights are created as the engine's
            initial_epoch = backups.restore(model, run_dir / BACKUP, _say) if resume else 0
        if dist.is_chief:
            write_text_atomic(run_dir / "run.json", json.dumps(spec, indent=2, default=list))
        _trim_log(out / "log.csv", initial_epoch)
        callbacks = _callbacks(out, guard, run_dir / "tensorboard" if tensorboard and dist.is_chief else None)
        _fit(model, x, batch_size, spec, callbacks, initial_epoch, verbose)
        _check_finite(guard, run_dir, resume or initial_epoch > 0)
        # Every process saves (a non-chief into its scratch folder): under multi-process JAX, reading
        # variables that span the processes' devices is a collective, which waits for all of them.
        save_atomic(out / "model.keras", model.save)
        save_atomic(out / "model.weights.h5", model.save_weights)
    except BaseException:
        if guard.epochs_done == 0 and not resume and dist.is_chief:
            _cleanup(run_dir, existed, before)
        raise
    finally:
        rows = read_log(out / "log.csv")
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    card = _card(spec, data, model, rows, dist)
    if dist.is_chief:
        write_text_atomic(run_dir / "card.json", json.dumps(card, indent=2, default=list))
        shutil.rmtree(run_dir / BACKUP, ignore_errors=True)
    return TrainResult(run_dir=run_dir, model=model, card=card)


def _say(line: str) -> None:
    """Tell the user something about the run in one line (stderr: stdout keeps results)."""
    print(line, file=sys.stderr, flush=True)


def _build(spec: dict, x, dist) -> tuple[keras.Model, np.ndarray]:
    """The seeded, compiled model of the run, and ``x`` checked against its input contract."""
    keras.utils.set_random_seed(spec["seed"])
    shape = x.shape[1:] if x.ndim != 3 else (*x.shape[1:], 1)  # (n, h, w) images get a channel axis
    kwargs = {"input_shape": tuple(shape), **spec["model_kwargs"]}
    with dist.scope():  # variables (weights, optimizer slots) are created as the engine's
        model = build_model(spec["model"], **kwargs)
        x = _model_input(model, x, f"--dataset {spec['dataset']}")
        spec["model_arguments"] = canonical({**builder_arguments(spec["model"]), **kwargs})
        steps = math.ceil(len(x) / spec["batch_size"])
        model.compile(keras.optimizers.Adam(spec["learning_rate"]), **compile_options(model, steps))
    return model, x


def _trim_log(path: Path, epochs_done: int) -> None:
    """Keep only the log rows of the epochs the restored state has done (a fallback repeats the later ones)."""
    rows = read_log(path)
    kept = [r for r in rows if int(r.get("epoch", 0)) < epochs_done]
    if len(kept) == len(rows):
        return
    if not kept:
        path.unlink(missing_ok=True)
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    write_text_atomic(path, buffer.getvalue())


def _callbacks(out: Path, guard: _NaNGuard, tensorboard: Path | None) -> list[keras.callbacks.Callback]:
    """Timing, the NaN guard, per-epoch backups and the CSV log (in this order: the log row follows the backup)."""
    callbacks = [EpochTimer(), guard, backups.Backups(out / BACKUP),
                 keras.callbacks.CSVLogger(str(out / "log.csv"), append=True)]
    if tensorboard is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(tensorboard)))
    return callbacks


def _fit(model: keras.Model, x, batch_size: int, spec: dict, callbacks: list, initial_epoch: int, verbose) -> None:
    """``fit`` from ``initial_epoch`` to the run's last epoch over the seeded pipeline."""
    fit_data = make_pipeline(x, batch_size, shuffle=True, seed=spec["seed"], value_range=model.input_range)
    # The pipeline shuffles, seeded; shuffle=False stops Keras reordering its batches again.
    model.fit(fit_data, epochs=spec["epochs"], initial_epoch=initial_epoch, callbacks=callbacks, verbose=verbose,
              shuffle=False)


def _check_finite(guard: _NaNGuard, run_dir: Path, kept_earlier: bool) -> None:
    """Raise :class:`TrainingDiverged` if the loss became NaN, saying what was kept."""
    if guard.where is None:
        return
    epoch, batch = guard.where
    if guard.epochs_done == 0 and not kept_earlier:
        raise TrainingDiverged(
            f"Loss became NaN at epoch {epoch + 1}, batch {batch}, before any epoch finished; "
            + f"nothing was kept in {run_dir}. Lower the learning rate and start again.")
    raise TrainingDiverged(
        f"Loss became NaN at epoch {epoch + 1}, batch {batch}. The last good state (end of epoch "
        + f"{epoch}) is kept in {run_dir / BACKUP}; lower the learning rate and rerun with --resume."
    )


def _card(spec: dict, data, model: keras.Model, rows: list[dict], dist) -> dict:
    """The run's ``card.json``: data, architecture, training record and environment."""
    return {
        "model": spec["model"],
        "dataset": spec["dataset"],
        "data": data.origin,
        "split": data.split,
        "examples": len(data),
        "converted": list(data.notes),
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
            "environment": {**environment(), "distribution": dist.describe()},
        },
    }
