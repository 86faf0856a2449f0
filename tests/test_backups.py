"""Backups that survive a real kill: a training process killed (SIGKILL) while it writes a backup resumes.

A test hook (``AEZOO_TEST_STALL_BACKUP_EPOCH``) makes the backup writer of one epoch
stop after writing its temporary file, so the test kills the process there, mid-write,
every time. Resume then says in one line what it could not use and continues from the
previous good backup; the log and card count each epoch once.
"""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aezoo.cli import main
from zoo.training import backup
from zoo.utils.atomic import TEMP_PREFIX

ROOT = Path(__file__).parents[1]
ARGV = ["train", "ae_dense", "--dataset", "sample:mnist", "--epochs", "3", "--batch-size", "100",
        "--latent-dim", "4", "--set", "hidden_units=(16,)", "--verbose", "0"]


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _log_epochs(run):
    with (run / "log.csv").open(newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A run killed with SIGKILL while it wrote the backup of epoch 3 (epochs 1 and 2 backed up)."""
    run = tmp_path_factory.mktemp("killed") / "r"
    env = {**os.environ, backup.STALL_ENV: "3", "KERAS_BACKEND": "tensorflow"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.Popen([sys.executable, "-m", "aezoo", *ARGV, "--run-dir", str(run)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    try:
        for line in proc.stdout:
            if line.startswith("backup stalled") or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    folder = run / "backup"
    assert [e["epoch"] for e in backup.read_manifest(folder)] == [1, 2]
    assert any(p.name.startswith(TEMP_PREFIX) for p in folder.iterdir())  # the write that was cut off
    assert not (run / "model.keras").exists()
    return run


def _resume(run, capsys):
    code = main(["train", "--run-dir", str(run), "--resume", "--verbose", "0"])
    return code, capsys.readouterr()


@pytest.mark.slow
def test_a_kill_during_a_backup_write_resumes_from_the_last_complete_backup(killed, tmp_path, capsys):
    run = tmp_path / "r"
    shutil.copytree(killed, run)
    code, out = _resume(run, capsys)
    assert code == 0, out.err
    lines = out.err.splitlines()
    assert lines == ["--resume: the backup of epoch 3 was being written when the run stopped and is incomplete. "
                     + f"Resuming from the previous good backup, epoch 2 ({run / 'backup' / 'epoch-0002.weights.h5'})."]
    assert TEMP_PREFIX not in out.err and "for 3 epochs" in out.out
    assert _log_epochs(run) == [0, 1, 2] and json.loads((run / "card.json").read_text())["training"]["epochs"] == 3
    assert not (run / "backup").exists() and (run / "model.keras").is_file()


@pytest.mark.slow
def test_a_damaged_newest_backup_is_reported_and_the_previous_one_used(killed, tmp_path, capsys):
    run = tmp_path / "r"
    shutil.copytree(killed, run)
    newest = run / "backup" / "epoch-0002.weights.h5"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated, as a crash on disk leaves it
    code, out = _resume(run, capsys)
    assert code == 0, out.err
    assert out.err.splitlines() == [
        "--resume: the backup of epoch 3 was being written when the run stopped and is incomplete; the backup of "
        + f"epoch 2 ({newest}) is damaged: its SHA-256 differs from the one recorded when it was written. Resuming "
        + f"from the previous good backup, epoch 1 ({run / 'backup' / 'epoch-0001.weights.h5'})."]
    assert _log_epochs(run) == [0, 1, 2]  # epoch 2's row was dropped with its backup, then written again
    assert json.loads((run / "card.json").read_text())["training"]["epochs"] == 3


def test_no_usable_backup_is_refused_in_one_line_and_the_folder_is_unchanged(killed, tmp_path, capsys):
    run = tmp_path / "r"
    shutil.copytree(killed, run)
    for path in (run / "backup").glob("epoch-*.weights.h5"):
        path.write_bytes(b"\0" * 64)
    before = _snapshot(run)
    code, out = _resume(run, capsys)
    assert code == 1 and out.err.count("\n") == 1
    assert out.err.startswith(f"aezoo: error: --resume: no usable backup in {run / 'backup'}: the backup of epoch 3")
    assert "Start the run again in another --run-dir." in out.err
    assert _snapshot(run) == before


def test_a_truncated_keras_backup_of_an_older_run_says_so_in_one_line(killed, tmp_path, capsys):
    """The layout before this one (Keras' BackupAndRestore): one ``latest.weights.h5``, truncated by a kill."""
    run = tmp_path / "r"
    shutil.copytree(killed, run)
    folder = run / "backup"
    data = (folder / "epoch-0002.weights.h5").read_bytes()
    shutil.rmtree(folder)
    folder.mkdir()
    (folder / "latest.weights.h5").write_bytes(data[: len(data) // 3])
    (folder / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    before = _snapshot(run)
    code, out = _resume(run, capsys)
    assert code == 1 and out.err.count("\n") == 1
    assert out.err.startswith(f"aezoo: error: --resume: the backup {folder / 'latest.weights.h5'} is damaged (")
    assert "objects could not be loaded" not in out.err and _snapshot(run) == before


def test_a_keras_backup_of_an_older_run_still_resumes(killed, tmp_path, capsys):
    run = tmp_path / "r"
    shutil.copytree(killed, run)
    folder = run / "backup"
    shutil.copy(folder / "epoch-0002.weights.h5", tmp_path / "latest.weights.h5")
    shutil.rmtree(folder)
    folder.mkdir()
    shutil.move(tmp_path / "latest.weights.h5", folder / "latest.weights.h5")
    (folder / "training_metadata.json").write_text('{"epoch": 2, "batch": 0}')
    code, out = _resume(run, capsys)
    assert code == 0 and out.err == "", out.err
    assert _log_epochs(run) == [0, 1, 2]


def test_backups_keep_the_last_two_each_listed_with_its_hash(killed):
    from zoo.utils.integrity import sha256

    folder = killed / "backup"
    entries = backup.read_manifest(folder)
    assert [e["file"] for e in entries] == [backup.backup_file(1), backup.backup_file(2)]
    for entry in entries:
        assert sha256(folder / entry["file"]) == entry["sha256"]


@pytest.mark.slow
def test_the_api_falls_back_the_same_way(killed, tmp_path, capsys):
    from zoo.training.run import train

    run = tmp_path / "r"
    shutil.copytree(killed, run)
    (run / "backup" / "epoch-0002.weights.h5").write_bytes(b"")  # damaged: empty
    result = train(None, None, run, resume=True, verbose=0)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the backup of epoch 2" in err
    assert "Resuming from the previous good backup, epoch 1" in err
    assert result.card["training"]["epochs"] == 3 and _log_epochs(run) == [0, 1, 2]
