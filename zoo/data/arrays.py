"""Array files (``.npy``, ``.npz``, ``.csv``) and their splits, read without unpickling.

The split rule of files (``docs/training.md``): an ``.npz`` in ``keras.datasets`` layout
(``x_train``, ``y_train``, ``x_test``, ``y_test``) holds the splits ``train`` and ``test``
(``all`` is both, train first); any other file (``.npy``, ``.csv``, an ``.npz`` with ``x``
and optional ``y``, or one array) is unsplit: it is read whole as ``all``, and asking it for
``train`` or ``test`` is an error. A split that the file lacks is never replaced by another.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from zoo.data.images import magic

#: What ``split=`` / ``--split`` accept.
SPLITS = ("train", "test", "all")
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK\x03\x04"


def check_split(split: str | None) -> None:
    """Refuse a split that is not one of :data:`SPLITS` (None: the task's default)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")


def unsplit(path, split: str | None, what: str = "one unsplit array") -> str:
    """``"all"`` for data without splits, or the error for an explicit ``train``/``test`` request."""
    check_split(split)
    if split in ("train", "test"):
        raise ValueError(f"{path} holds {what} (no x_train/x_test), which is read whole as split 'all'. "
                         + f"Received: split={split!r}; drop --split or pass --split all.")
    return "all"


def _keras_layout(f, path: Path, split: str | None, default: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(x, y, split)`` of a ``keras.datasets``-layout archive: the split asked for, else the task's default."""
    held = [s for s in ("train", "test") if f"x_{s}" in f]
    want = split or default

    def part(name: str) -> tuple[np.ndarray, np.ndarray | None]:
        return f[f"x_{name}"], (f[f"y_{name}"] if f"y_{name}" in f else None)

    if want == "all":
        parts = [part(s) for s in held]
        labels = [y for _, y in parts]
        y = np.concatenate(labels) if all(v is not None for v in labels) else None
        return np.concatenate([x for x, _ in parts]), y, "all"
    if want not in held:
        asked = "Received: split=" + repr(want) if split else f"The {want} split is this task's default"
        raise ValueError(f"{path} has no {want} split: it holds x_{held[0]} only (keras.datasets layout). {asked}; "
                         + f"pass --split {held[0]} (API split={held[0]!r}) to read that one.")
    return (*part(want), want)


def _read_npz(path: Path, split: str | None, default: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    if magic(path, 4) != _ZIP_MAGIC:
        raise ValueError(f"{path} is not a NumPy .npz file (not a zip archive); save arrays with numpy.savez.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} is a damaged .npz file or holds Python objects: {err}") from None
    if "x" in arrays:
        return arrays["x"], arrays.get("y"), unsplit(path, split, "arrays x/y")
    if "x_train" in arrays or "x_test" in arrays:
        return _keras_layout(arrays, path, split, default)
    if len(arrays) == 1:
        return next(iter(arrays.values())), None, unsplit(path, split)
    raise ValueError(f"{path} holds arrays {sorted(arrays)}; name the data array 'x' (and labels 'y'), or use the "
                     + "keras.datasets layout (x_train, y_train, x_test, y_test).")


def _read_npy(path: Path) -> np.ndarray:
    if magic(path, 6) != _NPY_MAGIC:
        raise ValueError(f"{path} is not a NumPy .npy file (it does not start with the .npy header); "
                         + "save arrays with numpy.save.")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(f"{path} holds Python objects (dtype=object), not numbers; aezoo never "
                             + "unpickles data. Save a numeric array.") from None
        raise ValueError(f"{path} is a damaged .npy file: {err}") from None
    except (OSError, EOFError) as err:
        raise ValueError(f"{path} is a damaged or truncated .npy file: {err}") from None


def _read_csv(path: Path) -> np.ndarray:
    try:
        return np.loadtxt(path, delimiter=",", dtype="float32", ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path} is not a CSV file of numbers (one example per row): {err}") from None


def read_array_file(path: Path, split: str | None = None,
                    default: str = "all") -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(x, y or None, split read)`` from a ``.npy``, ``.npz`` or ``.csv`` file (the rule of the module docstring).

    Args:
        path: The file.
        split: ``"train"``, ``"test"``, ``"all"``, or None for the task's default.
        default: The split a ``keras.datasets``-layout file gives when ``split`` is None.

    Raises:
        ValueError: A file that is not what its suffix says, damaged, holding objects, or lacking the split.
    """
    check_split(split)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path, split, default)
    readers = {".npy": _read_npy, ".csv": _read_csv, ".txt": _read_csv}
    if suffix not in readers:
        raise ValueError(f"Unsupported data file {path.name}: expected .npy, .npz, .csv or an image folder.")
    return readers[suffix](path), None, unsplit(path, split)
