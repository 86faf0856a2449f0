"""The worker protocol: one JSON object per line, requests on a worker's stdin, replies on its stdout.

A worker is a process that answers requests by name (``{"op": "build", ...}``)
from a :class:`Requests` registry, filled where the requests' functions are
defined. The owner starts it as a :class:`ProcessWorker` and calls it in turns;
:func:`serve` is the worker's loop. The worker sends its own and its libraries'
prints to stderr, so stdout carries nothing but replies. ``benchmarks.workers``
(the Keras-backend cells) and ``benchmarks.tae_worker`` (the Tiny AutoEncoder's
runtimes) speak it.

Nothing here imports Keras or a framework: a worker that loads only onnxruntime
or LiteRT stays free of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Sequence

from benchmarks.backends import worker_env


class WorkerError(RuntimeError):
    """A worker failed a request; the message is its error's last line."""


class Requests(dict):
    """Request name -> the function answering it; :meth:`register` fills it where the functions are defined.

    Example:
        >>> OPS = Requests()
        >>> @OPS.register("ping")
        ... def ping(state: dict) -> dict:
        ...     return {"ok": True}
        >>> OPS.answer({"op": "ping"}, {})
        {'ok': True}
    """

    def register(self, name: str) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
        """A decorator registering its function as the answer to request ``name`` (each name once)."""
        def add(fn: Callable[..., dict]) -> Callable[..., dict]:
            if name in self:
                raise ValueError(f"Worker request {name!r} is registered already (by {self[name].__name__}).")
            self[name] = fn
            return fn

        return add

    def answer(self, request: dict, *args) -> dict:
        """The reply to ``request``: its function called with ``args`` then the request's other fields."""
        request = dict(request)
        op = request.pop("op", None)
        if op not in self:
            raise ValueError(f"Unknown worker request {op!r}. Expected one of: {', '.join(sorted(self))}.")
        return self[op](*args, **request)


class ProcessWorker:
    """A worker process for ``backend`` on ``device`` (``cpu`` hides every GPU from it), set up on start.

    Args:
        backend: The Keras backend of its environment (``KERAS_BACKEND``).
        device: ``cpu`` or ``gpu``; sent with the ``setup`` request.
        threads: CPU threads of its frameworks (None: their own choice).
        command: What ``python`` runs (default: ``-m benchmarks.workers``).
        setup: More fields of the ``setup`` request.
    """

    def __init__(self, backend: str, device: str, threads: int | None = None,
                 command: Sequence[str] = ("-m", "benchmarks.workers"), setup: dict | None = None):
        self.backend = backend
        self.process = subprocess.Popen([sys.executable, *command], env=worker_env(backend, device, threads),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.setup = self.call("setup", device=device, **(setup or {}))

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
        """Ask the worker to exit, and wait for it."""
        if self.process.poll() is None:
            try:
                self.call("exit")
            except (WorkerError, OSError, ValueError):
                pass
            self.process.wait(timeout=60)


def serve(answer: Callable[[dict], dict]) -> None:
    """The worker side: reply to each request on stdin with ``answer(request)`` until ``exit``.

    Errors are replies (their last line), not crashes; the traceback goes to the log.
    """
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # everything else printed, by Python or C libraries, goes to the log
    sys.stdout = sys.stderr
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "exit":
            replies.write(json.dumps({"ok": True}) + "\n")
            return
        try:
            reply = answer(request)
        except Exception as err:  # noqa: BLE001 - reported to the owner, which raises it
            traceback.print_exc()
            reply = {"error": f"{type(err).__name__}: {err}".splitlines()[0][:500]}
        replies.write(json.dumps(reply, default=float) + "\n")
