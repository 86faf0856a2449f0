"""Atomic writes: a file is either its old self or complete, never half written.

Every writer of the zoo (run folders and their backups, cards, detectors,
packs, encoded outputs, pictures) writes to a temporary file in the target's
folder, flushes it to disk (``fsync``) and renames it over the target
(``os.replace``, atomic on POSIX and Windows). A crash or a kill leaves at
worst a hidden ``.tmp-*`` file, never a truncated target. Error messages name
the target, never the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

#: Prefix of the temporary files (hidden; the target's own name follows, so its suffix still says its format).
TEMP_PREFIX = ".tmp-"


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk (folders: where the OS allows it)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # a folder cannot be opened on Windows; its rename is durable there anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders
    finally:
        os.close(fd)


def _renamed(err: BaseException, temp: Path, path: Path) -> BaseException:
    """``err`` with the temporary name replaced by the target's in its message (same type where possible)."""
    text = str(err)
    if str(temp) not in text and temp.name not in text:
        return err
    message = text.replace(str(temp), str(path)).replace(temp.name, path.name)
    try:
        return type(err)(message)
    except Exception:  # noqa: BLE001 - an exception type with another constructor keeps its own message
        return err


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write instead of ``path``; on success it replaces ``path`` atomically.

    The temporary file lies in ``path``'s folder (a rename never crosses file
    systems) and ends with ``path``'s name, so writers that choose a format by
    suffix (``model.save``, ``np.save``, ``savefig``) see the same suffix. On an
    error it is removed and ``path`` is left as it was.

    Args:
        path: The file to write; its folder is created if needed.

    Yields:
        The temporary path to write.

    Example:
        >>> with atomic_path("run/model.keras") as tmp:
        ...     model.save(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f"{TEMP_PREFIX}{secrets.token_hex(4)}-{path.name}"
    try:
        yield temp
        if not temp.exists():
            raise FileNotFoundError(f"Nothing was written to {path}.")
        _fsync(temp)
        os.replace(temp, path)
        _fsync(path.parent)
    except BaseException as err:
        with contextlib.suppress(OSError):
            temp.unlink()
        renamed = _renamed(err, temp, path)
        if renamed is err:
            raise
        raise renamed from None


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    with atomic_path(path) as temp:
        temp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    return write_bytes_atomic(path, text.encode(encoding))


def save_atomic(path: str | os.PathLike, save: Callable[[Path], object]) -> Path:
    """Call ``save(temporary_path)`` and move the result to ``path`` atomically.

    Args:
        path: The file to write.
        save: A writer taking a path, e.g. ``model.save``, ``model.save_weights``,
            ``figure.savefig`` or ``lambda p: np.save(p, x)``.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    with atomic_path(path) as temp:
        save(temp)
    return Path(path)


def save_array(path: str | os.PathLike, array) -> Path:
    """Write ``array`` as ``.npy`` to exactly ``path``, atomically.

    ``np.save`` given a name would add ``.npy`` to one without it, so a message
    naming ``path`` would name a file that does not exist; a file object keeps the name.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import numpy as np

    def write(temp: Path) -> None:
        with open(temp, "wb") as f:
            np.save(f, np.asarray(array), allow_pickle=False)

    return save_atomic(path, write)


def save_arrays(path: str | os.PathLike, arrays: dict) -> Path:
    """Write ``arrays`` (name -> array) as an ``.npz`` to exactly ``path``, atomically (see :func:`save_array`)."""
    import numpy as np

    def write(temp: Path) -> None:
        with open(temp, "wb") as f:
            np.savez(f, **arrays)

    return save_atomic(path, write)


def save_figure(figure, path: str | os.PathLike, **kwargs) -> Path:
    """``figure.savefig`` to exactly ``path``, atomically; a name without a suffix gets PNG bytes, not ``.png`` added.

    Args:
        figure: A matplotlib figure.
        path: The picture to write; its suffix chooses the format.
        **kwargs: More ``savefig`` arguments (``dpi``).
    """
    kind = Path(path).suffix[1:].lower() or "png"
    return save_atomic(path, lambda temp: figure.savefig(temp, format=kind, **kwargs))


__all__ = ["TEMP_PREFIX", "atomic_path", "save_array", "save_arrays", "save_atomic", "save_figure",
           "write_bytes_atomic", "write_text_atomic"]
