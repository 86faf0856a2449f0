"""Training runs: run folder, resume after a real interruption, NaN stop, seeds."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from zoo.training.run import TrainingDiverged, train

TINY = {"latent_dim": 4, "hidden_units": (16,)}


def _rows(run_dir):
    path = run_dir / "log.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_run_folder_and_card(tmp_path):
    result = train("ae_dense", "sample:mnist", tmp_path / "run", epochs=2, batch_size=100,
                   model_kwargs=TINY, verbose=0, command="aezoo train ae_dense --dataset sample:mnist")
    run = tmp_path / "run"
    for name in ("model.keras", "model.weights.h5", "log.csv", "card.json", "run.json"):
        assert (run / name).exists(), name
    assert not (run / "backup").exists()
    card = json.loads((run / "card.json").read_text())
    assert card["training"]["epochs"] == 2 and card["training"]["seed"] == 0
    assert card["training"]["command"] == "aezoo train ae_dense --dataset sample:mnist"
    assert card["preprocessing"].startswith("x / 255")
    assert {"python", "versions", "machine"} <= set(card["training"]["environment"])
    assert len(_rows(run)) == 2 and float(_rows(run)[1]["loss"]) < float(_rows(run)[0]["loss"])
    with pytest.raises(FileExistsError, match="finished run"):
        train("ae_dense", "sample:mnist", run, epochs=1, model_kwargs=TINY, verbose=0)
    assert result.model.latent_dim == 4


@pytest.mark.slow
def test_same_seed_same_result(tmp_path):
    a = train("ae_dense", "sample:mnist", tmp_path / "a", epochs=1, batch_size=100, model_kwargs=TINY, verbose=0)
    b = train("ae_dense", "sample:mnist", tmp_path / "b", epochs=1, batch_size=100, model_kwargs=TINY, verbose=0)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_killed_run_resumes_and_loses_at_most_one_epoch(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "aezoo", "train", "ae_dense", "--dataset", "sample:mnist", "--epochs", "8",
           "--batch-size", "4", "--latent-dim", "4", "--set", "hidden_units=(16,)", "--run-dir", str(run),
           "--verbose", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while len(_rows(run)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(_rows(run))
    assert 2 <= done_before < 8, "the run must be killed mid-way"
    assert (run / "backup").exists() and not (run / "model.keras").exists()

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 1 and "--resume" in rerun.stderr.strip().splitlines()[-1]

    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    epochs = [int(r["epoch"]) for r in _rows(run)]
    # Every epoch is logged exactly once: resume restarted at the first unfinished epoch.
    assert epochs == list(range(8)), epochs
    assert json.loads((run / "card.json").read_text())["training"]["epochs"] == 8
    assert not (run / "backup").exists()


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    x = np.random.default_rng(0).uniform(size=(64, 10)).astype("float32")
    np.save(tmp_path / "rows.npy", x)
    # Diverging before any epoch finished leaves nothing to resume: the folder is left as found
    # (this test asserted "--resume" in the message before run folders were cleaned up).
    with pytest.raises(TrainingDiverged, match=r"NaN at epoch 1.*before any epoch finished"):
        train("linear_dense", str(tmp_path / "rows.npy"), tmp_path / "run", epochs=3, batch_size=8,
              learning_rate=1e25, model_kwargs={"latent_dim": 2}, verbose=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kwargs, match", [({"epochs": 0}, "epochs=0"), ({"learning_rate": -1.0}, "learning_rate=-1.0")])
def test_invalid_training_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train("ae_dense", "sample:mnist", tmp_path / "run", model_kwargs=TINY, verbose=0, **kwargs)


@pytest.mark.slow
def test_cli_train_one_line_error_for_missing_data(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "aezoo", "train", "ae_dense", "--dataset", str(tmp_path / "nope.npy")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "AEZOO_DATA_DIR": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("aezoo: error: Unknown dataset")


@pytest.mark.slow
def test_train_on_an_image_folder(tmp_path):
    import keras

    folder = tmp_path / "imgs" / "cls"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        keras.utils.save_img(folder / f"{i}.png", rng.integers(0, 256, (8, 8, 3)).astype("uint8"), scale=False)
    result = train("ae_conv", str(tmp_path / "imgs"), tmp_path / "run", epochs=1, batch_size=4, verbose=0,
                   model_kwargs={"input_shape": (8, 8, 3), "latent_dim": 3, "filters": (4, 8)})
    assert result.model.data_shape == (8, 8, 3)
    assert result.card["data"].startswith("user data")
