"""``aezoo sample``, ``aezoo interpolate`` and ``aezoo evaluate --nll-samples``: files written, one-line errors."""

import json

import numpy as np
import pytest

from aezoo.cli import main as cli
from tests.helpers import tiny_model
from zoo.data import datasets as zdata
from zoo.evaluation.generate import interpolate
from zoo.evaluation.likelihood import dataset_nll

MNIST = (28, 28, 1)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    model = tiny_model("iwae_dense", input_shape=MNIST)
    path = tmp_path_factory.mktemp("m") / "iwae.keras"
    model.save(path)
    return model, path


def test_sample_writes_the_grid_and_the_seeded_images(vae_file, tmp_path, capsys):
    model, path = vae_file
    out, npy = tmp_path / "grid.png", tmp_path / "s.npy"
    assert cli(["sample", str(path), "--n", "6", "--seed", "4", "--output", str(out), "--npy", str(npy)]) == 0
    assert out.read_bytes()[:8] == PNG and "6 samples" in capsys.readouterr().out
    np.testing.assert_allclose(np.load(npy), model.sample(6, seed=4), atol=1e-6)


def test_interpolate_from_indices_and_from_files(vae_file, tmp_path):
    from PIL import Image

    model, path = vae_file
    x, _ = zdata.load_sample("mnist")
    npy = tmp_path / "walk.npy"
    assert cli(["interpolate", str(path), "--a", "3", "--b", "7", "--dataset", "sample:mnist", "--steps", "5",
                "--path", "slerp", "--output", str(tmp_path / "s.png"), "--npy", str(npy)]) == 0
    np.testing.assert_allclose(np.load(npy), interpolate(model, x[3], x[7], 5, "slerp"), atol=1e-6)
    Image.fromarray(x[3][..., 0]).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", x[7:9])
    assert cli(["interpolate", str(path), "--a", str(tmp_path / "a.png"), "--b", str(tmp_path / "b.npy"),
                "--steps", "5", "--path", "slerp", "--output", str(tmp_path / "f.png"), "--npy", str(npy)]) == 0
    np.testing.assert_allclose(np.load(npy), interpolate(model, x[3], x[7], 5, "slerp"), atol=1e-6)
    assert (tmp_path / "f.png").read_bytes()[:8] == PNG


def test_interpolate_indices_read_the_split_asked_for(vae_file, tmp_path):
    model, path = vae_file
    rng = np.random.default_rng(0)
    train, test = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for n in (12, 5))
    data = tmp_path / "k.npz"
    np.savez(data, x_train=train, y_train=np.zeros(12), x_test=test, y_test=np.zeros(5))
    npy = tmp_path / "walk.npy"
    for split, x in ((None, test), ("test", test), ("train", train)):
        argv = ["interpolate", str(path), "--a", "1", "--b", "4", "--dataset", str(data), "--steps", "3",
                "--output", str(tmp_path / "s.png"), "--npy", str(npy)] + (["--split", split] if split else [])
        assert cli(argv) == 0
        expected = interpolate(model, x[1, ..., None] / np.float32(255), x[4, ..., None] / np.float32(255), 3)
        np.testing.assert_allclose(np.load(npy), expected, atol=1e-6)


@pytest.mark.parametrize("argv, needle", [
    (["sample", "{ae}"], "is not generative"),
    (["interpolate", "{vae}", "--a", "0", "--b", "1"], "pass --dataset"),
    (["interpolate", "{vae}", "--a", "5000", "--b", "1", "--dataset", "sample:mnist"],
     "must index the 1,000 examples of sample:mnist's test split"),
    (["interpolate", "{vae}", "--a", "nope.png", "--b", "1", "--dataset", "sample:mnist"], "neither an index"),
    (["evaluate", "{ae}", "--dataset", "sample:mnist", "--no-probe", "--nll-samples", "3"], "Gaussian posterior"),
])
def test_errors_are_one_line(vae_file, tmp_path, capsys, argv, needle):
    ae = tmp_path / "ae.keras"
    tiny_model("ae_dense", input_shape=MNIST).save(ae)
    argv = [a.format(ae=ae, vae=vae_file[1]) for a in argv] + ["--output", str(tmp_path / "o.png")]
    assert cli(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "o.png").exists()


def test_evaluate_adds_the_nll_with_its_protocol(vae_file, tmp_path):
    model, path = vae_file
    out = tmp_path / "e.json"
    assert cli(["evaluate", str(path), "--dataset", "sample:mnist", "--no-probe", "--nll-samples", "4",
                "--nll-limit", "20", "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())
    want = dataset_nll(model, "sample:mnist", 4, limit=20)
    assert metrics["nll_samples"] == 4 and metrics["nll_n"] == 20 and "seed 0" in metrics["nll_protocol"]
    assert metrics["nll_nats"] == pytest.approx(want["nll_nats"], rel=1e-6)
    assert metrics["nll_nats"] <= metrics["nll_elbo_nats"]


def test_help_names_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli(["--help"])
    out = capsys.readouterr().out
    assert "sample" in out and "interpolate" in out


@pytest.mark.slow
def test_a_fresh_process_loads_a_saved_family_model(vae_file, tmp_path):
    # The family modules load on first use: reading a .keras file must load them (IWAE is defined in one).
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-m", "aezoo", "sample", str(vae_file[1]), "--n", "4", "--output",
                           str(tmp_path / "g.png")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert (tmp_path / "g.png").read_bytes()[:8] == PNG
