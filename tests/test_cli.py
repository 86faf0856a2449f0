"""The aezoo command line: output and one-line errors with non-zero exit codes."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

import zoo
from aezoo.cli import main


def test_list_prints_every_model(capsys):
    assert main(["list"]) == 0
    assert capsys.readouterr().out.split() == zoo.list_models()


def test_info_shows_parameters_layers_and_arguments(capsys):
    assert main(["info", "sparse_kl_dense", "--latent-dim", "8", "--set", "rho=0.1"]) == 0
    out = capsys.readouterr().out
    assert "parameters:" in out and "rho = 0.05 -> 0.1" in out and "code_penalty" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["info", "ae_dens"], "Did you mean: ae_dense"),
        (["info", "sparse_kl_dense", "--set", "rho=2"], "rho=2"),
        (["info", "ae_conv", "--input-shape", "30,30,1"], "divisible by 4"),
        (["info", "ae_dense", "--set", "oops"], "KEY=VALUE"),
    ],
)
def test_errors_are_one_line(argv, needle, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error:") and needle in err and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.slow
def test_console_script_exit_code():
    proc = subprocess.run([sys.executable, "-m", "aezoo", "info", "nope_model"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # no third-party log lines before it
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("aezoo: error: Unknown model 'nope_model'")


@pytest.mark.parametrize("argv", [["list"], ["list", "--pretrained"], ["info", "ae_conv.mnist"], ["--help"],
                                  ["train", "--help"]])
def test_list_info_and_help_answer_without_keras_in_under_2_s(argv):
    code = ("import sys, time; t = time.perf_counter(); from aezoo.cli import main\n"
            + "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            + "print('heavy:', sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "heavy: []"
    assert elapsed < 2.0, f"{argv} took {elapsed:.2f} s"


@pytest.mark.slow
def test_import_zoo_is_light_and_the_scanned_names_are_the_registry():
    code = ("import sys, zoo; names = zoo.list_models(); assert 'keras' not in sys.modules; "
            + "zoo.create_model; assert zoo.list_models() == names; print(names)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(zoo.list_models())


@pytest.mark.slow
def test_a_normal_run_prints_no_third_party_lines(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aezoo", "evaluate", "ae_dense.mnist", "--dataset", "sample:mnist",
                           "--output", str(tmp_path / "e.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.splitlines()[0].startswith("metric") and proc.stdout.splitlines()[-1].startswith("wrote")


@pytest.mark.parametrize("script", ["peak", "train", "infer"])
def test_bench_writes_to_a_new_folder_here_not_the_committed_results(script, tmp_path, monkeypatch):
    from aezoo.cli import build_parser

    monkeypatch.chdir(tmp_path)
    args = build_parser(["bench", script]).parse_args(["bench", script])
    out = Path(args.out)
    assert out.parts[0].startswith("aezoo-bench-") and len(out.parts) == 2 and "results" not in out.parts
    assert build_parser(["bench", script]).parse_args(["bench", script, "--out", "x/y"]).out == "x/y"


def test_the_peak_probe_keeps_the_fastest_of_several_probes(monkeypatch):
    from benchmarks import peak

    probes = iter([[0.2] * 3, [0.1] * 3, [0.4] * 3])  # the middle probe ran on a quiet machine
    monkeypatch.setattr(peak, "time_calls", lambda fn, **kwargs: next(probes))
    monkeypatch.setattr(peak, "_tf_matmul", lambda n, precision, device: None)
    peaks, rows = peak.probe("gpu", sizes=(100,), env={"cpu": "test"})
    assert peak.PROBE_REPEATS == 3 and len(rows) == 1
    assert rows[0]["latency_ms_median"] == pytest.approx(100.0)
    assert peaks["float32"] == pytest.approx(2 * 100**3 / 0.1 / 1e9)


def test_evaluate_draws_a_progress_bar_on_stderr_only_when_asked(capsys, tmp_path):
    from tests.helpers import tiny_model
    from zoo.evaluation.evaluate import evaluate

    model = tiny_model("ae_dense", input_shape=(28, 28, 1))
    evaluate(model, "sample:mnist", progress=True)
    captured = capsys.readouterr()
    assert "evaluate ae_dense" in captured.err and "family metrics" in captured.err and captured.out == ""
    evaluate(model, "sample:mnist")  # the API default: no bar
    assert capsys.readouterr().err == ""
