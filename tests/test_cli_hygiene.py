"""CLI hygiene: no third-party line on any command (``--help`` included), whatever ``TF_CPP_MIN_LOG_LEVEL`` says;
progress bars that never count past their end; and messages that name the file actually written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aezoo.cli import main

ROOT = Path(__file__).parents[1]
#: What TensorFlow, absl, XLA and CUDA print at start-up (the first is absl's "before InitializeLog" line).
THIRD_PARTY = re.compile(r"absl|InitializeLog|oneDNN|cuda|cuInit|cpu_feature_guard|TensorFlow binary|"
                         + r"^[IWEF]\d{4} |^WARNING:|rebuild TensorFlow", re.I | re.M)


def _aezoo(args, level):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    return subprocess.run([sys.executable, "-m", "aezoo", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("level", [None, "0"])
@pytest.mark.parametrize("args", [["--help"], ["export", "--help"], ["anomaly", "--help"], ["info", "ae_dense"],
                                  ["list"], ["evaluate", "no_such_model"]])
def test_no_third_party_line_on_any_command(args, level):
    result = _aezoo(args, level)
    assert not THIRD_PARTY.search(result.stderr), result.stderr
    if args[-1] == "no_such_model":
        assert result.returncode == 1 and result.stderr.count("\n") == 1
    else:
        assert result.returncode == 0 and result.stderr == ""


@pytest.mark.slow
def test_a_training_run_shows_only_its_progress_with_possible_counts(tmp_path):
    """Fewer steps per epoch than one compiled call runs (10 < 32): the bar used to show "32/10" and "-2s"."""
    result = _aezoo(["train", "ae_dense", "--dataset", "sample:mnist", "--epochs", "2", "--batch-size", "100",
                     "--latent-dim", "4", "--verbose", "1", "--run-dir", str(tmp_path / "r")], None)
    assert result.returncode == 0, result.stderr
    assert not THIRD_PARTY.search(result.stderr + result.stdout), result.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    counts = [(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) ━", text)]
    assert counts and all(0 < a <= b == 10 for a, b in counts), counts
    assert not re.search(r"(?<![\w.])-\d+(\.\d+)?m?s\b", text)


def test_encode_writes_the_path_it_names(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).uniform(0, 1, (4, 28, 28)).astype("float32"))
    out = tmp_path / "out" / "codes"  # no .npy: numpy alone would write codes.npy and the message would name codes
    assert main(["encode", "ae_dense.mnist", "--input", str(tmp_path / "x.npy"), "--output", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert os.listdir(out.parent) == ["codes"] and np.load(out).shape[0] == 4


def test_evaluate_writes_its_report_atomically_where_it_says(tmp_path, capsys):
    out = tmp_path / "eval" / "report"
    assert main(["evaluate", "ae_dense.mnist", "--dataset", "sample:mnist", "--no-probe", "--output", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert os.listdir(out.parent) == ["report"]


def test_a_step_bar_never_counts_past_its_total():
    import io

    from zoo.utils.progress import steps

    out = io.StringIO()
    with steps(2, "probe", enabled=True, file=out) as bar:
        for name in ("a", "b", "c"):  # one step more than announced
            bar.start(name)
            bar.done()
    counts = [(int(a), int(b)) for a, b in re.findall(r"probe: (\d+)/(\d+)", out.getvalue())]
    assert counts and all(a <= b for a, b in counts), counts
    assert not re.search(r"-\d", out.getvalue())
