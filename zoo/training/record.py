"""What a run is: its ``run.json`` (typed options, defaults, Keras backend), checked and compared on resume.

:func:`checked_spec` reads a run folder's record (or makes a new one) and refuses
a resume whose typed options differ from it (:func:`resume_differences`) or a
folder that holds a finished or unfinished run it was not asked to continue.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from zoo.data import datasets as zdata
from zoo.models import backend
from zoo.utils.checks import check_positive_int

#: The run folder's backups (:mod:`zoo.training.backup`), removed when the run finishes.
BACKUP = "backup"
DEFAULTS = {"epochs": 20, "batch_size": 128, "learning_rate": 1e-3, "seed": 0}
#: What a run is: ``--resume`` refuses any of these that differs from ``run.json`` (and the Keras backend).
#: The distribution is not part of it: the global batch defines the steps, so a run may resume
#: on another number of replicas or workers (``run.json`` records the latest one).
IDENTITY = ("model", "dataset", "split", "color", "model_kwargs", "epochs", "batch_size", "learning_rate", "seed")


def read_log(path: Path) -> list[dict]:
    """The rows of a run's ``log.csv`` (none if it does not exist)."""
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def canonical(value):
    """A JSON-comparable form (tuples as lists), so typed and recorded values compare alike."""
    return json.loads(json.dumps(value, default=list))


def _dataset_key(dataset: str) -> str:
    """A dataset spec as compared on resume: paths resolved, names as written."""
    text = str(dataset)
    known = text in zdata.DATASETS or text.startswith(zdata.SAMPLE_PREFIX)
    return text if known or not Path(text).exists() else str(Path(text).resolve())


def resume_differences(recorded: dict, typed: dict) -> list[str]:
    """What the user typed that differs from a run's ``run.json``, as ``"name typed (the run: recorded)"``.

    Args:
        recorded: The run's ``run.json``.
        typed: Only the options the user gave (``model``, ``dataset``, ``epochs``,
            ``batch_size``, ``learning_rate``, ``seed``, ``model_kwargs``); None means not given.

    Returns:
        One entry per difference; the Keras backend is always compared.
    """
    out = []
    effective = {**recorded.get("model_arguments", {}), **recorded.get("model_kwargs", {})}
    for key in IDENTITY:
        value = typed.get(key)
        if value is None or key == "model_kwargs":
            continue
        same = (_dataset_key(value) == _dataset_key(recorded.get(key)) if key == "dataset"
                else canonical(value) == canonical(recorded.get(key)))
        if not same:
            out.append(f"{key} {value} (the run: {recorded.get(key)})")
    for key, value in (typed.get("model_kwargs") or {}).items():
        if key not in effective or canonical(value) != canonical(effective[key]):
            out.append(f"{key} {value!r} (the run: {effective.get(key, 'not an argument of ' + recorded['model'])!r})")
    if recorded.get("backend") not in (None, backend.name()):
        out.append(f"Keras backend {backend.name()} (the run: {recorded['backend']}; set KERAS_BACKEND)")
    return out


def _started_epochs(run_dir: Path) -> bool:
    """Whether a run folder holds any trained state (an epoch logged or a backup)."""
    return (run_dir / BACKUP).exists() or bool(read_log(run_dir / "log.csv"))


def _run_spec(run_dir: Path, resume: bool, typed: dict, command: str | None) -> dict:
    """The run's ``run.json`` content: read and compared on resume, new otherwise."""
    spec_path = run_dir / "run.json"
    if (run_dir / "model.keras").exists():
        raise FileExistsError(f"{run_dir} already holds a finished run; choose another --run-dir.")
    if resume:
        if not spec_path.exists():
            raise FileNotFoundError(f"Nothing to resume in {run_dir}: no run.json there.")
        spec = json.loads(spec_path.read_text())
        differences = resume_differences(spec, typed)
        if differences:
            raise ValueError(
                f"--resume: {run_dir} holds a run of {spec['model']} on {spec['dataset']}, and these options "
                + f"differ from it: {'; '.join(differences)}. Drop them to continue the run as recorded "
                + "(--run-dir with --resume alone takes everything from the folder), or choose another --run-dir."
            )
        return spec
    if spec_path.exists() and _started_epochs(run_dir):
        raise FileExistsError(
            f"{run_dir} holds an unfinished run; pass --resume to continue it or choose another --run-dir."
        )
    return new_spec(typed, command)


def new_spec(typed: dict, command: str | None) -> dict:
    """A new run's ``run.json`` content from the typed options and the defaults."""
    missing = [k for k in ("model", "dataset") if typed.get(k) is None]
    if missing:
        raise ValueError(f"A new run needs {' and '.join(missing)}; only --resume takes them from a run folder.")
    spec = {k: (DEFAULTS[k] if typed.get(k) is None else typed[k]) for k in ("epochs", "batch_size",
                                                                               "learning_rate", "seed")}
    return {"model": typed["model"], "dataset": str(typed["dataset"]), "split": typed.get("split"),
            "color": typed.get("color"),
            "model_kwargs": dict(typed.get("model_kwargs") or {}), **spec, "backend": backend.name(),
            "command": command or " ".join(["aezoo", *sys.argv[1:]])}


def checked_spec(run_dir: Path, typed: dict, dist, resume: bool, command: str | None) -> dict:
    """The run's record (read and compared on resume, new otherwise) with its options validated."""
    if dist.is_chief or resume:
        spec = _run_spec(run_dir, resume, typed, command)
    else:  # the chief checks the folder; a worker's view of it may be mid-write
        spec = new_spec(typed, command)
    spec["distribution"] = dist.describe()
    spec.setdefault("backend", backend.name())  # run folders written before aezoo recorded it
    for key in ("epochs", "batch_size"):
        check_positive_int(key, spec[key])
    if isinstance(spec["learning_rate"], bool) or not (isinstance(spec["learning_rate"], (int, float))
                                                       and spec["learning_rate"] > 0):
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={spec['learning_rate']!r}")
    dist.check_batch_size(spec["batch_size"])
    return spec


__all__ = ["BACKUP", "DEFAULTS", "IDENTITY", "canonical", "checked_spec", "new_spec", "read_log", "resume_differences"]
