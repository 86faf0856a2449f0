"""Run identity and tidy failure: --resume refuses a different run; a failed start leaves the folder as found."""

import json

import numpy as np
import pytest

from aezoo.cli import main
from zoo.training import run as ztrain
from zoo.training.run import train

TINY = {"latent_dim": 4, "hidden_units": (16,)}
ARGV = ["ae_dense", "--dataset", "sample:mnist", "--epochs", "3", "--batch-size", "100", "--latent-dim", "4",
        "--set", "hidden_units=(16,)", "--verbose", "0"]


def _snapshot(folder):
    """Every file under ``folder`` with its bytes (what "left as found" compares)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A real unfinished run: ae_dense on sample:mnist, 3 epochs asked, stopped after the first."""
    run = tmp_path_factory.mktemp("runs") / "r"
    original = ztrain._NaNGuard.on_epoch_end

    def stop_after_first(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    ztrain._NaNGuard.on_epoch_end = stop_after_first
    try:
        with pytest.raises(KeyboardInterrupt):
            train("ae_dense", "sample:mnist", run, epochs=3, batch_size=100, model_kwargs=TINY, verbose=0)
    finally:
        ztrain._NaNGuard.on_epoch_end = original
    assert (run / "backup").exists() and not (run / "model.keras").exists()
    return run


@pytest.mark.slow
def test_run_json_records_the_identity(interrupted):
    spec = json.loads((interrupted / "run.json").read_text())
    assert {k: spec[k] for k in ("model", "dataset", "epochs", "batch_size", "learning_rate", "seed")} == {
        "model": "ae_dense", "dataset": "sample:mnist", "epochs": 3, "batch_size": 100, "learning_rate": 1e-3,
        "seed": 0}
    assert spec["backend"] == "tensorflow" and spec["model_arguments"]["latent_dim"] == 4
    assert spec["model_arguments"]["code_activation"] == "linear"  # defaults recorded too


def test_resume_with_other_options_is_refused_naming_each_difference(interrupted, capsys):
    before = _snapshot(interrupted)
    argv = ["train", "ae_conv", "--run-dir", str(interrupted), "--dataset", "fashion_mnist", "--resume",
            "--epochs", "2", "--latent-dim", "7"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"aezoo: error: --resume: {interrupted} holds a run of ae_dense")
    for difference in ("model ae_conv (the run: ae_dense)", "dataset fashion_mnist (the run: sample:mnist)",
                       "epochs 2 (the run: 3)", "latent_dim 7 (the run: 4)"):
        assert difference in err, difference
    assert _snapshot(interrupted) == before


def test_resume_refuses_a_different_value_of_a_default_it_recorded(interrupted):
    with pytest.raises(ValueError, match=r"seed 1 \(the run: 0\).*code_activation 'relu' \(the run: 'linear'\)"):
        train(None, None, interrupted, resume=True, seed=1, model_kwargs={"code_activation": "relu"})


@pytest.mark.slow
def test_resume_with_the_run_dir_alone_finishes_the_recorded_run(interrupted, tmp_path, capsys):
    import shutil

    run = tmp_path / "r"
    shutil.copytree(interrupted, run)
    same = ["train", "ae_dense", "--dataset", "sample:mnist", "--batch-size", "100"]  # typed and equal: fine
    assert main([*same, "--run-dir", str(run), "--resume", "--verbose", "0"]) == 0
    assert "trained ae_dense on sample:mnist (test split, 1,000 examples) for 3 epochs" in capsys.readouterr().out
    card = json.loads((run / "card.json").read_text())
    assert card["latent_dim"] == 4 and card["training"]["epochs"] == 3
    shutil.rmtree(run)
    shutil.copytree(interrupted, run)
    assert main(["train", "--run-dir", str(run), "--resume", "--verbose", "0"]) == 0
    assert json.loads((run / "card.json").read_text())["model"] == "ae_dense"


@pytest.mark.parametrize("existing", [False, True])
def test_a_start_that_fails_on_its_data_leaves_the_folder_as_found(tmp_path, capsys, existing):
    bad = tmp_path / "bad_int64.npy"
    np.save(bad, np.full((8, 28, 28), 1000, "int64"))
    run = tmp_path / "runs" / "t"
    if existing:
        run.mkdir(parents=True)
        (run / "notes.txt").write_text("mine")
    before = _snapshot(tmp_path)
    for _ in range(2):  # the second try fails the same way, not with "holds an unfinished run"
        assert main(["train", "ae_dense", "--dataset", str(bad), "--run-dir", str(run), "--epochs", "1"]) == 1
        err = capsys.readouterr().err
        assert f"--dataset {bad}: integer data are read as pixels in 0..255" in err
        assert "values in [1000, 1000]" in err and err.count("\n") == 1
        assert _snapshot(tmp_path) == before and run.exists() == existing


@pytest.mark.slow
def test_a_start_that_fails_in_its_first_epoch_removes_what_it_wrote(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")

    def boom(self, epoch, logs=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ztrain._NaNGuard, "on_train_batch_end", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        train("ae_dense", "sample:mnist", run, epochs=2, batch_size=500, model_kwargs=TINY, verbose=0)
    assert _snapshot(run) == {"keep.txt": b"mine"}
    monkeypatch.undo()
    train("ae_dense", "sample:mnist", run, epochs=1, batch_size=500, model_kwargs=TINY, verbose=0)
    assert (run / "model.keras").exists() and (run / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_a_leftover_run_json_without_any_epoch_does_not_block_the_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"model": "ae_dense", "dataset": "x.npy"}))  # an older aezoo's
    train("ae_dense", "sample:mnist", run, epochs=1, batch_size=500, model_kwargs=TINY, verbose=0)
    assert json.loads((run / "run.json").read_text())["dataset"] == "sample:mnist"


@pytest.mark.parametrize("option, value, needle", [
    ("--batch-size", "0", "expected an integer >= 1. Received: '0'"),
    ("--batch-size", "-5", "expected an integer >= 1. Received: '-5'"),
    ("--epochs", "0", "expected an integer >= 1"),
    ("--learning-rate", "-1", "expected a finite number > 0"),
    ("--latent-dim", "0", "expected an integer >= 1"),
])
def test_numeric_options_are_checked_by_the_parser(tmp_path, capsys, option, value, needle):
    with pytest.raises(SystemExit) as info:
        main(["train", *ARGV, "--run-dir", str(tmp_path / "run"), option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: {needle}" in err and not (tmp_path / "run").exists()


def test_train_without_a_model_or_dataset_says_what_is_missing(tmp_path, capsys):
    assert main(["train", "ae_dense", "--run-dir", str(tmp_path / "r")]) == 1
    assert "needs --dataset for a new run" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
