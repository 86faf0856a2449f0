"""Benchmark command lines and what they are built from: script options, the runtime list, the environment."""

import argparse
import sys
from types import SimpleNamespace

import pytest

from aezoo.cli import main
from benchmarks import common, inference_throughput, peak, report, runners, train_throughput
from zoo.utils import environment as zenv

SCRIPTS = {"train": train_throughput, "infer": inference_throughput, "peak": peak}


def _options(module) -> list[str]:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return [opt for action in parser._actions for opt in action.option_strings if opt.startswith("--")]


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_bench_subcommand_help_lists_the_script_options(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: aezoo bench {name}")
    options = _options(SCRIPTS[name])
    assert "--device" in options and "--out" in options
    assert all(opt in out for opt in options), [opt for opt in options if opt not in out]


def test_bench_bad_option_is_a_one_line_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "train", "--epochs", "2", "--bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "aezoo: error: unrecognized arguments: --bogus"  # argparse reports extras at the top
    with pytest.raises(SystemExit):
        main(["bench", "train", "--epochs", "1"])
    assert "at least 2 (one warm-up, one timed)" in capsys.readouterr().err


@pytest.mark.parametrize("module", [train_throughput, inference_throughput, peak, report])
def test_scripts_run_as_modules_with_the_same_options(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m {module.__name__}")
    assert all(opt in out for opt in _options(module))


def test_inference_runtimes_follow_the_export_registry(monkeypatch):
    import export

    labels = tuple(label for label, _, _ in export.runtime_variants())
    assert runners.runtimes() == ("keras_predict", "keras_function", "keras_xla", *labels)
    assert {"saved_model", "onnxruntime", "litert", "litert_int8"} <= set(labels)
    variants = [("saved_model", "saved_model", None), ("throwaway_rt", "throwaway", "int4")]
    monkeypatch.setattr(export, "runtime_variants", lambda: variants, raising=False)
    assert runners.runtimes() == (*runners.KERAS_RUNTIMES, "saved_model", "throwaway_rt")
    assert runners.exported_runtimes()["throwaway_rt"] == ("throwaway", "int4")
    parser = argparse.ArgumentParser()
    inference_throughput.add_arguments(parser)
    assert parser.parse_args([]).runtimes == list(runners.runtimes())
    assert parser.parse_args(["--runtimes", "throwaway_rt"]).runtimes == ["throwaway_rt"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--runtimes", "onnxruntime"])  # no longer in the registry


def test_rows_take_their_environment_from_the_one_record():
    env = zenv.environment()
    assert {"python", "keras_backend", "versions", "machine"} <= set(env)
    assert {"accelerators", "cpu_count", "cpu_model", "platform"} <= set(env["machine"])
    assert env["versions"]["keras"] and env["versions"]["aezoo"]
    row = common.row_environment(env)
    assert set(row) <= set(common.ROW_KEYS)
    assert row["cpu"] == env["machine"]["cpu_model"] and row["cpu_cores"] == env["machine"]["cpu_count"]
    assert row["keras"] == env["versions"]["keras"] and row["python"] == env["python"]
    fake = {**env, "machine": {**env["machine"], "accelerators": ["GPU A", "GPU B"],
                               "accelerator_memory_gb": [80.0, 80.0]}}
    assert common.row_environment(fake)["gpu"] == "GPU A, GPU B"
    assert common.row_environment(fake)["gpu_memory_gb"] == 80.0


def test_accelerators_of_a_jax_run_never_import_tensorflow(monkeypatch):
    devices = [SimpleNamespace(platform="gpu", device_kind="NVIDIA H200"),
               SimpleNamespace(platform="cpu", device_kind="cpu")]
    monkeypatch.setitem(sys.modules, "jax", SimpleNamespace(devices=lambda: devices))
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # importing TensorFlow would now fail
    monkeypatch.setattr(zenv, "_nvidia_memory_gb", lambda: [139.8])
    zenv.accelerators.cache_clear()
    try:
        assert zenv.accelerators("jax") == (("NVIDIA H200", 139.8),)
    finally:
        zenv.accelerators.cache_clear()
