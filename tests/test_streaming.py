"""Data that streams from disk (zoo.data.streaming, zoo.data.pack, `aezoo data pack`): same content as in memory, seeded
order, auto-shard across workers, manifest verification, atomic packing and one-line errors.

The data are tiny (a few hundred 8x8 or 16x16 images); the JAX backend runs in a subprocess.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import zoo.data.pack
from aezoo.cli import main
from zoo.data import datasets as zdata
from zoo.data import streaming
from zoo.data.pipeline import StreamBatches, make_pipeline

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (8, 8, 1)
N = 150
KINDS = ["npy", "npz", "images", "tfrecord", "packed_npy"]
FILE_SHARDED = {"npy", "tfrecord", "packed_npy"}

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _rows(batches) -> list[bytes]:
    """Examples as sorted byte strings: equal lists mean the same multiset of examples."""
    x = np.concatenate([np.asarray(b) for b in batches])
    return sorted(row.tobytes() for row in x.reshape(len(x), -1))


def _epoch(ds) -> np.ndarray:
    return np.concatenate([np.asarray(b) for b in ds])


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (N, *SHAPE), dtype=np.uint8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, x) -> dict[str, Path]:
    """The same examples in every layout; shards of uneven sizes, in name order."""
    root = tmp_path_factory.mktemp("streams")
    parts = np.split(x, [40, 70, 120])
    for kind in ("npy", "npz", "images"):
        (root / kind).mkdir()
    for i, part in enumerate(parts):
        np.save(root / "npy" / f"s{i}.npy", part)
        np.savez_compressed(root / "npz" / f"s{i}.npz", x=part)
    for i, image in enumerate(x):  # nested folders, sorted by path
        sub = root / "images" / f"d{i // 100}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(image[..., 0]).save(sub / f"{i:04d}.png")
    zoo.data.pack.pack(root / "npy", root / "tfrecord", shard_size=40, storage="tfrecord")
    zoo.data.pack.pack(root / "npy", root / "packed_npy", shard_size=40, storage="npy")
    return {kind: root / kind for kind in KINDS}


def _open(folders, kind):
    return streaming.open_stream(folders[kind], image_size=SHAPE[:2]).for_model(SHAPE, (0.0, 1.0), kind)


@pytest.mark.parametrize("kind", KINDS)
def test_shape_dtype_and_count_come_from_headers(folders, kind):
    stream = streaming.open_stream(folders[kind], image_size=SHAPE[:2])
    assert (stream.shape, stream.dtype, len(stream)) == ((N, *SHAPE), np.uint8, N)
    assert stream.kind == {"packed_npy": "npy"}.get(kind, "arrays" if kind == "npz" else kind)


@pytest.mark.parametrize("kind", KINDS)
def test_epochs_hold_the_in_memory_examples_in_a_seeded_order_that_changes(folders, x, kind):
    stream = _open(folders, kind)
    in_memory = _rows(make_pipeline(x, 32, seed=5))
    ds = make_pipeline(stream, 32, seed=5)
    first, second = _epoch(ds), _epoch(ds)
    assert first.dtype == np.float32 and first.shape == (N, *SHAPE)
    assert _rows([first]) == _rows([second]) == in_memory
    assert not np.array_equal(first, second), "the order must change between epochs"
    again = _epoch(make_pipeline(_open(folders, kind), 32, seed=5))
    np.testing.assert_array_equal(again, first)
    assert not np.array_equal(_epoch(make_pipeline(stream, 32, seed=6)), first)


@pytest.mark.parametrize("kind", KINDS)
def test_two_workers_auto_shard_to_every_example_once(folders, x, kind):
    # What MultiWorkerMirroredStrategy applies to a dataset (the policy comes from the dataset's options).
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset

    ds = make_pipeline(_open(folders, kind), 16, seed=1)
    policy = ds.options().experimental_distribute.auto_shard_policy
    assert policy == (tf.data.experimental.AutoShardPolicy.FILE if kind in FILE_SHARDED
                      else tf.data.experimental.AutoShardPolicy.DATA)
    # Each worker builds its own pipeline, as its own process would: the same seed gives every worker the same
    # order, so with DATA sharding they keep complementary examples.
    workers = [_epoch(_AutoShardDataset(make_pipeline(_open(folders, kind), 16, seed=1), 2, i))
               for i in range(2)]
    assert _rows(workers) == _rows([x.astype(np.float32) / 255])
    assert all(len(w) > 0 for w in workers)
    if kind in FILE_SHARDED:  # FILE: each shard goes whole to one worker
        worker_of = {row: w for w, rows in enumerate(workers) for row in _rows([rows])}
        bounds = [0, 40, 70, 120, N] if kind == "npy" else [0, 40, 80, 120, N]
        for a, b in zip(bounds, bounds[1:], strict=False):
            assert len({worker_of[row] for row in _rows([x[a:b].astype(np.float32) / 255])}) == 1


def test_stream_batches_read_lazily_in_bounded_windows(folders, x):
    stream = _open(folders, "npy")
    batches = StreamBatches(stream, 16, seed=3, buffer_size=50)
    epochs = []
    for _ in range(2):
        positions = [batches.positions(i) for i in range(len(batches))]
        epochs.append([batches[i] for i in range(len(batches))])
        # Window w of the epoch's file-ordered sequence holds only its own examples (a bounded shuffle).
        starts = np.concatenate([[0], np.cumsum(stream.counts)])
        order = np.concatenate([starts[f] + r for f, r in positions])
        seq = np.concatenate([np.arange(starts[f], starts[f + 1]) for f in batches.files])
        for w in range(0, N, 50):
            assert sorted(order[w:w + 50]) == sorted(seq[w:w + 50])
        batches.on_epoch_end()
    assert _rows(epochs[0]) == _rows(epochs[1]) == _rows([x.astype(np.float32) / 255])
    assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1]))
    fresh = StreamBatches(stream, 16, seed=3, buffer_size=50)
    np.testing.assert_array_equal(np.concatenate([fresh[i] for i in range(len(fresh))]), np.concatenate(epochs[0]))
    images = StreamBatches(_open(folders, "images"), 16, seed=3)
    assert _rows([images[i] for i in range(len(images))]) == _rows([x.astype(np.float32) / 255])


@pytest.mark.slow
def test_jax_backend_streams_through_a_pydataset_and_trains(folders, tmp_path):
    out = tmp_path / "jax.json"
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.streaming_backend", json.dumps({k: str(v) for k, v in
                                                                                        folders.items()}), str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report.pop("backend") == "jax"
    assert report == {"npy": "ok", "npz": "ok", "images": "ok", "tfrecord": "ok", "train": "ok"}, report


def test_pack_round_trip_and_manifest(folders, x):
    for kind, suffix in (("tfrecord", ".tfrecord"), ("packed_npy", ".npy")):
        manifest = json.loads((folders[kind] / streaming.MANIFEST).read_text())
        assert (manifest["count"], manifest["shape"], np.dtype(manifest["dtype"])) == (N, list(SHAPE), np.uint8)
        assert [s["count"] for s in manifest["shards"]] == [40, 40, 40, 30]
        for shard in manifest["shards"]:
            path = folders[kind] / shard["file"]
            assert path.suffix == suffix
            assert shard["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        np.testing.assert_array_equal(streaming.open_stream(folders[kind]).read_all(), x)
    assert np.array_equal(zdata.load_user_data(folders["npy"]), x)  # evaluation reads a shard folder whole


@pytest.mark.slow
def test_packing_a_known_dataset_and_training_from_it_end_to_end(tmp_path, capsys):
    out = tmp_path / "packed"
    assert main(["data", "pack", "sample:mnist", "--out", str(out), "--shard-size", "400"]) == 0
    assert "packed 1,000 examples of shape (28, 28, 1)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"] + [f"shard-0000{i}-of-00003.npy"
                                                                          for i in range(3)]
    np.testing.assert_array_equal(streaming.open_stream(out).read_all(), zdata.load_sample("mnist")[0])
    run = tmp_path / "run"
    assert main(["train", "ae_dense", "--dataset", str(out), "--epochs", "1", "--run-dir", str(run),
                 "--latent-dim", "4", "--verbose", "0"]) == 0
    card = json.loads((run / "card.json").read_text())
    assert "streamed" in card["data"] and card["training"]["epochs"] == 1


def test_a_tampered_shard_is_refused_before_training(folders, tmp_path, capsys):
    copy = tmp_path / "copy"
    zoo.data.pack.pack(folders["npy"], copy, shard_size=100)
    shard = copy / "shard-00001-of-00002.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    assert main(["train", "ae_dense", "--dataset", str(copy), "--epochs", "1", "--run-dir", str(tmp_path / "r"),
                 "--input-shape", "8,8,1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "shard-00001-of-00002.npy does not match its SHA-256" in err
    assert not (tmp_path / "r").exists()


def test_an_interrupted_pack_leaves_nothing(folders, tmp_path, monkeypatch):
    write, calls = zoo.data.pack._write_shard, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return write(*args)

    monkeypatch.setattr(zoo.data.pack, "_write_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        zoo.data.pack.pack(folders["npy"], tmp_path / "out", shard_size=40)
    assert list(tmp_path.iterdir()) == []


def test_pack_refuses_a_non_empty_folder(folders, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    assert main(["data", "pack", str(folders["npy"]), "--out", str(tmp_path / "out")]) == 1
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]
    (tmp_path / "empty").mkdir()
    assert main(["data", "pack", str(folders["npy"]), "--out", str(tmp_path / "empty")]) == 0


def _bad_folder(tmp_path, case):
    folder = tmp_path / case
    folder.mkdir()
    good = np.zeros((5, *SHAPE), np.uint8)
    if case == "mixed":
        np.save(folder / "a.npy", good)
        np.save(folder / "b.npy", np.zeros((5, 9, 9, 1), np.uint8))
        return folder, "a.npy holds examples of shape (8, 8, 1) uint8, b.npy of shape (9, 9, 1) uint8"
    if case == "nan":
        np.save(folder / "a.npy", good.astype(np.float32))
        bad = np.zeros((5, *SHAPE), np.float32)
        bad[3, 1, 1, 0] = np.nan
        np.save(folder / "b.npy", bad)
        return folder, f"{folder / 'b.npy'} holds NaN or infinite values, the first in example 3"
    if case == "broken_image":
        for i in range(3):
            Image.fromarray(good[i, ..., 0]).save(folder / f"{i}.png")
        (folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        return folder, f"Cannot read image {folder / '1.png'}"
    return folder, f"No data in folder {folder}"


@pytest.mark.parametrize("case", ["empty", "mixed", "nan", "broken_image"])
def test_bad_streams_fail_in_one_line_naming_the_file(tmp_path, monkeypatch, capsys, case):
    monkeypatch.setenv(streaming.ENV_STREAM_ABOVE_MB, "0")
    folder, words = _bad_folder(tmp_path, case)
    assert main(["train", "ae_dense", "--dataset", str(folder), "--epochs", "1", "--run-dir",
                 str(tmp_path / "run"), "--input-shape", "8,8,1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("aezoo: error: ") and "\n" not in err and words in err, err
    assert not (tmp_path / "run").exists()


def test_small_image_folders_load_into_memory_unless_asked(folders, x, monkeypatch):
    loaded = zdata.load_user_data(folders["images"], image_size=SHAPE[:2], stream=True)
    assert isinstance(loaded, np.ndarray) and np.array_equal(loaded, x)
    monkeypatch.setenv(streaming.ENV_STREAM_ABOVE_MB, "0")
    assert isinstance(zdata.load_user_data(folders["images"], image_size=SHAPE[:2], stream=True), streaming.Stream)
    assert isinstance(zdata.load_user_data(folders["npy"], stream=True), streaming.Stream)


def test_float_shards_without_a_channel_axis_follow_the_input_contract(tmp_path):
    x = np.random.default_rng(1).uniform(0, 1, (30, 8, 8)).astype(np.float32)
    (tmp_path / "ok").mkdir()
    np.save(tmp_path / "ok" / "a.npy", x[:10])
    np.save(tmp_path / "ok" / "b.npy", x[10:])
    stream = streaming.open_stream(tmp_path / "ok").for_model(SHAPE, (0.0, 1.0), "fit")
    assert stream.shape == (30, *SHAPE)
    assert _rows(make_pipeline(stream, 7, seed=0)) == _rows([x[..., None]])
    (tmp_path / "bad").mkdir()
    np.save(tmp_path / "bad" / "a.npy", x * 2)
    with pytest.raises(ValueError, match=r"float data must lie in \[0, 1\].*Received range"):
        streaming.open_stream(tmp_path / "bad").for_model(SHAPE, (0.0, 1.0), "fit")


def test_a_killed_pack_leaves_no_output_and_the_next_pack_cleans_up(folders, tmp_path):
    script = ("import sys, zoo.data.pack\nwrite = zoo.data.pack._write_shard\n"
              + "def stop(*args):\n    write(*args)\n    print('wrote', flush=True)\n    sys.stdin.readline()\n"
              + "zoo.data.pack._write_shard = stop\n"
              + f"zoo.data.pack.pack({str(folders['npy'])!r}, {str(tmp_path / 'out')!r}, shard_size=40)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    assert proc.stdout.readline().strip() == "wrote"  # one shard written, the pack in progress
    proc.kill()
    proc.wait()
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == [f".out.partial-{proc.pid}"]
    zoo.data.pack.pack(folders["npy"], tmp_path / "out", shard_size=40)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
