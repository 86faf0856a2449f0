"""Benchmarks on several Keras backends: choices and errors, the worker protocol, rooflines and peer ratios."""

import importlib.util
import json

import pytest

from aezoo.cli import main
from benchmarks import backends, flops, runs
from benchmarks.common import ROW_KEYS, make_row
from benchmarks.workers import LocalWorker


def test_unknown_backend_is_a_one_line_error_listing_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "train", "--backend", "theano"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "invalid choice: 'theano'" in err and all(b in err for b in backends.BACKENDS)
    with pytest.raises(ValueError, match="choose from tensorflow, jax, torch"):
        backends.check_backend("theano")


def test_missing_backend_package_says_what_to_install(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    assert main(["bench", "infer", "--backend", "jax", "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'jax[cpu]'" in err


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_gpu_request_without_a_gpu_is_one_line_on_every_backend(backend):
    pytest.importorskip(backend)
    if backends.select_device("auto", backend) == "gpu":
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match=r"^--device gpu was asked for, but \w+ sees no GPU on this machine\.$"):
        backends.select_device("gpu", backend)


def test_worker_env_hides_gpus_for_cpu_runs():
    env = backends.worker_env("jax", "cpu")
    assert env["KERAS_BACKEND"] == "jax" and env["JAX_PLATFORMS"] == "cpu" and env["CUDA_VISIBLE_DEVICES"] == ""
    assert "JAX_PLATFORMS" not in backends.worker_env("torch", "gpu") or backends.os.environ.get("JAX_PLATFORMS")


def test_roofline_is_the_smaller_of_peak_and_bandwidth_times_intensity():
    row = make_row("inference", [0.01], 100, 1000, None, {}, precision="float32", bytes_per_sample=100)
    runs.roofline(row, {"float32": 1.0}, bandwidth=5.0)  # 5 GB/s x 10 FLOP/B = 50 GFLOP/s > 1 GFLOP/s peak
    assert row["roofline_gflops_per_s"] == 1.0 and row["percent_of_roofline"] == pytest.approx(1.0)
    runs.roofline(row, {"float32": 1000.0}, bandwidth=5.0)
    assert row["roofline_gflops_per_s"] == pytest.approx(50.0)
    assert row["percent_of_roofline"] == pytest.approx(100 * 0.01 / 50)


def test_each_aezoo_row_is_compared_with_the_best_peer_of_its_group():
    def row(config, speed, batch=256, runtime="keras fit"):
        return dict.fromkeys(ROW_KEYS) | dict(benchmark="train", model="ae_dense", part="autoencoder",
                                              requested_batch_size=batch, precision="float32", config=config,
                                              runtime=runtime, samples_per_s=speed)

    rows = [row("aezoo_default", 300), row("peer", 100), row("peer", 200, runtime="pytorch compile"),
            row("aezoo_default", 50, batch=512)]
    runs.add_peer_ratios(rows)
    assert rows[0]["vs_best_peer"] == pytest.approx(1.5)
    assert rows[1]["vs_best_peer"] is None and rows[3]["vs_best_peer"] is None


def test_bytes_per_sample_of_a_dense_part():
    import zoo

    model = zoo.create_model("ae_dense", input_shape=(8,), latent_dim=2, hidden_units=(4,))
    # encoder graph: input 8, dense 4, code 2 -> 14 values written and read; weights 8*4+4 + 4*2+2 = 46
    assert flops.part_bytes(model, "encoder", batch_size=2) == 4 * (2 * 14 + 46 / 2)


def test_local_worker_builds_and_times_an_inference_cell():
    worker = LocalWorker(backends.active_backend(), "cpu")
    assert worker.setup["device"] == "cpu" and worker.setup["env"]["keras"]
    runtime = backends.INFERENCE_RUNTIMES[worker.backend][0]
    spec = dict(kind="keras_infer", model="ae_dense", kwargs={"hidden_units": [16], "latent_dim": 4},
                part="encoder", runtime=runtime, batch_size=8)
    (cell,) = worker.call("build", specs=[spec])["cells"]
    meta = cell["meta"]
    assert meta["backend"] == worker.backend and meta["batch_size"] == 8 and meta["flops_per_sample"] > 0
    reply = worker.call("run", cell=cell["id"], min_seconds=0.01)
    assert len(reply["times"]) >= 5 and all(t > 0 for t in reply["times"])
    assert worker.call("drop", cells=[cell["id"]]) == {"ok": True}


@pytest.mark.slow
def test_train_and_infer_on_jax_and_torch_with_peers(tmp_path):
    """Both scripts through worker processes (about a minute each)."""
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    common = ["--peak-sizes", "64", "--device", "cpu", "--backend", "jax", "torch"]
    assert main(["bench", "train", "--models", "ae_dense", "--set", "hidden_units=(16,)", "--set", "latent_dim=4",
                 "--dataset", "sample:mnist", "--samples", "64", "--epochs", "2", "--batch-sizes", "32",
                 "--out", str(tmp_path / "train"), *common]) == 0
    rows = json.loads((tmp_path / "train.json").read_text())["rows"]
    trained = [r for r in rows if r["benchmark"] == "train"]
    assert {(r["backend"], r["runtime"]) for r in trained} == {
        ("jax", "keras fit"), ("torch", "keras fit"), ("torch", "pytorch eager"), ("torch", "pytorch compile")}
    assert all(r["vs_best_peer"] > 0 for r in trained if r["config"] != "peer")
    assert {r["benchmark"] for r in rows} >= {"peak", "bandwidth"}
    assert main(["bench", "infer", "--models", "ae_dense", "--parts", "encoder", "--batch-sizes", "4",
                 "--min-seconds", "0.05", "--rounds", "1", "--out", str(tmp_path / "infer"), *common]) == 0
    rows = json.loads((tmp_path / "infer.json").read_text())["rows"]
    assert {r["runtime"] for r in rows if r["benchmark"] == "inference"} == {
        "jax_jit", "torch_eager", "torch_compile", "pytorch eager", "pytorch compile"}


def test_a_configuration_that_fails_to_build_is_listed_not_fatal():
    backend = backends.active_backend()
    worker = LocalWorker(backend, "cpu")
    spec = dict(kind="keras_infer", model="no_such_model", part="encoder",
                runtime=backends.INFERENCE_RUNTIMES[backend][0], batch_size=2)
    rows = runs.interleave({backend: worker}, {backend: [spec]}, "inference", 1, {"float32": 1.0}, None)
    assert rows == [] and "no_such_model batch 2 encoder" in runs.FAILED[-1]
