"""The GPU suite and its report: settings, no TensorFlow on the way, one-line errors, the docs sections."""

import json
import os
import subprocess
import sys

import pytest

from benchmarks import report_suite, suite
from benchmarks.common import ROW_KEYS, write_results


def test_small_settings_cover_every_full_setting_and_flags_override_them():
    assert set(suite.SMALL) == set(suite.FULL)
    parser = suite.argparse.ArgumentParser()
    suite.add_arguments(parser)
    args = suite._settings(parser.parse_args(["--out", "x", "--small", "--samples", "512"]))
    assert args.samples == 512 and args.infer_batches == suite.SMALL["infer_batches"]
    full = suite._settings(parser.parse_args(["--out", "x"]))
    assert full.infer_batches[0] == 1 and full.infer_batches[-1] == 65536 and full.sweep_to >= 16384
    assert full.train_batches[0] == 256 and full.device == "gpu" and full.backends == ["jax", "torch"]


@pytest.mark.slow
def test_the_suite_needs_no_tensorflow():
    code = "; ".join([
        "import sys",
        "import benchmarks.suite, benchmarks.runs, benchmarks.cells, benchmarks.probes, benchmarks.train_throughput",
        "import benchmarks.inference_throughput, benchmarks.report, keras",
        "assert keras.backend.backend() == 'jax'",
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"])
    env = dict(os.environ, KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_gpu_suite_without_a_gpu_is_a_one_line_error(capsys, monkeypatch):
    from benchmarks import backends

    monkeypatch.setattr(backends, "select_device", lambda choice, backend=None: (_ for _ in ()).throw(
        RuntimeError("--device gpu was asked for, but JAX sees no GPU on this machine.")))
    monkeypatch.setattr(suite.os, "environ", dict(os.environ))  # the suite sets worker variables
    assert suite.main(["--device", "gpu", "--out", "unused", "--backends", "tensorflow", "--no-peers"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "python -m benchmarks.suite: error: --device gpu was asked for, but JAX sees no GPU on this machine."


def _row(benchmark, model, backend, runtime, config, batch, speed, **extra):
    return dict.fromkeys(ROW_KEYS) | dict(
        benchmark=benchmark, model=model, part="autoencoder", backend=backend, runtime=runtime, config=config,
        batch_size=batch, requested_batch_size=batch, samples_per_s=speed, latency_ms_median=speed and 1e3 * batch / speed,
        latency_ms_p90=speed and 1.1e3 * batch / speed, precision="float32", percent_of_peak=10.0, percent_of_roofline=20.0,
        peak_memory_gb=1.0, cpu="cpu", cpu_cores=2, keras="3", jax="0.1", torch="2", python="3.12") | extra


def test_backends_section_judges_the_cpu_targets():
    rows = [_row("train", "ae_dense", "jax", "keras fit", "aezoo_default", 256, 1400),
            _row("train", "ae_dense", "torch", "keras fit", "aezoo_default", 256, 500),
            _row("train", "ae_dense", "torch", "pytorch eager", "peer", 256, 1000),
            _row("train", "ae_dense", "torch", "pytorch compile", "peer", 256, 1500)]
    text = report_suite.backends_section(rows, "aezoo bench train ...")
    assert "| ae_dense | jax | keras fit | aezoo_default | 256 | 1,400 |" in text
    assert "best aezoo backend is jax, **1.40x** the pytorch eager peer (target 1.3x: met)" in text
    assert "**0.93x** the pytorch compile peer (target 1.0x: missed)" in text


def test_suite_section_from_a_results_folder(tmp_path):
    probe = [_row("peak", "matmul", "jax", "jax", None, 64, 1.0, gflops_per_s=100.0),
             _row("bandwidth", "copy", "torch", "torch", None, 256, None, bandwidth_gb_per_s=5.0)]
    train = [_row("train", "ae_dense", "jax", "keras fit", "aezoo_default", b, s, vs_best_peer=s / 900)
             for b, s in ((256, 1000), (1024, 3000))]
    train += [_row("train", "ae_dense", "torch", "pytorch compile", "peer", 256, 900)]
    infer = [_row("inference", "ae_dense", "jax", "jax_jit", None, b, s) for b, s in ((1, 500), (64, 9000))]
    infer += [_row("inference", "ae_dense", "torch", "pytorch eager", "peer", b, s) for b, s in ((1, 400), (64, 8000))]
    for name, rows in (("train", train), ("inference", infer)):
        write_results(probe + rows, tmp_path / name, name)
    meta = {"command": "python -m benchmarks.suite --device cpu", "device": "cpu", "elapsed_s": 12.0, "budget_s": 450,
            "env": {k: _row("x", "", "", "", None, 1, 1)[k] for k in ROW_KEYS}, "probe_rows": probe,
            "peaks_gflops_per_s": {"float32": 100.0}, "bandwidth_gb_per_s": 5.0}
    (tmp_path / "suite.json").write_text(json.dumps(meta))
    text = report_suite.suite_section(tmp_path, "../results")
    assert "NOT the GPU run, which is still to do" in text
    assert "| ae_dense | float32 | jax keras fit (aezoo_default) | 1024 | 3,000 |" in text
    assert "best aezoo row against the best peer row" in text and "**3.33x**" in text
    assert "Batch-1 latency `ae_dense`: best aezoo 2.000 ms against the fastest peer 2.500 ms, **0.80x**" in text
    assert f"![suite latency](../results/{tmp_path.name}/latency.png)" in text


@pytest.mark.slow
def test_suite_runs_on_the_cpu_at_a_tiny_size(tmp_path):
    """The whole suite, tiny, one thread per framework (a few minutes on a shared 2-core machine)."""
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    out = tmp_path / "cpu"
    args = ["--device", "cpu", "--small", "--threads", "1", "--models", "ae_dense", "--parts", "encoder",
            "--precisions", "float32", "--train-batches", "32", "--sweep-to", "32", "--samples", "64",
            "--infer-batches", "1", "4", "--peak-sizes", "64", "--epochs", "2", "--rounds", "1",
            "--min-seconds", "0.02", "--out", str(out)]
    env = dict(os.environ, KERAS_BACKEND="jax")
    done = subprocess.run([sys.executable, "-m", "benchmarks.suite", *args], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    names = {p.name for p in out.iterdir()}
    assert {"train.csv", "train.json", "train.png", "inference.csv", "inference.png", "latency.png",
            "suite.json"} <= names
    rows = json.loads((out / "inference.json").read_text())["rows"]
    timed = [r for r in rows if r["benchmark"] == "inference"]
    assert {r["runtime"] for r in timed} == {"jax_jit", "torch_eager", "torch_compile", "pytorch eager",
                                              "pytorch compile"}
    assert all(r["percent_of_roofline"] > 0 and r["peak_memory_gb"] > 0 for r in timed)
    assert "tensorflow" not in json.loads((out / "suite.json").read_text())["command"]
