"""The Tiny AutoEncoder benchmark: rows with the fixed keys for every runtime, Keras agreeing with the reference."""

import json
import math
from pathlib import Path

import pytest

from benchmarks import tae_bench, tae_report, tae_run, tae_worker
from benchmarks.common import ROW_KEYS

QUICK = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "tae" / "quick.json"
FLOAT_RUNTIMES = [r for r, (_, precision) in tae_worker.RUNTIMES.items() if precision == "float32"]


class _Worker:
    def __init__(self, kind):
        self.kind = kind
        env = {"backend": None if kind == "reference" else kind, "cpu": "cpu", "cpu_cores": 2}
        self.setup = {"device": "cpu", "env": env, "threads": {"threads": 2}}


def test_rows_of_every_runtime_have_the_fixed_keys_and_the_ratio_to_torch_compile():
    results = {r: {"times": [0.1 * (i + 1)] * 3, "peak_memory_gb": 0.5, "max_abs_diff": 1e-6, "note": None}
               for i, r in enumerate(tae_worker.RUNTIMES)}
    results["litert int8"] = {"failed": "worker: RuntimeError: no"}
    workers = {r: _Worker(kind) for r, (kind, _) in tae_worker.RUNTIMES.items()}
    counts = {p: {"flops": 10**9, "bytes": 10**7} for p in tae_worker.PARTS}
    rows = tae_run.make_rows(results, "encoder", 64, 1, "float32", counts, workers, {"float32": 100.0}, 10.0,
                             {"reference": {"torch_threads": 2}}, "seeded")
    assert [r["runtime"] for r in rows] == [r for r in tae_worker.RUNTIMES if r != "litert int8"]
    for row in rows:
        assert list(row) == [*ROW_KEYS, *tae_run.EXTRA_KEYS]
    by = {r["runtime"]: r for r in rows}
    assert by["reference compile"]["vs_reference_compile"] == 1.0
    assert by["reference eager"]["vs_reference_compile"] == pytest.approx(2.0)  # 0.1 s vs 0.2 s
    assert by["onnxruntime int8"]["precision"] == "int8" and by["onnxruntime int8"]["backend"] is None
    assert by["keras jax"]["vs_best_peer"] == pytest.approx(0.1 / 0.4)
    assert by["keras jax"]["percent_of_roofline"] is not None and by["reference eager"]["threads"] == '{"torch_threads": 2}'


def test_suite_groups_run_batch_one_everywhere_first():
    assert tae_run.suite_groups([512, 1024], 64) == [(512, 1), (1024, 1), (512, 4), (1024, 4), (512, 16),
                                                     (1024, 16), (512, 64), (1024, 64)]


def test_sizes_must_divide_by_eight(capsys):
    with pytest.raises(SystemExit):
        tae_bench.main(["--sizes", "60"])
    assert "multiples of 8" in capsys.readouterr().err


def test_bench_images_are_the_photographs():
    x = tae_run.bench_images(64, 4)
    assert x.shape == (4, 64, 64, 3) and x.dtype == "float32" and 0 <= x.min() and x.max() <= 1
    assert (x[2] == x[0][:, ::-1]).all() and not (x[0] == x[1]).all()


def test_quick_run_rows_and_keras_agrees_with_the_reference(tmp_path):
    """A --quick-sized run in worker processes: the reference and Keras (JAX) on the same photos, same weights."""
    rows, record = tae_run.run_benchmark(["reference eager", "keras jax"], [64], 2, rounds=1, min_seconds=0.01,
                                         peak_sizes=[128], parts=("encoder", "decoder"))
    assert not record["failed"] and record["threads"]["jax"] and record["peaks_gflops_per_s"]["float32"] > 0
    assert {(r["part"], r["runtime"], r["batch_size"]) for r in rows} == {
        (p, r, b) for p in tae_worker.PARTS for r in ("reference eager", "keras jax") for b in (1, 2)}
    for row in rows:
        assert list(row) == [*ROW_KEYS, *tae_run.EXTRA_KEYS]
        assert row["latency_ms_median"] > 0 and row["flops_per_sample"] > 0 and row["peak_memory_gb"] > 0
        assert row["image_size"] == 64 and row["model"] == "tae.flux2"
        if row["runtime"] == "keras jax":
            assert row["max_abs_diff"] < 1e-4, row  # same weights, same input: float32 rounding only
    files = tae_report.write_rows(rows, tmp_path / "quick", record)
    assert json.loads(files[1].read_text())["rows"][0]["runtime"] == "reference eager"


@pytest.mark.skipif(not QUICK.exists(), reason="no committed quick run")
def test_the_committed_quick_run_has_every_runtime_and_each_agrees_with_the_reference():
    rows = [r for r in json.loads(QUICK.read_text())["rows"] if r["benchmark"] == "tae_inference"]
    for part in tae_worker.PARTS:
        seen = {r["runtime"]: r for r in rows if r["part"] == part and r["batch_size"] == 1}
        assert set(seen) == set(tae_worker.RUNTIMES), part
        for runtime in FLOAT_RUNTIMES[1:]:
            assert seen[runtime]["max_abs_diff"] < 1e-4, (part, runtime)
        for runtime in set(tae_worker.RUNTIMES) - set(FLOAT_RUNTIMES):
            assert math.isfinite(seen[runtime]["max_abs_diff"]) and seen[runtime]["max_abs_diff"] < 1.0
