"""Data-parallel training: two replicas against one device, a real two-worker run, and bad input.

The replica comparisons run in subprocesses (``tests/distribute_worker.py``) because
logical devices must be configured before the backend initialises: two logical CPU
devices under TensorFlow (``MirroredStrategy``), ``--xla_force_host_platform_device_count=2``
under JAX (``keras.distribution.DataParallel``).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.training import distribute

ROOT = Path(__file__).resolve().parents[1]
#: Two replicas against one device: float32 sums in another order, nothing more. The weights
#: move by ~4e-3 in the tested steps, so a wrong objective (a loss counted twice, a shard's
#: rho_hat, one replica's gradient) shows up orders of magnitude above this.
WEIGHT_ATOL = 1e-6
LOSS_RTOL = 1e-5


def _worker(backend: str, *checks: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if backend == "jax":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "distribute_worker.py"), *checks], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_equivalent(results: dict) -> None:
    assert set(results) == {"ae_dense", "sparse_kl_dense", "denoising_conv", "vae_dense"}
    for name, r in results.items():
        assert r["replicas"] == [1, 2], name
        assert r["max_update"] > 1e-3, name  # training moved the weights: the comparison means something
        assert r["max_weight_diff"] <= WEIGHT_ATOL, (name, r["max_weight_diff"])
        # Reported losses and penalties are the global batch's, not one replica's (keras issue 15509).
        np.testing.assert_allclose(r["loss"][1], r["loss"][0], rtol=LOSS_RTOL, err_msg=name)
        np.testing.assert_allclose(r["penalty"][1], r["penalty"][0], rtol=LOSS_RTOL, atol=1e-7, err_msg=name)


def _assert_kl(kl: dict) -> None:
    """The KL-sparsity value of one global batch: numpy, one device and every replica agree."""
    np.testing.assert_allclose(kl["single"], kl["numpy"], rtol=1e-5)
    np.testing.assert_allclose(kl["replicas"], kl["numpy"], rtol=1e-5)
    # The batch halves differ, so the mean of shard-wise penalties is far off: the check can fail.
    assert abs(kl["shardwise_numpy"] - kl["numpy"]) > 0.1


@pytest.mark.slow
def test_tensorflow_two_replicas_match_one_device():
    """``MirroredStrategy`` on two logical CPUs against one device: same global batch (16), seed, 4 steps.

    What "same" means for the noisy families here: under tf.distribute each replica
    draws its own noise (seed offset by the replica index), so two replicas cannot
    draw the noise one device draws for the whole batch. The weight comparison therefore
    runs with the noise at zero (``denoising_conv`` with ``noise_level=0``; ``vae_dense``
    with ``keras.random.normal`` returning its mean, so z is the posterior mean while the
    KL term and the summed reconstruction stay). The noise itself is checked apart:
    reproducible from the seed, different across replicas, and replica 0's equal to
    a single device's. The JAX test below compares with the noise on.
    """
    out = _worker("tensorflow", "equivalence_noise_off", "replica_noise", "kl_value")
    _assert_equivalent(out["equivalence_noise_off"])
    for what, r in out["replica_noise"].items():
        assert r["repeat_diff"] == 0.0, what
        assert r["replica_diff"] > 0.1, what
        assert r["replica0_vs_single"] == 0.0, what
    assert len(out["kl_value"]["replicas"]) == 2
    _assert_kl(out["kl_value"])


@pytest.mark.slow
def test_jax_two_devices_match_one_device_with_noise():
    """``DataParallel`` over two host devices against one, noise on.

    A DataParallel step is one SPMD program over the global batch, so the random ops
    draw the global batch's noise whatever the sharding: the comparison needs no
    noise switched off, and the KL sparsity is computed on the sharded global batch.
    """
    out = _worker("jax", "equivalence_noise_on", "kl_value")
    _assert_equivalent(out["equivalence_noise_on"])
    _assert_kl(out["kl_value"])


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start_workers(run_dir: Path, tmp: Path, extra: list[str], ports: list[int]) -> list[subprocess.Popen]:
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps(config), "TMPDIR": str(tmp)}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "aezoo", "train", "--run-dir", str(run_dir), "--distribute", "multi_worker",
             "--distribute-timeout", "120", "--verbose", "0", *extra],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _logged_epochs(run_dir: Path) -> list[int]:
    path = run_dir / "log.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_two_workers_killed_after_an_epoch_resume_and_log_every_epoch_once(tmp_path):
    """Two ``aezoo train --distribute multi_worker`` processes on 127.0.0.1 (``TF_CONFIG``).

    Worker 1 is killed as soon as the chief has logged an epoch, then the chief (a
    cluster restarts as a whole); both restart with ``--resume`` and finish.
    """
    run_dir, tmp = tmp_path / "run", tmp_path / "tmp"
    tmp.mkdir()
    epochs = 4
    args = ["ae_dense", "--dataset", "sample:mnist", "--epochs", str(epochs), "--batch-size", "50",
            "--latent-dim", "4", "--set", "hidden_units=[16]"]
    procs = _start_workers(run_dir, tmp, args, _free_ports(2))
    try:
        deadline = time.time() + 180
        while not _logged_epochs(run_dir) and time.time() < deadline and procs[0].poll() is None:
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGKILL)
        procs[0].send_signal(signal.SIGKILL)
    finally:
        for p in procs:
            p.kill()
            p.communicate()
    before = _logged_epochs(run_dir)
    assert 1 <= len(before) < epochs, (before, procs[0].stderr)
    assert not (run_dir / "model.keras").exists()

    procs = _start_workers(run_dir, tmp, ["--resume"], _free_ports(2))
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert "trained ae_dense" in out
    assert _logged_epochs(run_dir) == list(range(epochs))
    card = json.loads((run_dir / "card.json").read_text())
    assert card["training"]["epochs"] == epochs
    assert card["training"]["environment"]["distribution"] == {
        "engine": "multi_worker", "backend": "tensorflow", "replicas": 2, "workers": 2}
    assert json.loads((run_dir / "run.json").read_text())["batch_size"] == 50  # the global batch
    assert sorted(p.name for p in run_dir.iterdir()) == ["card.json", "log.csv", "model.keras",
                                                         "model.weights.h5", "run.json"]
    assert not list(tmp.glob("aezoo-worker*"))  # the non-chief's scratch folder (also the killed one's) is gone


def _cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "aezoo", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("aezoo: error:")]


def test_multi_worker_without_tf_config_names_it_and_leaves_no_folder(tmp_path, monkeypatch):
    from zoo.training.run import train

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="needs the TF_CONFIG environment variable, e.g. "):
        train("ae_dense", "sample:mnist", tmp_path / "a", epochs=1, distribute="multi_worker")
    assert not (tmp_path / "a").exists()


@pytest.mark.slow
def test_unreachable_peer_fails_in_one_line_after_the_timeout(tmp_path):
    """A worker whose peer never comes prints one clear line and ends (instead of hanging)."""
    train = ["train", "ae_dense", "--dataset", "sample:mnist", "--epochs", "1", "--latent-dim", "4",
             "--distribute", "multi_worker"]
    port, missing = _free_ports(2)
    config = {"cluster": {"worker": [f"127.0.0.1:{port}", f"127.0.0.1:{missing}"]},
              "task": {"type": "worker", "index": 0}}
    start = time.time()
    proc = _cli(*train, "--run-dir", str(tmp_path / "b"), "--distribute-timeout", "3",
                env={"TF_CONFIG": json.dumps(config)})
    assert proc.returncode != 0
    (line,) = _error_lines(proc)
    assert "could not reach the other workers" in line and f"127.0.0.1:{missing}" in line and "3 s" in line
    assert time.time() - start < 60
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("text, expected", [
    ("not json", "TF_CONFIG is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', 'no cluster with a "worker"'),
    ('{"cluster": {"worker": ["h:1"]}}', 'no "task"'),
    ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}', "worker:3 is not in its cluster"),
])
def test_invalid_tf_config_names_what_is_wrong(text, expected):
    with pytest.raises(ValueError, match=expected):
        distribute.parse_tf_config(text)


def test_parse_tf_config_accepts_a_worker_list():
    cluster, kind, index = distribute.parse_tf_config(
        '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert (cluster["worker"], kind, index) == (["a:1", "b:2"], "worker", 1)


def test_indivisible_global_batch_names_replicas_and_nearest_sizes():
    dist = distribute.Distribution(engine="mirrored", replicas=4)
    dist.check_batch_size(128)
    with pytest.raises(ValueError, match=r"replicas \(4, distribute=mirrored\).*batch_size=130; nearest valid: "
                                         + r"128 or 132"):
        dist.check_batch_size(130)
    with pytest.raises(ValueError, match="batch_size=3; nearest valid: 4"):
        dist.check_batch_size(3)


def test_bad_engine_torch_and_jax_cluster_settings_fail_clearly(monkeypatch):
    with pytest.raises(ValueError, match="must be one of none, mirrored, multi_worker"):
        distribute.setup("ring")
    monkeypatch.setattr(distribute.backend, "name", lambda: "torch")
    with pytest.raises(ValueError, match="needs the tensorflow or jax Keras backend"):
        distribute.setup("mirrored")
    monkeypatch.setattr(distribute.backend, "name", lambda: "jax")
    for var in distribute.JAX_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    with pytest.raises(ValueError, match="KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_PROCESS_ID not set"):
        distribute.setup("multi_worker")
