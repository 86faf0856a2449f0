"""Argument and data validation shared by builders, models and the CLI.

Every error names the value received and what was expected, so a user can fix
the call without reading the source.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import numpy as np


def unknown_name_error(kind: str, name: str, known: list[str]) -> ValueError:
    """A ``ValueError`` for an unknown name that lists the close matches (or all names when none is close)."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Known {kind}s: {', '.join(known)}."
    return ValueError(f"Unknown {kind} {name!r}.{hint}")


def _check_number(name: str, value: float, ok, expected: str) -> float:
    """Return ``value`` as a float if it is a real number satisfying ``ok``, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    if not (np.isfinite(value) and ok(float(value))):
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    return float(value)


def check_non_negative(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise if it is negative or not finite."""
    return _check_number(name, value, lambda v: v >= 0, "a finite number >= 0")


def check_open_unit(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise unless 0 < value < 1."""
    return _check_number(name, value, lambda v: 0.0 < v < 1.0, "strictly between 0 and 1")


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise unless 0 <= value < 1."""
    return _check_number(name, value, lambda v: 0.0 <= v < 1.0, "in [0, 1)")


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` as an int, or raise unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    return int(value)


def check_int_tuple(name: str, value: Sequence[int], allow_empty: bool = True) -> tuple[int, ...]:
    """Return ``value`` as a tuple of positive ints, or raise."""
    if isinstance(value, (int, str)) or not isinstance(value, Sequence):
        raise ValueError(f"`{name}` must be a sequence of integers >= 1. Received: {name}={value!r}")
    items = tuple(value)
    if not allow_empty and not items:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)) or item < 1:
            raise ValueError(f"`{name}` must contain integers >= 1. Received: {name}={value!r}")
    return tuple(int(i) for i in items)


def check_input_shape(value: Sequence[int]) -> tuple[int, ...]:
    """Return a per-sample input shape (no batch axis) as a tuple of positive ints."""
    shape = check_int_tuple("input_shape", value, allow_empty=False)
    if len(shape) not in (1, 2, 3):
        raise ValueError(
            "`input_shape` must be (features,), (height, width) or (height, width, channels), "
            + f"without the batch axis. Received: input_shape={tuple(value)!r}"
        )
    return shape


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``, or raise listing them."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {sorted(choices)}. Received: {name}={value!r}")
    return value


def check_shape(shape: Sequence[int | None], expected: Sequence[int | None], what: str) -> None:
    """Raise unless ``shape`` is a batch axis followed by ``expected`` (``None`` matches anything)."""
    shape, want = tuple(shape), tuple(expected)
    ok = len(shape) == len(want) + 1 and all(
        w is None or s is None or int(s) == int(w) for s, w in zip(shape[1:], want, strict=True)
    )
    if not ok:
        pretty = "(batch, " + ", ".join("?" if w is None else str(w) for w in want) + ")"
        raise ValueError(f"{what}: expected data of shape {pretty}. Received: shape={shape}")


def check_batch(x, expected: Sequence[int | None], what: str) -> None:
    """Check a batch's rank, per-sample shape and finiteness before it reaches Keras.

    Args:
        x: An array-like batch with a leading batch axis (numpy, tensor or list).
        expected: The per-sample shape expected, without the batch axis.
        what: What the batch is for, used in the message (e.g. ``"encode"``).

    Raises:
        ValueError: If the shape does not match or the data holds NaN or inf.
    """
    check_shape(tuple(getattr(x, "shape", np.shape(x))), expected, what)
    raw = getattr(x, "dtype", None)
    dtype = np.dtype(getattr(raw, "as_numpy_dtype", raw)) if raw is not None else np.asarray(x).dtype
    if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
        raise ValueError(f"{what}: expected numeric data. Received: dtype={dtype}")
    if isinstance(x, np.ndarray) and np.issubdtype(dtype, np.floating) and not np.isfinite(x).all():
        bad = int(np.size(x) - np.isfinite(x).sum())
        raise ValueError(f"{what}: data contains {bad} NaN or infinite values; clean it first.")
