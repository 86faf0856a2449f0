"""One process per Keras backend, driven in turns by the run that owns them.

``KERAS_BACKEND`` is fixed at Keras' first import, so a benchmark over several
backends starts a worker per backend (``python -m benchmarks.workers`` with that
backend in its environment), or uses its own process for the backend it already
runs. Workers build *cells* (one configuration each: a model, batch size,
runtime...; see :mod:`benchmarks.cells`), warm them up, and time one round of a
cell per request, so the owner can interleave all cells of all backends
round by round and a shared machine's drift hits them alike.

The protocol is one JSON object per line: requests on the worker's stdin,
replies on the file descriptor that was its stdout (the worker sends its own
and its libraries' prints to stderr).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Sequence

from benchmarks.backends import worker_env


class WorkerError(RuntimeError):
    """A worker failed a request; the message is its error's last line."""


def _handle(state: dict, request: dict) -> dict:
    from benchmarks import cells

    op = request.pop("op")
    handler = getattr(cells, f"op_{op}", None)
    if handler is None:
        raise ValueError(f"Unknown worker request {op!r}.")
    return handler(state, **request)


class LocalWorker:
    """The worker protocol served by this process (for the backend it already runs)."""

    def __init__(self, backend: str, device: str):
        self.backend, self.state = backend, {"backend": backend}
        self.setup = self.call("setup", device=device)

    def call(self, op: str, **kwargs) -> dict:
        """Run request ``op`` with ``kwargs``; its reply."""
        return _handle(self.state, {"op": op, **kwargs})

    def close(self) -> None:
        self.state.clear()


class ProcessWorker:
    """A worker process for ``backend`` on ``device`` (``cpu`` hides every GPU from it)."""

    def __init__(self, backend: str, device: str, threads: int | None = None):
        self.backend = backend
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.workers"],
                                        env=worker_env(backend, device, threads),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.setup = self.call("setup", device=device)

    def call(self, op: str, **kwargs) -> dict:
        """Send request ``op``; wait for its reply.

        Raises:
            WorkerError: The worker reported an error, or died.
        """
        self.process.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"The {self.backend} worker exited (code {self.process.wait()}); its log is above.")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"{self.backend} worker: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("exit")
            except (WorkerError, OSError, ValueError):
                pass
            self.process.wait(timeout=60)


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


def serve() -> None:
    """The worker side: answer requests from stdin until ``exit``; errors are replies, not crashes."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # everything else printed, by Python or C libraries, goes to the log
    sys.stdout = sys.stderr
    state = {"backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "exit":
            replies.write(json.dumps({"ok": True}) + "\n")
            return
        try:
            reply = _handle(state, request)
        except Exception as err:  # noqa: BLE001 - reported to the owner, which raises it
            traceback.print_exc()
            reply = {"error": f"{type(err).__name__}: {err}".splitlines()[0]}
        replies.write(json.dumps(reply, default=float) + "\n")


if __name__ == "__main__":
    serve()
