"""The one timer: per-call wall times of a function, and per-epoch wall times of ``fit``.

Benchmarks, the quickstart and training runs all time through here, so "a
timed call" and "an epoch's time" mean the same thing everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import keras


def time_calls(fn: Callable[[], object], warmup: int = 2, min_iters: int = 5, max_iters: int = 200,
               min_seconds: float = 0.5) -> list[float]:
    """Seconds per call of ``fn`` after ``warmup`` untimed calls.

    Calls at least ``min_iters`` times, then keeps going until ``min_seconds``
    have passed or ``max_iters`` calls were made.

    Args:
        fn: The call to time (its result is discarded).
        warmup: Untimed calls first (compilation, caches).
        min_iters: Fewest timed calls.
        max_iters: Most timed calls.
        min_seconds: Keep timing until this much time has passed.

    Returns:
        One wall time (seconds) per timed call, in order.
    """
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_iters or (len(times) < max_iters and time.perf_counter() - start < min_seconds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


class EpochTimer(keras.callbacks.Callback):
    """Adds ``epoch_time_s`` (wall seconds) to each epoch's logs and keeps the list in ``times``.

    Example:
        >>> timer = EpochTimer()
        >>> model.fit(x, epochs=3, callbacks=[timer])
        >>> timer.times  # three wall times, in seconds
    """

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._start
        self.times.append(seconds)
        if logs is not None:
            logs["epoch_time_s"] = seconds
