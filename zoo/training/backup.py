"""Per-epoch backups of a training run that survive a kill at any moment, and their restore.

``backup/`` holds the last two epochs' states (``epoch-NNNN.weights.h5``:
weights, optimizer slots, seed states) and ``backups.json``, which lists them
with their SHA-256. A backup is written to a temporary file, flushed and
renamed (:func:`zoo.utils.atomic.save_atomic`), and only then hashed and listed
(the list is replaced atomically too), so a kill while one is written leaves
the listed ones intact. On resume the newest listed backup that matches its
hash and loads is restored; a newer one that does not (damaged on disk, or a
write that was cut off) is reported in one line and the previous one is used.

Run folders from before this layout (Keras' ``latest.weights.h5`` and
``training_metadata.json``) still resume, from that single file.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import keras

from zoo.utils.atomic import TEMP_PREFIX, save_atomic, write_text_atomic
from zoo.utils.integrity import ChecksumError, sha256, verify_file

MANIFEST = "backups.json"
#: How many epochs' backups are kept (the newest, and one to fall back to).
KEEP = 2
#: Test hook: the backup writer of this epoch stops after writing its temporary file (so a test can kill it there).
STALL_ENV = "AEZOO_TEST_STALL_BACKUP_EPOCH"
_LEGACY_WEIGHTS, _LEGACY_METADATA = "latest.weights.h5", "training_metadata.json"
_FILE = re.compile(r"epoch-(\d+)\.weights\.h5$")


def backup_file(epochs_done: int) -> str:
    """The file name of the backup taken after ``epochs_done`` epochs."""
    return f"epoch-{epochs_done:04d}.weights.h5"


def read_manifest(folder: Path) -> list[dict]:
    """The listed backups, oldest first (``[]`` if there is no readable list)."""
    try:
        entries = json.loads((folder / MANIFEST).read_text())["backups"]
        return [e for e in entries if {"epoch", "file", "sha256"} <= set(e)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


class Backups(keras.callbacks.Callback):
    """Saves the training state after every epoch whose metrics are finite; keeps the last :data:`KEEP`.

    A diverged epoch (NaN or infinite loss) is never saved, so the newest backup
    is always a good state.

    Args:
        folder: Where to write (a non-chief worker's own scratch folder in multi-worker runs).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        super().__init__()
        self.folder = Path(folder)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs and not all(math.isfinite(float(v)) for v in logs.values()):
            return
        self.save(epoch + 1)

    def save(self, epochs_done: int) -> Path:
        """Write the backup after ``epochs_done`` epochs, list it with its hash, drop the older ones."""
        path = self.folder / backup_file(epochs_done)
        save_atomic(path, lambda temp: self._write(temp, epochs_done))
        entries = [e for e in read_manifest(self.folder) if e["epoch"] < epochs_done][-(KEEP - 1):]
        entries.append({"epoch": epochs_done, "file": path.name, "sha256": sha256(path)})
        write_text_atomic(self.folder / MANIFEST, json.dumps({"backups": entries}, indent=1))
        listed = {e["file"] for e in entries}
        for old in self.folder.iterdir():
            if (_FILE.match(old.name) and old.name not in listed) or old.name in (_LEGACY_WEIGHTS, _LEGACY_METADATA):
                old.unlink(missing_ok=True)
        return path

    def _write(self, temp: Path, epochs_done: int) -> None:
        self.model.save_weights(temp)
        if os.environ.get(STALL_ENV) == str(epochs_done):
            print(f"backup stalled: {temp.name}", flush=True)
            time.sleep(600)


def _interrupted_writes(folder: Path) -> dict[int, Path]:
    """The temporary files of backup writes that were cut off, by epoch."""
    found = {}
    for temp in folder.glob(f"{TEMP_PREFIX}*"):
        match = _FILE.search(temp.name)
        if match:
            found[int(match.group(1))] = temp
    return found


def _load(model: keras.Model, path: Path) -> None:
    """Load a backup into ``model``; any failure is a ValueError naming the file."""
    try:
        model.load_weights(path)
    except Exception as err:  # noqa: BLE001 - h5py and Keras raise many kinds for a damaged file
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise ValueError(f"{path} cannot be loaded ({detail})") from None


def _legacy(model: keras.Model, folder: Path) -> int:
    """Restore a backup written by Keras' ``BackupAndRestore`` (one file, no hash)."""
    path = folder / _LEGACY_WEIGHTS
    try:
        _load(model, path)
        return int(json.loads((folder / _LEGACY_METADATA).read_text())["epoch"])
    except (ValueError, OSError, KeyError, TypeError) as err:
        raise ValueError(f"--resume: the backup {path} is damaged ({err}) and there is no earlier one; "
                         + "start the run again in another --run-dir.") from None


def restore(model: keras.Model, folder: str | os.PathLike, say: Callable[[str], None]) -> int:
    """Load the newest good backup of ``folder`` into ``model``; return the epochs it had done (0 if none).

    The optimizer is built first, so its slots are restored too.

    Args:
        model: The compiled model of the run.
        folder: The run's ``backup/``.
        say: Receives one line per backup that could not be used (and why).

    Raises:
        ValueError: Backups exist but none is usable (the message names each and why).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    cut_off = _interrupted_writes(folder)
    entries = read_manifest(folder)
    if not entries and (folder / _LEGACY_WEIGHTS).exists():
        return _legacy(model, folder)
    if not entries:  # cut off while writing the first backup: nothing was kept, the run starts over
        for epoch, temp in cut_off.items():
            temp.unlink(missing_ok=True)
            say(f"--resume: the backup of epoch {epoch} was being written when the run stopped and is "
                + "incomplete, and there is no earlier one; starting from the first epoch.")
        return 0
    problems = [f"the backup of epoch {e} was being written when the run stopped and is incomplete"
                for e in sorted(cut_off) if e > entries[-1]["epoch"]]
    for entry in reversed(entries):
        path = folder / entry["file"]
        try:
            verify_file(path, entry["sha256"], what="Backup")
            _load(model, path)
        except (ChecksumError, FileNotFoundError, ValueError) as err:
            reason = "missing" if isinstance(err, FileNotFoundError) else (
                "damaged: its SHA-256 differs from the one recorded when it was written"
                if isinstance(err, ChecksumError) else f"damaged: {err}")
            problems.append(f"the backup of epoch {entry['epoch']} ({path}) is {reason}")
            continue
        for temp in cut_off.values():
            temp.unlink(missing_ok=True)
        if problems:
            say(f"--resume: {'; '.join(problems)}. Resuming from the previous good backup, "
                + f"epoch {entry['epoch']} ({path}).")
        return int(entry["epoch"])
    raise ValueError(f"--resume: no usable backup in {folder}: {'; '.join(problems)}. "
                     + "Start the run again in another --run-dir.")


__all__ = ["KEEP", "MANIFEST", "STALL_ENV", "Backups", "backup_file", "read_manifest", "restore"]
