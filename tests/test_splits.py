"""Splits are explicit and image shapes are inferred: through the API and the CLI alike.

A small keras-layout file (50 train, 20 test images) proves which split was read by its count;
after every refusal the data, the run folder and any weights are unchanged.
"""

import json

import numpy as np
import pytest
from PIL import Image

from aezoo.cli import main
from zoo.data import datasets as zdata
from zoo.data.images import scale_pixels
from zoo.training.run import train

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TINY = {"latent_dim": 2, "hidden_units": (8,)}
N_TRAIN, N_TEST = 50, 20


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A keras-layout .npz, an x-only .npy and image folders (RGB, RGBA mixed in, mixed sizes)."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    np.savez(root / "keras.npz", x_train=rng.integers(0, 256, (N_TRAIN, 8, 8), dtype=np.uint8),
             y_train=np.arange(N_TRAIN) % 2, x_test=rng.integers(0, 256, (N_TEST, 8, 8), dtype=np.uint8),
             y_test=np.arange(N_TEST) % 2)
    np.save(root / "x_only.npy", rng.integers(0, 256, (30, 8, 8), dtype=np.uint8))
    for name, sizes, modes in (("rgb", [(32, 32)] * 6, ["RGB"] * 6), ("rgba", [(8, 8)] * 5, ["RGB"] * 3 + ["RGBA"] * 2),
                               ("mixed", [(8, 8)] * 3 + [(12, 10)] * 2, ["RGB"] * 5)):
        (root / name).mkdir()
        for i, ((h, w), mode) in enumerate(zip(sizes, modes, strict=True)):
            pixels = rng.integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i}.png")
    return root


def _train(data, run, **kwargs):
    return train("ae_dense", str(data), run, epochs=1, batch_size=8, verbose=0, model_kwargs=dict(TINY), **kwargs)


def _cli_train(source, run, *extra):
    return main(["train", "ae_dense", "--dataset", str(source), "--run-dir", str(run), "--epochs", "1",
                 "--batch-size", "8", "--verbose", "0", "--latent-dim", "2", "--set", "hidden_units=(8,)", *extra])


@pytest.mark.parametrize("split, count", [(None, N_TRAIN), ("train", N_TRAIN), ("test", N_TEST),
                                          ("all", N_TRAIN + N_TEST)])
def test_the_load_reads_the_split_asked_for_and_the_task_default_otherwise(data, split, count):
    for default in ("train", "test"):
        loaded = zdata.parse_data_spec(str(data / "keras.npz")).load(split, default=default)
        expected = count if split else {"train": N_TRAIN, "test": N_TEST}[default]
        assert (len(loaded), loaded.split) == (expected, split or default)
        assert len(loaded.y) == expected


def test_a_keras_layout_file_trains_on_its_train_split_and_records_it(data, tmp_path, capsys):
    result = _train(data / "keras.npz", tmp_path / "api")
    assert (result.card["split"], result.card["examples"]) == ("train", N_TRAIN)
    recorded = json.loads((tmp_path / "api" / "run.json").read_text())["data"]
    assert (recorded["split"], recorded["count"]) == ("train", N_TRAIN)
    assert json.loads((tmp_path / "api" / "card.json").read_text())["examples"] == N_TRAIN
    assert _cli_train(data / "keras.npz", tmp_path / "cli") == 0
    assert f"(train split, {N_TRAIN} examples)" in capsys.readouterr().out
    assert _cli_train(data / "keras.npz", tmp_path / "cli_test", "--split", "test") == 0
    assert f"(test split, {N_TEST} examples)" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli_test" / "run.json").read_text())["data"]["count"] == N_TEST


def test_train_or_test_of_an_unsplit_file_is_refused_and_nothing_changes(data, tmp_path, capsys):
    before = _snapshot(data)
    assert zdata.parse_data_spec(str(data / "x_only.npy")).load().split == "all"
    with pytest.raises(ValueError, match=r"read whole as split 'all'. Received: split='train'"):
        _train(data / "x_only.npy", tmp_path / "api", split="train")
    assert _cli_train(data / "x_only.npy", tmp_path / "cli", "--split", "test") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Received: split='test'; drop --split or pass --split all" in err
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
    assert _snapshot(data) == before


def test_a_sample_has_no_train_split_and_an_unknown_split_is_refused(data):
    with pytest.raises(ValueError, match="slice of mnist's test split; it has no train split"):
        zdata.parse_data_spec("sample:mnist").load("train")
    with pytest.raises(ValueError, match=r"`split` must be one of \('train', 'test', 'all'\). Received: split='val'"):
        zdata.parse_data_spec(str(data / "keras.npz")).load("val")


def test_a_missing_split_is_never_replaced_by_the_other(tmp_path):
    np.savez(tmp_path / "test_only.npz", x_test=np.zeros((3, 4, 4), np.uint8), y_test=np.zeros(3))
    with pytest.raises(ValueError, match=r"has no train split: it holds x_test only.*pass --split test"):
        zdata.parse_data_spec(str(tmp_path / "test_only.npz")).load(default="train")
    assert len(zdata.parse_data_spec(str(tmp_path / "test_only.npz")).load("test")) == 3


def test_evaluation_and_scoring_read_the_test_split_fitting_the_train_split(data, tmp_path, capsys):
    import zoo
    from zoo.evaluation.evaluate import evaluate

    model = zoo.create_model("ae_dense", input_shape=(8, 8, 1), **TINY)
    metrics = evaluate(model, str(data / "keras.npz"), probe=False)
    assert (metrics["split"], metrics["n_test"]) == ("test", N_TEST)
    assert evaluate(model, str(data / "keras.npz"), probe=False, split="all")["n_test"] == N_TRAIN + N_TEST
    model.save(tmp_path / "m.keras")
    out = tmp_path / "detector"
    assert main(["anomaly", "fit", str(tmp_path / "m.keras"), "--normal", str(data / "keras.npz"),
                 "--out", str(out)]) == 0
    fitted = capsys.readouterr().out  # 20% of the train split is held out for the threshold
    assert f"on {N_TRAIN * 4 // 5} normal examples (train split of {data / 'keras.npz'})" in fitted
    assert f"on {N_TRAIN // 5} normal validation examples" in fitted
    assert main(["anomaly", "score", str(out), "--input", str(data / "keras.npz"),
                 "--output", str(tmp_path / "s.csv")]) == 0
    assert f"scored {N_TEST} inputs (test split of" in capsys.readouterr().out
    assert main(["anomaly", "score", str(out), "--input", str(data / "keras.npz"), "--split", "train",
                 "--output", str(tmp_path / "s.csv")]) == 0
    assert f"scored {N_TRAIN} inputs (train split of" in capsys.readouterr().out


def test_packing_takes_the_train_split_unless_told(data, tmp_path, capsys):
    from zoo.data.pack import pack

    manifest = pack(data / "keras.npz", tmp_path / "p")
    assert (manifest["count"], manifest["split"]) == (N_TRAIN, "train")
    assert main(["data", "pack", str(data / "keras.npz"), "--out", str(tmp_path / "q"), "--split", "all"]) == 0
    assert f"(all split of {data / 'keras.npz'})" in capsys.readouterr().out


def test_a_folder_of_rgb_images_gives_an_rgb_model_of_their_size(data, tmp_path, capsys):
    result = _train(data / "rgb", tmp_path / "api")
    assert result.model.data_shape == (32, 32, 3) and result.card["input_shape"] == [32, 32, 3]
    assert result.card["converted"] == []
    assert _cli_train(data / "rgb", tmp_path / "cli") == 0
    assert "(all split, 6 examples)" in capsys.readouterr().out


def test_rgba_images_are_converted_and_say_so(data, tmp_path, capsys):
    loaded = zdata.parse_data_spec(str(data / "rgba")).load()
    assert loaded.x.shape == (5, 8, 8, 3)
    assert loaded.notes == ("converted 2 RGBA images to RGB (alpha dropped)",)
    assert _cli_train(data / "rgba", tmp_path / "cli") == 0
    assert "converted 2 RGBA images to RGB (alpha dropped)" in capsys.readouterr().out
    assert json.loads((tmp_path / "cli" / "card.json").read_text())["converted"] == list(loaded.notes)
    gray = zdata.parse_data_spec(str(data / "rgba")).load(color="gray", image_size=(4, 4))
    assert gray.x.shape == (5, 4, 4, 1)
    assert gray.notes == ("converted 3 RGB images to gray", "converted 2 RGBA images to gray (alpha dropped)",
                          "resized 5 of 5 to 4x4")


def test_mixed_sizes_are_refused_listing_the_sizes_unless_a_shape_is_given(data, tmp_path, capsys):
    before = _snapshot(data)
    sizes = r"holds images of 2 sizes \(height x width: 8x8 \(3\), 12x10 \(2\)\)"
    with pytest.raises(ValueError, match=sizes):
        _train(data / "mixed", tmp_path / "api")
    assert _cli_train(data / "mixed", tmp_path / "cli") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "8x8 (3), 12x10 (2)" in err and "--input-shape" in err
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()
    assert _snapshot(data) == before
    assert _cli_train(data / "mixed", tmp_path / "ok", "--input-shape", "8,8,3") == 0
    assert "resized 2 of 5 to 8x8" in capsys.readouterr().out


def test_a_refused_resume_split_leaves_the_run_and_its_weights_unchanged(data, tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", "ae_dense", "--dataset", str(data / "keras.npz"), "--run-dir", str(run), "--epochs", "3",
          "--batch-size", "8", "--verbose", "0", "--latent-dim", "2", "--set", "hidden_units=(8,)"])
    (run / "model.keras").unlink()  # an unfinished run, as a kill leaves it
    before = _snapshot(run)
    assert main(["train", "--resume", "--run-dir", str(run), "--split", "test"]) == 1
    assert "split test (the run: train)" in capsys.readouterr().err
    assert _snapshot(run) == before


def test_the_one_pixel_rule_scales_numpy_and_tensors_alike():
    import tensorflow as tf

    x = np.array([[0, 1, 128, 255]], np.uint8)
    np.testing.assert_array_equal(scale_pixels(x), x.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(scale_pixels(tf.constant(x)).numpy(), scale_pixels(x))
    np.testing.assert_array_equal(zdata.to_unit_range(x), scale_pixels(x))
    floats = np.array([0.5], np.float64)
    assert scale_pixels(floats).dtype == np.float32 and scale_pixels(floats)[0] == 0.5


def test_encoding_reads_the_test_split_unless_told(data, tmp_path, capsys):
    import zoo

    zoo.create_model("ae_dense", input_shape=(8, 8, 1), **TINY).save(tmp_path / "m.keras")
    for extra, count, split in (([], N_TEST, "test"), (["--split", "train"], N_TRAIN, "train")):
        assert main(["encode", str(tmp_path / "m.keras"), "--input", str(data / "keras.npz"),
                     "--output", str(tmp_path / "z.npy"), *extra]) == 0
        assert f"encoded {count} inputs (8, 8, 1) ({split} split of" in capsys.readouterr().out
        assert np.load(tmp_path / "z.npy").shape == (count, 2)


def test_evaluate_probes_a_keras_layout_file_on_its_own_train_split(tmp_path):
    import zoo
    from zoo.data import datasets as zdata
    from zoo.evaluation.evaluate import evaluate
    from zoo.models.metrics import linear_probe

    x, y = zdata.load_sample("mnist")
    path = tmp_path / "k.npz"
    np.savez(path, x_train=x[:600], y_train=y[:600], x_test=x[600:800], y_test=y[600:800])
    model = zoo.load_pretrained("ae_dense.mnist")
    got = evaluate(model, str(path))
    assert got["split"] == "test" and got["n_test"] == 200
    assert got["probe_split"] == "the file's train split (600 examples)"
    expected = linear_probe(model.encode(x[:600]), y[:600], model.encode(x[600:800]), y[600:800])
    assert got["probe_accuracy"] == pytest.approx(expected, abs=1e-12)
    # The train split scored: the probes hold out a seeded 20% of it, as for any labelled file without a test split.
    assert evaluate(model, str(path), split="train")["probe_split"].startswith("seeded 480/120")


@pytest.mark.parametrize("color", ["gray", "rgb"])
def test_16_bit_images_are_scaled_to_8_bits_not_clamped(tmp_path, color):
    from zoo.data.images import read_image

    wide = (np.arange(16).reshape(4, 4) * 4000).astype(np.uint16)  # 0 .. 60000
    Image.fromarray(wide).save(tmp_path / "w.png")
    assert Image.open(tmp_path / "w.png").mode == "I;16"
    got = read_image(tmp_path / "w.png", (4, 4), grayscale=color == "gray")
    expected = np.round(wide * (255.0 / 65535)).astype(np.uint8)
    np.testing.assert_array_equal(got[..., 0], expected)
    if color == "rgb":
        np.testing.assert_array_equal(got, np.repeat(expected[..., None], 3, axis=-1))
