"""The aezoo command line: output and one-line errors with non-zero exit codes."""

import subprocess
import sys

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


def test_console_script_exit_code():
    proc = subprocess.run([sys.executable, "-m", "aezoo", "info", "nope_model"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("aezoo: error: Unknown model 'nope_model'")
