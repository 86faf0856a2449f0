"""Data-parallel training with the engines of the active Keras backend, chosen by name.

aezoo has no distribution layer of its own; :func:`setup` picks an engine:

=============  ==========================================  ==============================================
``distribute``  TensorFlow backend                          JAX backend
=============  ==========================================  ==============================================
``none``        one device                                  one device
``mirrored``    ``tf.distribute.MirroredStrategy``: every   ``keras.distribution.DataParallel`` over every
                GPU of this machine (or every logical CPU   local device
                device when there is no GPU)
``multi_worker`` ``tf.distribute.MultiWorkerMirroredStrategy`` ``jax.distributed.initialize`` (coordinator from
                (cluster from ``TF_CONFIG``)                ``KERAS_DISTRIBUTION_*``), then DataParallel
=============  ==========================================  ==============================================

PyTorch's backend has no engine here. The global batch is what the user asked for;
each step splits it evenly over the replicas, so it must divide by their number.
What stays global under each engine (losses, batch statistics such as the KL
sparsity's mean activation) is :mod:`zoo.models.backend`'s part; see ``docs/distributed.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field

from zoo.models import backend

ENGINES = ("none", "mirrored", "multi_worker")
#: Seconds a worker waits for the others before it gives up (``--distribute-timeout``).
DEFAULT_TIMEOUT_S = 300.0
#: The environment variables of a JAX cluster (Keras' own names, read by ``keras.distribution.initialize``).
JAX_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
           "KERAS_DISTRIBUTION_PROCESS_ID")


#: What the watchdog process runs: wait, then say why and end the worker (SIGKILL: a process blocked
#: in the runtime handles no other signal).
_WATCHDOG = ("import os, signal, sys, time; time.sleep(float(sys.argv[1])); "
             + "sys.stderr.write('aezoo: error: ' + sys.argv[3] + '\\n'); sys.stderr.flush(); "
             + "os.kill(int(sys.argv[2]), signal.SIGKILL)")


#: The MirroredStrategy of each device set, created once per process.
_MIRRORED: dict[tuple, object] = {}


@contextlib.contextmanager
def _watchdog(message: str, timeout: float):
    """End this process with ``message`` on stderr unless the block finishes within ``timeout`` seconds.

    Joining a cluster blocks inside TensorFlow's or XLA's runtime, holding the
    interpreter: no Python thread, signal handler or exception can interrupt it.
    A small watchdog process does instead, so a worker never hangs forever.
    """
    try:  # Python's stderr, which may differ from descriptor 2 (the CLI silences native logs there)
        err = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        err = None
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(timeout), str(os.getpid()), message],
                                stdin=subprocess.DEVNULL, stderr=err)
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()


@dataclass
class Distribution:
    """The engine a run trains with, and where this process stands in it.

    Attributes:
        engine: One of :data:`ENGINES`.
        backend: The Keras backend.
        replicas: Devices the global batch is split over (all workers together).
        workers: Processes taking part (1 unless ``multi_worker``).
        worker_index: This process's index among them (0 is the chief).
        strategy: The ``tf.distribute`` strategy (TensorFlow), else None.
    """

    engine: str = "none"
    backend: str = field(default_factory=backend.name)
    replicas: int = 1
    workers: int = 1
    worker_index: int = 0
    strategy: object = None

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run folder (worker 0)."""
        return self.worker_index == 0

    def scope(self):
        """The context to build and compile the model in (the strategy's scope under TensorFlow)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> dict:
        """What ``run.json`` and the card record: engine, backend, replicas, workers."""
        return {"engine": self.engine, "backend": self.backend, "replicas": self.replicas,
                "workers": self.workers}

    def process_share(self, x, batch_size: int):
        """This process's examples and batch: all of them, except in a multi-process JAX run.

        ``tf.distribute`` shards the global batches of every worker's pipeline itself;
        a JAX process feeds its own part of each global batch (``batch_size / workers``
        examples, from every ``workers``-th example), which Keras assembles into one array.
        """
        if self.backend != "jax" or self.workers == 1:
            return x, batch_size
        if hasattr(x, "pipeline"):
            raise ValueError("distribute=multi_worker under JAX takes in-memory data (a dataset name or "
                             + "an array file); streamed folders train multi-worker under TensorFlow.")
        if batch_size % self.workers:
            raise ValueError(f"The global batch size must divide by the number of processes ({self.workers}). "
                             + f"Received: batch_size={batch_size}")
        return x[self.worker_index::self.workers], batch_size // self.workers

    def check_batch_size(self, batch_size: int) -> None:
        """Refuse a global batch that does not split evenly over the replicas (one-line message)."""
        if batch_size % self.replicas:
            lower = batch_size - batch_size % self.replicas
            nearest = [n for n in (lower, lower + self.replicas) if n > 0]
            raise ValueError(
                f"The global batch size must divide by the number of replicas ({self.replicas}, "
                + f"distribute={self.engine}). Received: batch_size={batch_size}; nearest valid: "
                + f"{' or '.join(map(str, nearest))}.")


def setup(engine: str = "none", *, timeout: float = DEFAULT_TIMEOUT_S, replicas: int | None = None) -> Distribution:
    """Start the engine ``engine`` for the active backend (before any model is built).

    Args:
        engine: ``"none"``, ``"mirrored"`` or ``"multi_worker"``.
        timeout: Seconds ``multi_worker`` waits for every worker to join.
        replicas: ``mirrored`` only: use the first ``replicas`` local devices (default all).

    Returns:
        The :class:`Distribution` to build, compile and train under. A ``multi_worker``
        process that cannot reach the others within ``timeout`` prints
        ``aezoo: error: ...`` and is killed (SIGKILL: it cannot be interrupted there).

    Raises:
        ValueError: An unknown engine, a backend without one, or a missing or invalid
            cluster description (``TF_CONFIG``, ``KERAS_DISTRIBUTION_*``).
    """
    if engine not in ENGINES:
        raise ValueError(f"`distribute` must be one of {', '.join(ENGINES)}. Received: distribute={engine!r}")
    if not timeout or timeout <= 0:
        raise ValueError(f"The distribution timeout must be > 0 seconds. Received: timeout={timeout!r}")
    if engine == "none":
        return Distribution()
    name = backend.name()
    if name == "tensorflow":
        return _setup_tf(engine, timeout, replicas)
    if name == "jax":
        return _setup_jax(engine, timeout, replicas)
    raise ValueError(f"distribute={engine} needs the tensorflow or jax Keras backend (tf.distribute, "
                     + f"keras.distribution); the {name} backend trains on one device (distribute=none).")


def _first(devices: list, replicas: int | None) -> list:
    """The first ``replicas`` of ``devices`` (all when None); more than there are is an error."""
    if replicas is not None and not 1 <= replicas <= len(devices):
        raise ValueError(f"distribute=mirrored with {replicas} replicas needs as many local devices; "
                         + f"this process has {len(devices)}. Received: replicas={replicas}")
    return devices[:replicas]


def _setup_tf(engine: str, timeout: float, replicas: int | None = None) -> Distribution:
    import tensorflow as tf

    if engine == "mirrored":
        local = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        devices = tuple(d.name for d in _first(local, replicas))
        # One strategy per process and device set: a second MirroredStrategy's collectives clash with
        # the first's in TensorFlow's runtime ("Shape mismatch in the collective instance").
        strategy = _MIRRORED.get(devices) or _MIRRORED.setdefault(devices, tf.distribute.MirroredStrategy(devices))
        return Distribution(engine=engine, replicas=strategy.num_replicas_in_sync, strategy=strategy)
    cluster, kind, task = parse_tf_config(os.environ.get("TF_CONFIG"))
    jobs = [j for j in ("chief", "worker") if cluster.get(j)]
    workers = sum(len(cluster[j]) for j in jobs)
    index = task + (len(cluster.get("chief") or []) if kind == "worker" else 0)
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    with _watchdog(f"Worker {index} of {workers} ({kind}:{task}) could not reach the other workers of "
                   + f"TF_CONFIG ({', '.join(sum((cluster[j] for j in jobs), []))}) within {timeout:g} s; "
                   + "start every worker, check the addresses, or raise --distribute-timeout.", timeout):
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        # A first all-reduce: returns only once every worker has joined.
        strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
    return Distribution(engine=engine, replicas=strategy.num_replicas_in_sync, workers=workers,
                        worker_index=index, strategy=strategy)


def _setup_jax(engine: str, timeout: float, replicas: int | None = None) -> Distribution:
    import jax
    import keras

    workers, index = 1, 0
    if engine == "multi_worker":
        missing = [v for v in JAX_ENV if not os.environ.get(v)]
        if missing:
            raise ValueError(
                "distribute=multi_worker under JAX needs the cluster in the environment: "
                + f"{', '.join(missing)} not set (e.g. KERAS_DISTRIBUTION_JOB_ADDRESSES=host0:1234, "
                + "KERAS_DISTRIBUTION_NUM_PROCESSES=2, KERAS_DISTRIBUTION_PROCESS_ID=0).")
        try:
            workers = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"])
            index = int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
        except ValueError as err:
            raise ValueError(f"KERAS_DISTRIBUTION_NUM_PROCESSES and _PROCESS_ID must be integers ({err}).") from None
        if not 0 <= index < workers:
            raise ValueError(f"KERAS_DISTRIBUTION_PROCESS_ID must be in [0, {workers}). Received: {index}")
        coordinator = os.environ["KERAS_DISTRIBUTION_JOB_ADDRESSES"].split(",")[0]
        with _watchdog(f"Worker {index} of {workers} could not reach the JAX coordinator {coordinator} "
                       + f"within {timeout:g} s; start every process, check the address, or raise "
                       + "--distribute-timeout.", timeout):
            jax.distributed.initialize(coordinator_address=coordinator, num_processes=workers,
                                       process_id=index, initialization_timeout=int(max(1, timeout)))
    devices = jax.devices() if engine == "multi_worker" else _first(jax.devices(), replicas)
    # Each process feeds its own share of the data (Distribution.process_share), so Keras' tf.data-only
    # auto-sharding stays off.
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    return Distribution(engine=engine, replicas=len(devices), workers=workers, worker_index=index)


def teardown(dist: Distribution) -> None:
    """Undo what :func:`setup` set globally (the JAX distribution), so later runs train on one device."""
    if dist.backend == "jax" and dist.engine != "none":
        import keras

        keras.distribution.set_distribution(None)


def parse_tf_config(text: str | None) -> tuple[dict, str, int]:
    """Check a ``TF_CONFIG`` value; returns its cluster, this task's type and index.

    Raises:
        ValueError: What is missing or wrong, in one line.
    """
    example = ('{"cluster": {"worker": ["host0:12345", "host1:12345"]}, '
               + '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise ValueError(f"distribute=multi_worker needs the TF_CONFIG environment variable, e.g. {example}")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}). Expected e.g. {example}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not any(cluster.get(j) for j in ("chief", "worker")):
        raise ValueError(f"TF_CONFIG has no cluster with a \"worker\" (or \"chief\") list. Expected e.g. {example}")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise ValueError(f"TF_CONFIG has no \"task\" with \"type\" and \"index\". Expected e.g. {example}")
    kind, index = task["type"], task["index"]
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ValueError(f"TF_CONFIG's task {kind}:{index} is not in its cluster {cluster}.")
    return cluster, kind, index
