"""Datasets: local files, tensorflow-datasets (mocked), user data, pipelines and clear errors."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from zoo.data import datasets as zdata
from zoo.data.pipeline import make_pipeline


@pytest.fixture
def only(monkeypatch):
    """Restrict the local search to the given folders (and never the real shared data)."""
    def restrict(*dirs):
        monkeypatch.setattr(zdata, "candidate_dirs", lambda data_dir=None: [*(p for p in [data_dir] if p), *dirs])
    return restrict


def _write_npz(path, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    np.savez_compressed(path, **arrays)
    return arrays


def test_local_npz_from_data_dir(tmp_path, only):
    only()
    arrays = _write_npz(tmp_path / "mnist.npz")
    x, y = zdata.load_dataset("mnist", "test", data_dir=tmp_path)
    assert x.shape == (5, 28, 28, 1) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[..., 0], arrays["x_test"])
    np.testing.assert_array_equal(y, arrays["y_test"])


def test_env_variable_is_searched(tmp_path, monkeypatch):
    _write_npz(tmp_path / "fashion_mnist.npz")
    monkeypatch.setenv(zdata.ENV_DATA_DIR, str(tmp_path))
    assert zdata.candidate_dirs()[0] == tmp_path
    x, _ = zdata.load_dataset("fashion_mnist", "train")
    assert x.shape == (12, 28, 28, 1)


def test_tfds_path_with_mock_data(tmp_path, only):
    only(tmp_path)  # no local file, so the loader falls through to tensorflow-datasets
    with tfds.testing.mock_data(num_examples=7):
        x, y = zdata.load_dataset("mnist", "train", download=True)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.uint8 and y.shape == (7,)


def test_missing_dataset_names_places_and_fix(tmp_path, only):
    only(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        zdata.load_dataset("mnist", "train")
    message = str(info.value)
    assert str(tmp_path / "mnist.npz") in message
    assert "--data-dir" in message and "AEZOO_DATA_DIR" in message and "--download" in message


def test_unknown_dataset_suggests_close_match():
    with pytest.raises(ValueError, match="Did you mean: fashion_mnist"):
        zdata.load_dataset("fashion_mnst")


def test_bad_npz_layout(tmp_path, only):
    only()
    np.savez(tmp_path / "mnist.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="keras.datasets layout"):
        zdata.load_dataset("mnist", data_dir=tmp_path)


def test_bundled_sample():
    x, y = zdata.load_sample("mnist")
    assert x.shape == (1000, 28, 28, 1) and x.dtype == np.uint8 and len(y) == 1000


def test_user_data_formats(tmp_path):
    import keras

    arr = np.random.default_rng(1).uniform(size=(6, 8, 8, 1)).astype("float32")
    np.save(tmp_path / "a.npy", arr)
    np.savez(tmp_path / "b.npz", x=arr)
    np.savetxt(tmp_path / "c.csv", arr.reshape(6, -1), delimiter=",")
    np.testing.assert_array_equal(zdata.load_user_data(tmp_path / "a.npy"), arr)
    np.testing.assert_array_equal(zdata.load_user_data(tmp_path / "b.npz"), arr)
    np.testing.assert_allclose(zdata.load_user_data(tmp_path / "c.csv"), arr.reshape(6, -1), rtol=1e-6)
    folder = tmp_path / "images" / "any_class"
    folder.mkdir(parents=True)
    pixels = (arr * 255).astype("uint8")
    for i, image in enumerate(pixels):
        keras.utils.save_img(folder / f"{i}.png", image, scale=False)
    loaded = zdata.load_user_data(tmp_path / "images", image_size=(8, 8))
    assert loaded.shape == (6, 8, 8, 1) and loaded.dtype == np.uint8
    assert sorted(map(bytes, loaded.reshape(6, -1))) == sorted(map(bytes, pixels.reshape(6, -1)))


def test_float_data_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\].*Received range \[-1"):
        zdata.to_unit_range(np.array([[-1.0, 2.0]], dtype="float32"))


def test_pipeline_scales_shuffles_and_batches():
    x = np.arange(10 * 4, dtype=np.uint8).reshape(10, 2, 2, 1) * 5
    batches = list(make_pipeline(x, batch_size=4, seed=3).as_numpy_iterator())
    assert [len(b) for b in batches] == [4, 4, 2]
    got = np.concatenate(batches)
    assert got.dtype == np.float32 and got.max() <= 1.0
    np.testing.assert_allclose(np.sort(got.reshape(10, -1), axis=0), np.sort(x.reshape(10, -1) / 255, axis=0), rtol=1e-6)
    assert not np.array_equal(got, x / 255)  # shuffled
    again = np.concatenate(list(make_pipeline(x, batch_size=4, seed=3).as_numpy_iterator()))
    np.testing.assert_array_equal(got, again)  # seeded
