"""Where exports land: ``.onnx``/``.tflite`` paths are files with the report beside them; leftovers; refusals."""

import json
import os

import numpy as np
import onnx
import pytest

import zoo
from aezoo.cli import main
from export import ExportReport, export_model, load_artifact
from tests.helpers import TINY_SHAPE, blob_images, tiny_model
from zoo.data import datasets as zdata

IMAGES = blob_images(8, TINY_SHAPE, seed=9)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_a_path_with_the_format_suffix_is_the_artifact_file(fmt, tmp_path):
    model = tiny_model("ae_conv")
    path = tmp_path / "out" / f"enc.{fmt}"
    report = export_model(model, fmt, path)
    assert path.is_file() and report.path == str(path) and report.size_bytes == path.stat().st_size
    assert sorted(p.name for p in path.parent.iterdir()) == [f"enc.{fmt}", f"enc.{fmt}.export_report.json"]
    assert json.loads((path.parent / f"enc.{fmt}.export_report.json").read_text()) == report.to_dict()
    assert ExportReport.load(path) == report
    np.testing.assert_allclose(load_artifact(path)(IMAGES), model.encoder.predict(IMAGES, verbose=0), atol=1e-5)
    if fmt == "onnx":
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)


def test_an_existing_file_export_is_kept_unless_overwrite(tmp_path):
    model = tiny_model("ae_dense")
    path = tmp_path / "enc.onnx"
    export_model(model, "onnx", path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        export_model(model, "onnx", path)
    assert path.read_bytes() == before
    assert export_model(model, "onnx", path, overwrite=True, part="autoencoder").part == "autoencoder"
    assert ExportReport.load(path).part == "autoencoder" and load_artifact(path).output_name == "reconstructions"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.onnx", "enc.onnx.export_report.json"]


@pytest.mark.parametrize("fmt, name, owner", [("onnx", "x.tflite", "tflite"), ("saved_model", "x.onnx", "onnx")])
def test_the_suffix_of_another_format_is_refused(fmt, name, owner, tmp_path):
    with pytest.raises(ValueError, match=f"ends in .*the suffix of {owner} artifacts") as info:
        export_model(tiny_model("ae_dense"), fmt, tmp_path / name)
    assert "\n" not in str(info.value) and list(tmp_path.iterdir()) == []


def test_folder_layout_keeps_a_suffixed_name_a_folder(tmp_path):
    report = export_model(tiny_model("ae_dense"), "onnx", tmp_path / "m.encoder.onnx", layout="folder")
    assert (tmp_path / "m.encoder.onnx" / "model.onnx").is_file() and report.path.endswith("model.onnx")


def test_leftovers_of_a_killed_export_are_removed_by_the_next_one(tmp_path):
    dead = [tmp_path / ".e.partial-deadbeef", tmp_path / ".e.partial-999999999-0badf00d"]
    live = tmp_path / f".e.partial-{os.getpid()}-00000000"  # an export still running in this process
    other = tmp_path / ".f.partial-deadbeef"
    for folder in [*dead, live, other]:
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    export_model(tiny_model("ae_dense"), "onnx", tmp_path / "e")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name, "e"])


def test_encode_reads_a_file_artifact_and_a_sample_spec(tmp_path):
    path = tmp_path / "enc.onnx"
    export_model("ae_dense.mnist", "onnx", path)
    assert main(["encode", str(path), "--input", "sample:mnist", "--output", str(tmp_path / "z.npy")]) == 0
    x = zdata.to_unit_range(zdata.load_sample("mnist")[0])
    np.testing.assert_allclose(np.load(tmp_path / "z.npy"), zoo.load_pretrained("ae_dense.mnist").encode(x),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("entry, loaded", [("ae_dense.mnist", "encoder"), ("vae_dense.mnist", "posterior")])
def test_a_part_whose_weights_were_not_loaded_is_refused(entry, loaded, tmp_path):
    model = zoo.load_pretrained(entry, parts=(loaded,))
    assert model.loaded_parts == (loaded,)
    for part in ("decoder", "autoencoder"):
        with pytest.raises(ValueError, match=f"{entry} was loaded with the weights of {loaded} only, so its {part}"):
            export_model(model, "onnx", tmp_path / part, part=part)
    assert list(tmp_path.iterdir()) == []
    assert export_model(model, "onnx", tmp_path / "enc.onnx").passed
