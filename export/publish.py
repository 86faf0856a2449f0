"""Atomic publishing of an export: staged in a hidden folder beside the target, renamed into place at the end."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

STAGING = ".{name}.partial-"


def check_free(paths: list[Path], overwrite: bool) -> None:
    """Raise ``FileExistsError`` if one of ``paths`` exists and ``overwrite`` is False."""
    for path in paths:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")


def staging_folder(target: Path) -> Path:
    """A fresh hidden folder name beside ``target`` (``.NAME.partial-PID-XXXXXXXX``), not yet created.

    Folders of the same pattern that a killed export left behind are removed
    first; the process id in the name spares those of exports still running.
    """
    prefix = STAGING.format(name=target.name)
    for leftover in target.parent.glob(prefix + "*"):
        pid = leftover.name[len(prefix):].split("-")[0]
        if not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)
    return target.with_name(f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return False  # os.kill(pid, 0) would end the process elsewhere
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def publish(moves: list[tuple[Path, Path]], overwrite: bool) -> None:
    """Rename each finished ``(staged, final)`` path into place.

    Existing finals (allowed only with ``overwrite``) are set aside first and
    removed once every new path is in; if a rename fails, they are put back.
    """
    check_free([final for _, final in moves], overwrite)
    old: list[tuple[Path, Path]] = []
    for _, final in moves:
        if final.exists() or final.is_symlink():
            old.append((final, final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")))
            final.rename(old[-1][1])
    done: list[Path] = []
    try:
        for staged, final in moves:
            staged.rename(final)
            done.append(final)
    except OSError:
        for final in done:
            _remove(final)
        for final, backup in old:
            backup.rename(final)
        raise
    for _, backup in old:
        _remove(backup)
