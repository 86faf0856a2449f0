"""Bad files and data on the command line: one line naming the file, what was found and what was expected.

Every command reads data through zoo.data.datasets and the input contract (zoo.utils.inputs), so each class of bad
input (corrupt or mislabelled files, dtype, shape, range, emptiness) is refused alike by train,
evaluate and encode, and nothing is written or changed.
"""

import json

import keras
import numpy as np
import pytest

import zoo
from aezoo.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _bad_files(tmp_path):
    """Each bad input class as a file, with the words the one-line error must contain."""
    files = {}
    (tmp_path / "text.npy").write_text("this is not numpy\n")
    files["text.npy"] = "is not a NumPy .npy file"
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    files["objects.npy"] = "holds Python objects"
    np.save(tmp_path / "empty.npy", np.zeros((0, 28, 28), "uint8"))
    files["empty.npy"] = "holds no examples"
    np.save(tmp_path / "layout.npy", np.zeros((3, 14, 56), "uint8"))
    files["layout.npy"] = r"expected data of shape (batch, 28, 28, 1) or (batch, 28, 28). Received: shape=(3, 14, 56)"
    np.save(tmp_path / "range.npy", np.full((3, 28, 28), 2.0, "float32"))
    files["range.npy"] = "Received range [2, 2]"
    np.save(tmp_path / "big_ints.npy", np.full((3, 28, 28), 300, "int64"))
    files["big_ints.npy"] = "dtype=int64 with values in [300, 300]"
    nan = np.zeros((3, 28, 28), "float32")
    nan[1, 5, 6] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    files["nan.npy"] = "the first at index (1, 5, 6);"  # an index into the file's own array
    (tmp_path / "zip.npz").write_bytes(b"PK\x03\x04 truncated")
    files["zip.npz"] = "damaged .npz file"
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        keras.utils.save_img(folder / f"{i}.png", np.zeros((28, 28, 1), "uint8"), scale=False)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    files["images"] = f"Cannot read image {folder / 'broken.png'}"
    return files


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    return folder, _bad_files(folder)


COMMANDS = {
    "train": lambda path, out: ["train", "ae_dense", "--dataset", str(path), "--run-dir", str(out / "run"),
                                "--input-shape", "28,28,1", "--epochs", "1", "--latent-dim", "4",
                                "--set", "hidden_units=(8,)"],
    "evaluate": lambda path, out: ["evaluate", "ae_dense.mnist", "--dataset", str(path),
                                   "--output", str(out / "eval.json")],
    "encode": lambda path, out: ["encode", "ae_dense.mnist", "--input", str(path), "--output", str(out / "c.npy")],
}
CASES = ["text.npy", "objects.npy", "empty.npy", "layout.npy", "range.npy", "big_ints.npy", "nan.npy", "zip.npz",
         "images"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES)
def test_every_command_refuses_every_bad_file_in_one_line(bad, tmp_path, capsys, command, case):
    folder, files = bad
    before = _snapshot(folder)
    assert main(COMMANDS[command](folder / case, tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error:") and err.count("\n") == 1, err
    assert files[case] in err, err
    if case != "images":
        assert str(folder / case) in err  # the file is named
    assert _snapshot(folder) == before and list(tmp_path.iterdir()) == []  # nothing changed, nothing written


@pytest.mark.parametrize("command", ["evaluate", "encode"])
def test_a_truncated_keras_file_says_so(tmp_path, capsys, command):
    model = zoo.create_model("ae_dense", latent_dim=4, hidden_units=(8,))
    path = tmp_path / "m.keras"
    model.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    argv = {"evaluate": ["evaluate", str(path), "--dataset", "sample:mnist", "--output", str(tmp_path / "e.json")],
            "encode": ["encode", str(path), "--input", "sample:mnist", "--output", str(tmp_path / "c.npy")]}[command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"{path} is not a readable .keras file" in err and "truncated or corrupt" in err
    assert "File not found" not in err and path.read_bytes() == raw[: len(raw) // 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]


def test_int64_pixels_in_0_255_are_scaled_like_uint8(tmp_path, capsys):
    from zoo.data import datasets as zdata

    x = zdata.load_sample("mnist")[0][:20]
    np.save(tmp_path / "u8.npy", x)
    np.save(tmp_path / "i64.npy", x[..., 0].astype("int64"))
    for name in ("u8", "i64"):
        assert main(["encode", "ae_dense.mnist", "--input", str(tmp_path / f"{name}.npy"),
                     "--output", str(tmp_path / f"{name}.codes.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "i64.codes.npy"), np.load(tmp_path / "u8.codes.npy"), rtol=1e-6)


def test_evaluate_takes_your_own_data_with_and_without_labels(tmp_path, capsys):
    from zoo.data import datasets as zdata

    x, y = zdata.load_sample("mnist")
    np.savez(tmp_path / "mine.npz", x=x[:300], y=y[:300])
    np.save(tmp_path / "unlabelled.npy", x[:50])
    assert main(["evaluate", "ae_dense.mnist", "--dataset", str(tmp_path / "mine.npz"),
                 "--output", str(tmp_path / "mine.json")]) == 0
    got = json.loads((tmp_path / "mine.json").read_text())
    assert got["n_test"] == 300 and got["split"] == "all" and got["probe_split"].startswith("seeded 240/60")
    assert 0.5 < got["probe_accuracy"] <= 1.0 and "pca_probe_accuracy" in got
    assert main(["evaluate", "ae_dense.mnist", "--dataset", str(tmp_path / "unlabelled.npy"),
                 "--output", str(tmp_path / "unlabelled.json")]) == 0
    got = json.loads((tmp_path / "unlabelled.json").read_text())
    assert got["n_test"] == 50 and "probe_accuracy" not in got and got["bce"] > 0
    capsys.readouterr()
    assert main(["evaluate", "ae_dense.mnist", "--dataset", str(tmp_path / "mine.npz"), "--check-card"]) == 1
    assert "--check-card compares with the card's own dataset" in capsys.readouterr().err


def test_a_latent_wider_than_the_input_is_refused_where_nothing_else_regularises(capsys):
    with pytest.raises(ValueError, match=r"smaller than the 256 values.*latent_dim=300, input_shape=\(16, 16, 1\)"):
        zoo.create_model("ae_dense", input_shape=(16, 16, 1), latent_dim=300)
    assert main(["info", "linear_dense", "--latent-dim", "1000"]) == 1
    assert "smaller than the 784 values of an input for linear_dense" in capsys.readouterr().err
    # An overcomplete code is the point of the sparse families: allowed there.
    assert zoo.create_model("sparse_kl_dense", input_shape=(4, 4, 1), latent_dim=32, hidden_units=(8,)).latent_dim == 32
