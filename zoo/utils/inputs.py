"""The input contract: how any data becomes model input, for every ``Autoencoder`` entry point and CLI command.

One function, :func:`as_model_input`, decides it (``docs/training.md`` has the table):

- **dtype**: ``uint8`` pixels are scaled by 1/255. Other integer dtypes are read as
  pixels too (``np.array`` of Python ints gives ``int64``) and scaled by the same
  rule when every value lies in 0..255; any other integer range is refused, since
  a 0..65535 or a label array has no single right scaling. Floats are checked
  against the model's range: ``[0, 1]`` for sigmoid/BCE families, any finite value
  for ``reconstruction="mse"`` models. Booleans, strings, objects and complex
  numbers are refused.
- **shape**: ``(n, *expected)``; a missing or extra trailing channel axis of size 1
  (``(n, h, w)`` for ``(h, w, 1)``, and the reverse) is accepted. Anything else is
  refused, never silently reshaped, even when the number of values matches.
- **content**: empty data, NaN and infinity are refused.
- **containers**: Python lists and tuples are converted; tensors of any backend are
  read as numpy. ``tf.data`` datasets have their element spec checked (and ``uint8``
  or channel-less batches adapted inside the pipeline); a ``keras.utils.PyDataset``
  has its first batch checked; generators pass through unchecked.

Every refusal is a ``ValueError`` that says what was received and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The value range of sigmoid/BCE families' inputs.
UNIT_RANGE = (0.0, 1.0)
#: Integer data are pixels in 0..PIXEL_MAX, scaled by 1 / PIXEL_MAX.
PIXEL_MAX = 255
#: Float rounding allowed beyond the ends of a range (1.0000001 is still 1).
_RANGE_SLACK = 1e-6


def _pretty(expected: Sequence[int | None]) -> str:
    return "(batch, " + ", ".join("?" if d is None else str(d) for d in expected) + ")"


def _channel_variants(expected: tuple) -> list[tuple]:
    """Per-example shapes accepted for ``expected``: itself, and with or without a trailing axis of 1."""
    variants = [expected]
    if len(expected) == 3 and expected[-1] == 1:
        variants.append(expected[:2])
    if len(expected) == 2:
        variants.append((*expected, 1))
    return variants


def _matches(shape: tuple, expected: tuple) -> bool:
    return len(shape) == len(expected) and all(
        e is None or s is None or int(s) == int(e) for s, e in zip(shape, expected, strict=True))


def check_input_shape_of(shape: Sequence[int | None], expected: Sequence[int | None] | None, what: str) -> tuple:
    """The per-example shape ``shape[1:]`` must take to reach ``expected`` (``expected`` itself), or raise.

    Args:
        shape: The data's full shape, batch axis first.
        expected: The per-example shape the model takes, or None to accept any.
        what: What the data is for, used in the message (e.g. ``"encode"``).

    Returns:
        The per-example shape to reshape to (``expected``, or ``shape[1:]`` when ``expected`` is None).
    """
    shape = tuple(shape)
    if expected is None:
        if len(shape) < 2:
            raise ValueError(f"{what}: expected data with a batch axis first, shape (batch, ...). "
                             + f"Received: shape={shape}")
        return shape[1:]
    expected = tuple(expected)
    if len(shape) >= 1 and any(_matches(shape[1:], v) for v in _channel_variants(expected)):
        return expected
    accepted = " or ".join(_pretty(v) for v in _channel_variants(expected))
    hint = ""
    if any(_matches(shape, v) for v in _channel_variants(expected)):
        hint = "; this looks like one example without the batch axis: pass x[None]"
    elif None not in expected and len(shape) > 1 and int(np.prod(shape[1:])) == int(np.prod(expected)):
        hint = "; it has as many values per example but another layout, which is not reshaped for you"
    raise ValueError(f"{what}: expected data of shape {accepted}. Received: shape={shape}{hint}.")


def _fit_channel_axis(x, rank: int):
    """Add or drop the trailing channel axis of size 1 so that examples have ``rank`` axes."""
    have = len(x.shape) - 1
    if have < rank:
        return x[..., None] if isinstance(x, np.ndarray) else _tf().expand_dims(x, -1)
    if have > rank:
        return x[..., 0]
    return x


def _tf():
    import tensorflow as tf

    return tf


def _to_array(x, what: str) -> np.ndarray:
    """``x`` as a numpy array (lists, tuples, tensors of any backend), or a ValueError."""
    if isinstance(x, (str, bytes, dict)):
        raise ValueError(f"{what}: expected an array of numbers. Received: {type(x).__name__}")
    if isinstance(x, np.ndarray):
        return x
    try:
        if hasattr(x, "detach"):  # a torch tensor, possibly on a device or needing grad
            x = x.detach().cpu()
        array = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{what}: expected an array of numbers (nested lists of equal lengths). "
                         + f"Received: {type(x).__name__} that numpy cannot read as one ({err})") from None
    if array.dtype == object:
        raise ValueError(f"{what}: expected an array of numbers. Received: {type(x).__name__} of ragged or "
                         + "non-numeric items (numpy reads it as dtype=object)")
    return array


def _check_finite(x: np.ndarray, what: str) -> None:
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(f"{what}: data contains {int(x.size - finite.sum())} NaN or infinite value(s), "
                         + f"the first at index {tuple(int(i) for i in bad)}; clean it first.")


def _scale(x: np.ndarray, what: str, pixels: bool, value_range: tuple[float, float] | None) -> np.ndarray:
    """The float32 values the model sees, after the dtype and range rules of the module docstring."""
    dtype = x.dtype
    if dtype == np.bool_:
        raise ValueError(f"{what}: expected numbers. Received: dtype=bool; convert it with x.astype('float32').")
    if np.issubdtype(dtype, np.integer):
        if not pixels:
            return x.astype(np.float32)
        if dtype != np.uint8:
            low, high = int(x.min()), int(x.max())
            if low < 0 or high > PIXEL_MAX:
                raise ValueError(
                    f"{what}: integer data are read as pixels in 0..{PIXEL_MAX} (scaled by 1/{PIXEL_MAX}). "
                    + f"Received: dtype={dtype} with values in [{low}, {high}]; scale it to floats yourself.")
        return x.astype(np.float32) / np.float32(PIXEL_MAX)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"{what}: expected integer pixels or floats. Received: dtype={dtype}")
    x = x.astype(np.float32, copy=False)
    _check_finite(x, what)
    if value_range is not None:
        low, high = float(x.min()), float(x.max())
        if low < value_range[0] - _RANGE_SLACK or high > value_range[1] + _RANGE_SLACK:
            raise ValueError(
                f"{what}: float data must lie in [{value_range[0]:g}, {value_range[1]:g}] for sigmoid/BCE models. "
                + f"Received range [{low:.4g}, {high:.4g}] (dtype={dtype}); scale it first (uint8 pixels are "
                + "scaled for you), or use a model with reconstruction='mse'.")
    return x


def _adapt_dataset(ds, expected, what: str, pixels: bool):
    """A ``tf.data`` dataset checked against ``expected``, with uint8 scaling and a channel axis added inside it."""
    import tensorflow as tf

    spec = ds.element_spec
    paired = isinstance(spec, (tuple, list))
    first = spec[0] if paired else spec
    if not hasattr(first, "shape"):
        raise ValueError(f"{what}: expected a dataset of arrays. Received: element_spec={spec}")
    target = check_input_shape_of(tuple(first.shape), expected, what)
    dtype = first.dtype
    if dtype.is_bool or not (dtype.is_integer or dtype.is_floating):
        raise ValueError(f"{what}: expected integer pixels or floats. Received: a dataset of dtype={dtype.name}")
    needs_reshape = len(first.shape) - 1 != len(target)
    if not (needs_reshape or dtype.is_integer):
        return ds

    def fix(x):
        if dtype.is_integer:
            x = tf.cast(x, tf.float32) / (PIXEL_MAX if pixels else 1)
        return _fit_channel_axis(x, len(target)) if needs_reshape else x

    if paired:
        # Targets like the inputs (an autoencoder's (x, x) pairs) are adapted alike; others pass as given.
        same = [getattr(t, "shape", None) == first.shape and getattr(t, "dtype", None) == dtype for t in spec[1:]]
        return ds.map(lambda x, *rest: (fix(x), *(fix(t) if s else t for t, s in zip(rest, same, strict=True))))
    return ds.map(fix)


def _check_pydataset(data, expected, what: str, pixels: bool, value_range) -> None:
    """Check a ``PyDataset``'s first batch (it is indexed, so reading it consumes nothing)."""
    try:
        batch = data[0]
    except IndexError:
        raise ValueError(f"{what}: the dataset {type(data).__name__} yields no batches.") from None
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    as_model_input(batch, expected, what=f"{what} (first batch of {type(data).__name__})", pixels=pixels,
                   value_range=value_range)


def as_model_input(x, expected: Sequence[int | None] | None, *, what: str = "input", pixels: bool = True,
                   value_range: tuple[float, float] | None = UNIT_RANGE):
    """Data as the model takes it, or a ``ValueError`` that says what was received and what was expected.

    Args:
        x: A numpy array, a (nested) list, a tensor of any backend, a ``tf.data``
            dataset, a ``keras.utils.PyDataset`` or a generator.
        expected: Per-example shape without the batch axis (None entries match any size),
            or None to accept any shape with a batch axis.
        what: What the data is for, named in messages (``"encode"``, ``"--dataset my.npy"``).
        pixels: Integer data are pixels (scaled by 1/255). False for codes (cast to float32).
        value_range: Allowed range of float data, or None for any finite value.

    Returns:
        A float32 numpy array of shape ``(n, *expected)`` (never the caller's array
        modified in place); a ``tf.data`` dataset adapted the same way; other streams unchanged.

    Example:
        >>> as_model_input(np.zeros((2, 28, 28), "uint8"), (28, 28, 1)).shape
        (2, 28, 28, 1)
    """
    if x is None:
        raise ValueError(f"{what}: received None; expected data of shape "
                         + f"{_pretty(expected) if expected is not None else '(batch, ...)'}.")
    if hasattr(x, "element_spec"):
        return _adapt_dataset(x, expected, what, pixels)
    if any(cls.__name__ == "PyDataset" for cls in type(x).__mro__):
        _check_pydataset(x, expected, what, pixels, value_range)
        return x
    if callable(getattr(x, "__next__", None)):
        return x  # a generator: checking it would consume it
    array = _to_array(x, what)
    target = check_input_shape_of(array.shape, expected, what)
    if array.size == 0:
        raise ValueError(f"{what}: received no data (shape={array.shape}); expected at least one example "
                         + f"of shape {target}.")
    return _fit_channel_axis(_scale(array, what, pixels, value_range), len(target))


__all__ = ["PIXEL_MAX", "UNIT_RANGE", "as_model_input", "check_input_shape_of"]
