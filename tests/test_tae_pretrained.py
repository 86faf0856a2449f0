"""The ported Tiny AutoEncoder entries (tae.flux2, tae_f32.sana): provenance, integrity, and quality that reproduces."""

import json
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import torch

import zoo
from aezoo.cli import main as cli
from benchmarks.peers import tae_torch
from zoo import pretrained
from zoo.evaluation.evaluate import PHOTOS, SAMPLE_PHOTO_SIZE, evaluate_photos, load_photos, photo_metrics
from zoo.pretrained import convert

ROOT = Path(__file__).resolve().parents[1]
#: sha256sum of the upstream files (github madebyollin/taesd at 5cccb12), computed outside aezoo.
UPSTREAM_SHA256 = {
    "taef2_encoder.pth": "10a4e1021e89d7551eaf161352da8dbd0b1aa83872ae28b150c1df1ce2f147b6",
    "taef2_decoder.pth": "0a44a31e1ae59eb9dbf9359d24942fd3ef5928162c1800d97a28c61d51be0ab5",
    "taesana_encoder.pth": "858f4e4cc293f88efaf58107f4154b960b9ced0cb5d9c050dad11f926b618c1f",
}
#: Where the original checkpoints may be (for the byte-exact float16 check; skipped when absent).
CHECKPOINTS = Path(os.environ.get("AEZOO_TAESD_DIR", "/tmp/taesd"))
ENTRIES = {"tae.flux2": ("taef2", ("decoder", "encoder")), "tae_f32.sana": ("taesana", ("encoder",))}
SAMPLE = f"{PHOTOS}:{SAMPLE_PHOTO_SIZE}"


@pytest.fixture(scope="module")
def flux2():
    return zoo.create_model("tae.flux2", pretrained=True)


def test_entries_are_listed_as_ported_and_their_cards_name_the_source():
    assert set(ENTRIES) <= set(zoo.list_pretrained(kind="ported"))
    assert not set(ENTRIES) & set(zoo.list_pretrained(kind="trained"))
    for name, (variant, parts) in ENTRIES.items():
        card = zoo.get_card(name)
        src = card.extra["source"]
        assert card.input_shape == (None, None, 3) and card.extra["config_sha256"] == pretrained.config_sha256(
            card.to_dict())
        assert src["repository"] == "https://github.com/madebyollin/taesd" and src["commit"].startswith("5cccb12")
        assert src["author"] == "Ollin Boer Bohan" and src["variant"] == variant and src["distilled_from"]
        assert {f["file"]: f["sha256"] for f in src["files"].values()} == {
            k: v for k, v in UPSTREAM_SHA256.items() if k.startswith(variant + "_")}
        assert sorted(card.weights) == sorted(parts) and all(f["stored_exactly"] for f in src["files"].values())
        assert card.training["command"].startswith("aezoo convert ") and "--evaluate" in card.training["command"]
        assert "MIT" in card.licence and card.extra["source"]["licence_file"] in card.licence
    notice = (pretrained.PRETRAINED_DIR / convert.LICENCE_FILE).read_text()
    assert "Copyright (c) 2023 Ollin Boer Bohan" in notice and "Permission is hereby granted" in notice
    package_data = next(line for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.startswith("zoo = ["))
    assert '"pretrained/*.md"' in package_data and '"pretrained/*.h5"' in package_data


def test_flux2_round_trip_on_the_sample_photos_matches_the_card_and_the_live_pytorch_reference(flux2):
    card = zoo.get_card("tae.flux2")
    assert flux2.loaded_parts == ("decoder", "encoder") and flux2.pretrained_name == "tae.flux2"
    got = evaluate_photos(flux2, SAMPLE)
    for key in ("psnr_china", "psnr_flower", "psnr", "latent_std"):
        assert got[key] == pytest.approx(card.sample_metrics[key], abs=0.01), key
    # The reference's PyTorch modules take the weights as stored here (their float16 hash is the original's).
    modules = dict(zip(("encoder", "decoder"), tae_torch.build_variant("taef2"), strict=True))
    for part, module in modules.items():
        state = convert.stored_state_dict(flux2.components[part])
        assert convert.tensor_sha256(state) == card.extra["source"]["files"][part]["tensor_sha256"]
        module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
        module.eval()
    ref = photo_metrics(load_photos(SAMPLE_PHOTO_SIZE),
                        lambda x: tae_torch.reference_encode(modules["encoder"], x).numpy(),
                        lambda z: tae_torch.reference_decode(modules["decoder"], z).numpy())
    for key in ("psnr_china", "psnr_flower", "psnr"):
        assert abs(got[key] - ref[key]) <= 0.01, key
        assert abs(card.metrics[key] - card.extra["reference"]["metrics"][key]) <= 0.01, key
    assert card.metrics["crops"] == {"china": "416x640", "flower": "416x640"}


def test_sana_is_encoder_only_and_its_decoder_is_refused_for_export():
    from export.graph import check_loaded

    model = zoo.create_model("tae_f32.sana", pretrained=True)
    assert model.loaded_parts == ("encoder",) and model.down == 32
    check_loaded(model, "encoder")
    with pytest.raises(ValueError, match="decoder would export untrained weights"):
        check_loaded(model, "decoder")
    got = evaluate_photos(model, SAMPLE)
    card = zoo.get_card("tae_f32.sana")
    assert "psnr" not in got and got["latent_std"] == pytest.approx(card.sample_metrics["latent_std"], rel=1e-3)
    assert card.extra["reference"]["latent_max_abs_error"] < 1e-4


#: Hashes of the upstream checkpoints' tensors (``zoo.pretrained.convert.tensor_sha256`` of ``torch.load`` of each
#: .pth at commit 5cccb12, computed on 2026-12-05): the .pth files themselves cannot ship here.
UPSTREAM_TENSOR_SHA256 = {
    "taef2_encoder.pth": "2bdc0d8a0662152b9b5d9e97d4cec9a5871dab37a555cf094ed5c1e597f020ee",
    "taef2_decoder.pth": "0e1902cd56ba4566e3510194091684e227e279e24715438c5698e2b4c9f069c1",
    "taesana_encoder.pth": "a7e47f768fe4c6df8f72bcd0a940671f337c9c0a1945578ecef6170234210b00",
}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_stored_float16_weights_equal_the_original_checkpoints_exactly(name):
    card = zoo.get_card(name)
    model = zoo.create_model(card.model, latent_dim=card.latent_dim, dtype="float16", **card.family_args)
    for part, w in card.weights.items():
        model.components[part].load_weights(pretrained.PRETRAINED_DIR / w["file"])
        stored = convert.stored_state_dict(model.components[part])
        assert {str(v.dtype) for v in stored.values()} == {"float16"}
        source = card.extra["source"]["files"][part]
        assert convert.tensor_sha256(stored) == UPSTREAM_TENSOR_SHA256[source["file"]] == source["tensor_sha256"]
        original = CHECKPOINTS / source["file"]
        if original.is_file():  # a maintainer with the checkpoints also compares tensor by tensor
            assert pretrained.sha256(original) == UPSTREAM_SHA256[source["file"]]
            state = convert.read_state_dict(original)
            assert sorted(state) == sorted(stored)
            for key, value in state.items():
                assert value.dtype == np.float16 and np.array_equal(value, stored[key]), key


def test_a_tampered_weights_file_or_card_is_refused_and_nothing_loads(tmp_path, monkeypatch):
    name = "tae_f32.sana"
    card = zoo.get_card(name)
    files = [f"{name}.json", *(w["file"] for w in card.weights.values())]
    for f in files:
        shutil.copy(pretrained.PRETRAINED_DIR / f, tmp_path / f)
    loaded = []
    monkeypatch.setattr(keras.Model, "load_weights", lambda self, *a, **k: loaded.append(a))
    victim = tmp_path / card.weights["encoder"]["file"]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    victim.write_bytes(bytes(raw))
    with pytest.raises(pretrained.ChecksumError, match="SHA-256 mismatch.*nothing was loaded"):
        zoo.load_pretrained(tmp_path)
    shutil.copy(pretrained.PRETRAINED_DIR / card.weights["encoder"]["file"], victim)
    edited = json.loads((tmp_path / f"{name}.json").read_text())
    edited["input_shape"] = [256, 256, 3]
    (tmp_path / f"{name}.json").write_text(json.dumps(edited))
    with pytest.raises(pretrained.ChecksumError, match="nothing was built"):
        zoo.load_pretrained(tmp_path / f"{name}.json")
    assert loaded == []


def test_cli_lists_shows_and_checks_the_card(capsys, tmp_path):
    assert cli(["list", "--pretrained"]) == 0
    assert {"tae.flux2", "tae_f32.sana"} <= set(capsys.readouterr().out.split())
    assert cli(["info", "tae.flux2"]) == 0
    out = capsys.readouterr().out
    assert UPSTREAM_SHA256["taef2_decoder.pth"] in out and "input shape: (None, None, 3)" in out
    assert "PyTorch reference" in out and "licence: MIT" in out
    assert cli(["info", "tae_f32.sana"]) == 0
    assert "source[decoder]: none" in capsys.readouterr().out
    assert cli(["evaluate", "tae_f32.sana", "--dataset", f"sample:{PHOTOS}", "--check-card",
                "--output", str(tmp_path / "e.json")]) == 0
    assert "all 5 card metrics reproduced within 1%" in capsys.readouterr().out
