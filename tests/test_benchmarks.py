"""Benchmark scripts at a tiny size: FLOP counts against hand counts, the row schema, OOM retries."""

import json

import pytest

import zoo
from aezoo.cli import main
from benchmarks import common, flops
from tests.helpers import tiny_model

ROW_NUMBERS = ("samples_per_s", "latency_ms_median", "latency_ms_p90", "gflops_per_s", "percent_of_peak",
               "peak_gflops_per_s", "flops_per_sample")
ENV_KEYS = ("cpu", "cpu_cores", "tensorflow", "keras", "onnxruntime", "ai_edge_litert", "precision", "xla", "device")


def test_dense_flops_match_a_hand_count():
    model = zoo.create_model("ae_dense", latent_dim=32, hidden_units=(512, 256))
    encoder = 2 * (784 * 512 + 512 * 256 + 256 * 32)
    decoder = 2 * (32 * 256 + 256 * 512 + 512 * 784)
    assert flops.part_flops(model, "encoder") == encoder
    assert flops.part_flops(model, "decoder") == decoder
    assert flops.part_flops(model, "autoencoder") == encoder + decoder
    assert flops.training_flops(model) == 3 * (encoder + decoder)


def test_conv_flops_match_a_hand_count():
    model = zoo.create_model("ae_conv", latent_dim=16, filters=(32, 64))
    # 3x3 stride-2 'same' convs: 28x28x1 -> 14x14x32 -> 7x7x64, then Dense 3136 -> 16.
    encoder = 2 * (14 * 14 * 9 * 1 * 32 + 7 * 7 * 9 * 32 * 64 + 3136 * 16)
    # Dense 16 -> 3136; transposed convs scatter each input pixel: 7x7x64 -> 14x14x32 -> 28x28x32;
    # output conv 3x3 on 28x28x32 -> 28x28x1.
    decoder = 2 * (16 * 3136 + 7 * 7 * 9 * 64 * 32 + 14 * 14 * 9 * 32 * 32 + 28 * 28 * 9 * 32 * 1)
    assert flops.part_flops(model, "encoder") == encoder
    assert flops.part_flops(model, "decoder") == decoder


def test_vae_training_flops_count_both_posterior_heads():
    model = zoo.create_model("vae_dense", latent_dim=8, hidden_units=(64,))
    posterior = 2 * (784 * 64 + 64 * 8 + 64 * 8)
    decoder = 2 * (8 * 64 + 64 * 784)
    assert flops.part_flops(model, "encoder") == 2 * (784 * 64 + 64 * 8)  # the mean only
    assert flops.training_flops(model) == 3 * (posterior + decoder)


def test_percentile_and_row_maths():
    times = [0.001 * i for i in range(1, 11)]
    row = common.make_row("inference", times, 100, 2_000_000, 100.0, {"cpu": "x"}, model="m", runtime="r")
    assert set(row) == set(common.ROW_KEYS)
    median = 0.0055
    assert row["latency_ms_median"] == pytest.approx(1e3 * median)
    assert row["latency_ms_p90"] == pytest.approx(9.0)
    assert row["samples_per_s"] == pytest.approx(100 / median)
    assert row["gflops_per_s"] == pytest.approx(2e6 * 100 / median / 1e9)
    assert row["percent_of_peak"] == pytest.approx(row["gflops_per_s"])
    with pytest.raises(KeyError, match="schema"):
        common.make_row("x", times, 1, None, None, {}, speed=3)


def test_out_of_memory_halves_the_batch():
    seen = []

    def run(batch):
        seen.append(batch)
        if batch > 16:
            raise RuntimeError("ResourceExhaustedError: OOM when allocating tensor")
        return dict.fromkeys(common.ROW_KEYS) | {"batch_size": batch, "note": None}

    row = common.with_oom_retry(run, 64)
    assert seen == [64, 32, 16] and row["batch_size"] == 16 and row["requested_batch_size"] == 64
    assert row["note"] == "out of memory at batch 64; out of memory at batch 32"
    with pytest.raises(ValueError):
        common.with_oom_retry(lambda b: (_ for _ in ()).throw(ValueError("not memory")), 8)


def test_gpu_request_without_gpu_is_a_clear_error(capsys):
    assert main(["bench", "peak", "--device", "gpu", "--peak-sizes", "32"]) == 1
    assert "sees no GPU" in capsys.readouterr().err


def _check_rows(path, benchmark):
    rows = json.loads(path.with_suffix(".json").read_text())["rows"]
    assert path.with_suffix(".png").stat().st_size > 1000
    header = path.with_suffix(".csv").read_text().splitlines()[0].split(",")
    assert header == common.ROW_KEYS
    mine = [r for r in rows if r["benchmark"] == benchmark]
    assert mine and any(r["benchmark"] == "peak" for r in rows)
    for r in rows:
        assert set(r) == set(common.ROW_KEYS)
        if r["benchmark"] == "bandwidth":  # a probe: GB/s, no samples or FLOPs
            assert r["latency_ms_median"] > 0 and r["bandwidth_gb_per_s"] > 0, r
            continue
        assert all(isinstance(r[k], (int, float)) and r[k] > 0 for k in ROW_NUMBERS), r
        assert all(r[k] is not None for k in ENV_KEYS), r
    return mine


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    """Both scripts at a tiny size, through ``aezoo bench``, into one results folder."""
    out = tmp_path_factory.mktemp("results")
    assert main(["bench", "train", "--models", "ae_dense", "--set", "hidden_units=(16,)", "--set", "latent_dim=4",
                 "--dataset", "sample:mnist", "--samples", "128", "--epochs", "2", "--batch-sizes", "32",
                 "--xla", "default", "off", "--peak-sizes", "64", "--device", "cpu",
                 "--out", str(out / "train_throughput")]) == 0
    assert main(["bench", "infer", "--models", "ae_dense", "--parts", "encoder", "--batch-sizes", "1", "3",
                 "--min-seconds", "0.02", "--rounds", "2", "--peak-sizes", "64", "--device", "cpu",
                 "--out", str(out / "inference_throughput")]) == 0
    return out


@pytest.mark.slow
def test_train_script_tiny(tiny_results):
    rows = _check_rows(tiny_results / "train_throughput", "train")
    configs = [r["config"] for r in rows]
    assert configs == ["plain_fit_numpy", "aezoo_default", "aezoo_default xla=off"]
    assert rows[0]["batch_size"] == 256 and rows[0]["flops_per_sample"] == 3 * 2 * (784 * 16 + 16 * 4) * 2


def test_inference_script_tiny(tiny_results):
    rows = _check_rows(tiny_results / "inference_throughput", "inference")
    from benchmarks.runners import runtimes

    assert sorted({r["runtime"] for r in rows}) == sorted(runtimes())
    assert {r["batch_size"] for r in rows} == {1, 3}
    assert {r["precision"] for r in rows if r["runtime"] == "litert_int8"} == {"int8"}


def test_report_builds_the_results_section_from_the_csvs(tiny_results):
    from benchmarks.report import section

    text = section(tiny_results)
    assert "| ae_dense | plain_fit_numpy | 256 |" in text and "1.00x |" in text
    assert "| ae_dense | encoder | litert_int8 |" in text
    assert "Machine: " in text and "Matmul peak probe" in text


@pytest.mark.parametrize("flag", ["--update-docs", "--update-readme"])
def test_report_writes_the_docs_page(tiny_results, tmp_path, flag, capsys):
    from benchmarks.report import main as report_main

    page = tmp_path / "docs" / "benchmarks.md"
    assert report_main(["--results", str(tiny_results), flag, "--output", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("<!-- Generated by `python -m benchmarks.report --update-docs`")
    assert "# Benchmarks" in text and "{{results}}" not in text
    assert "| ae_dense | encoder | litert_int8 |" in text and "## What the numbers say" in text
    assert "](../benchmarks/results/inference_throughput.png)" in text
    assert ("deprecated" in capsys.readouterr().err) == (flag == "--update-readme")


@pytest.mark.slow
def test_inference_of_an_untrained_tiny_model_by_name(tmp_path):
    from benchmarks.inference_throughput import measure

    model = tiny_model("ae_conv")
    assert flops.part_flops(model, "decoder") > 0
    rows = measure(["ae_conv", "ae_dense"], ["decoder"], ["onnxruntime"], [2], "cpu", {"float32": 100.0},
                   {"cpu": "x"}, 0.01)
    assert [r["model"] for r in rows] == ["ae_conv", "ae_dense"]
    assert all(r["part"] == "decoder" and r["samples_per_s"] > 0 for r in rows)


@pytest.mark.slow
def test_int8_beyond_its_export_bound_is_still_timed_with_a_note(monkeypatch):
    import export
    from benchmarks.inference_throughput import measure

    # Every int8 export now misses its bound, wherever the export registry keeps the bounds.
    if hasattr(export, "default_mse_rtol"):
        bound = export.default_mse_rtol
        monkeypatch.setattr(export, "default_mse_rtol", lambda fmt, q: -1.0 if q == "int8" else bound(fmt, q))
    else:
        from export import validate

        monkeypatch.setitem(validate.DEFAULT_MSE_RTOL, "int8", -1.0)
    rows = measure(["ae_dense"], ["encoder"], ["litert_int8"], [2], "cpu", {"float32": 100.0}, {"cpu": "x"}, 0.01)
    assert len(rows) == 1 and rows[0]["precision"] == "int8"
    assert "beyond the -100% export bound" in rows[0]["note"]
