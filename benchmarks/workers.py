"""One process per Keras backend, driven in turns by the run that owns them.

``KERAS_BACKEND`` is fixed at Keras' first import, so a benchmark over several
backends starts a worker per backend (``python -m benchmarks.workers`` with that
backend in its environment), or uses its own process for the backend it already
runs. Workers build *cells* (one configuration each: a model, batch size,
runtime...; see :mod:`benchmarks.cells`), warm them up, and time one round of a
cell per request, so the owner can interleave all cells of all backends
round by round and a shared machine's drift hits them alike.

The protocol (one JSON object per line) is :mod:`benchmarks.protocol`; the
requests a worker answers are registered in ``benchmarks.cells.OPS``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from benchmarks.cells import OPS
from benchmarks.protocol import ProcessWorker, serve


class LocalWorker:
    """The worker protocol served by this process (for the backend it already runs)."""

    def __init__(self, backend: str, device: str):
        self.backend, self.state = backend, {"backend": backend}
        self.setup = self.call("setup", device=device)

    def call(self, op: str, **kwargs) -> dict:
        """Run request ``op`` with ``kwargs``; its reply."""
        return OPS.answer({"op": op, **kwargs}, self.state)

    def close(self) -> None:
        self.state.clear()


def open_workers(backends: Sequence[str], device: str, threads: int | None = None) -> dict:
    """A worker per backend: this process for its own Keras backend (when Keras is loaded), processes otherwise.

    With ``threads``, every backend gets a process, started with that many CPU threads.
    """
    own = None
    if "keras" in sys.modules and not threads:
        own = sys.modules["keras"].backend.backend()
    workers = {}
    try:
        for backend in backends:
            workers[backend] = (LocalWorker(backend, device) if backend == own
                                else ProcessWorker(backend, device, threads))
    except BaseException:
        close_workers(workers)
        raise
    return workers


def close_workers(workers: dict) -> None:
    """Close every worker (processes exit)."""
    for worker in workers.values():
        worker.close()


def main() -> None:
    """The worker side (``python -m benchmarks.workers``): answer the cells' requests until ``exit``."""
    state = {"backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    serve(lambda request: OPS.answer(request, state))


if __name__ == "__main__":
    main()
