"""Pretrained zoo: cards, SHA-256 checks, loading, and metrics that reproduce."""

import json
import shutil

import keras
import numpy as np
import pytest

import zoo
from aezoo.cli import main as cli
from zoo import pretrained
from zoo.data import datasets as zdata
from zoo.evaluation.evaluate import evaluate

NAMES = zoo.list_pretrained(kind="trained")  # ported entries: tests/test_tae_pretrained.py
CARD_FIELDS = {"dataset", "split", "preprocessing", "input_shape", "latent_dim", "family_args", "weights",
               "training", "metrics", "licence", "citation"}


def test_zoo_covers_the_required_entries():
    required = {f"{m}.mnist" for m in ("ae_dense", "ae_conv", "linear_dense", "sparse_l1_dense", "sparse_kl_dense",
                                        "denoising_dense", "denoising_conv", "contractive_dense", "vae_dense",
                                        "vae_conv")}
    required |= {f"{m}.fashion_mnist" for m in ("ae_conv", "denoising_conv", "sparse_kl_dense", "vae_conv")}
    assert required <= set(NAMES), sorted(required - set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_card_is_complete(name):
    card = zoo.get_card(name)
    assert CARD_FIELDS <= set(card.to_dict())
    assert card.name == name and name.split(".")[0] == card.model and name.split(".")[1] == card.dataset
    t = card.training
    assert t["command"].split()[1:3] == ["aezoo", "train"] or t["command"].startswith("aezoo train")
    assert {"seed", "epochs", "wall_time_s", "environment"} <= set(t)
    assert {"bce", "mse", "psnr", "probe_accuracy", "pca_probe_accuracy"} <= set(card.metrics)
    for w in card.weights.values():
        assert len(w["sha256"]) == 64 and (pretrained.PRETRAINED_DIR / w["file"]).is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_weights_reproduce_the_card_on_the_bundled_sample(name):
    card = zoo.get_card(name)
    model = zoo.load_pretrained(name)
    assert isinstance(model, zoo.Autoencoder)
    got = evaluate(model, f"sample:{card.dataset}")
    for key, want in card.sample_metrics.items():
        if isinstance(want, float):
            assert got[key] == pytest.approx(want, rel=0.01), key


def test_load_encoder_maps_images_to_codes():
    name = "vae_conv.mnist"
    encoder = zoo.load_encoder(name)
    assert isinstance(encoder, keras.Model)
    x = zdata.to_unit_range(zdata.load_sample("mnist")[0][:8])
    codes = encoder.predict(x, verbose=0)
    assert codes.shape == (8, zoo.get_card(name).latent_dim)
    np.testing.assert_allclose(codes, zoo.load_pretrained(name).encode(x), atol=1e-6)


def test_corrupted_weights_are_refused_and_nothing_loads(tmp_path, monkeypatch):
    name = "ae_dense.mnist"
    card = zoo.get_card(name)
    for f in [f"{name}.json", *(w["file"] for w in card.weights.values())]:
        shutil.copy(pretrained.PRETRAINED_DIR / f, tmp_path / f)
    victim = tmp_path / card.weights["decoder"]["file"]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    loaded = []
    monkeypatch.setattr(keras.Model, "load_weights", lambda self, *a, **k: loaded.append(a))
    with pytest.raises(pretrained.ChecksumError, match="SHA-256 mismatch.*nothing was loaded"):
        zoo.load_pretrained(name)
    assert loaded == []


def test_unknown_pretrained_name_suggests_matches():
    with pytest.raises(ValueError, match="Did you mean: ae_conv.mnist"):
        zoo.get_card("ae_conv.mnst")


def test_user_hosted_weights_by_path_and_url(tmp_path):
    model = zoo.create_model("ae_dense", latent_dim=4, hidden_units=(16,))
    path = tmp_path / "mine.weights.h5"
    model.save_weights(path)
    digest = pretrained.sha256(path)
    x = zdata.to_unit_range(zdata.load_sample("mnist")[0][:4])
    for source in (path, path.as_uri()):
        fresh = zoo.create_model("ae_dense", latent_dim=4, hidden_units=(16,))
        zoo.load_weights(fresh, source, digest, cache_dir=tmp_path / "cache")
        np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(pretrained.ChecksumError):
        zoo.load_weights(model, path, "0" * 64)


def test_cli_info_and_check_card_on_sample(capsys, tmp_path):
    assert cli(["info", "sparse_kl_dense.mnist"]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and "aezoo train sparse_kl_dense" in out and "licence" in out
    assert cli(["evaluate", "ae_dense.mnist", "--dataset", "sample:mnist", "--check-card",
                "--output", str(tmp_path / "eval.json")]) == 0
    assert "reproduced within 1%" in capsys.readouterr().out


def _copy_entry(name, folder):
    card = zoo.get_card(name)
    for f in [f"{name}.json", *(w["file"] for w in card.weights.values())]:
        shutil.copy(pretrained.PRETRAINED_DIR / f, folder / f)
    return folder / f"{name}.json"


@pytest.mark.parametrize("name", NAMES)
def test_every_card_hashes_its_model_configuration(name):
    card = zoo.get_card(name)
    assert card.extra["config_sha256"] == pretrained.config_sha256(card.to_dict())


@pytest.mark.parametrize("edit", [
    lambda c: c["family_args"].update(code_activation="relu"),
    lambda c: c.update(latent_dim=c["latent_dim"] + 1),
    lambda c: c.update(model="ae_conv"),
    lambda c: c["weights"]["decoder"].update(file="ae_conv.mnist.decoder.weights.h5",
                                             sha256=zoo.get_card("ae_conv.mnist").weights["decoder"]["sha256"]),
    lambda c: c.pop("config_sha256"),
])
def test_an_edited_card_is_refused_naming_the_file_and_nothing_is_built(tmp_path, monkeypatch, capsys, edit):
    import json

    path = _copy_entry("ae_dense.mnist", tmp_path)
    card = json.loads(path.read_text())
    edit(card)
    path.write_text(json.dumps(card, indent=2) + "\n")
    edited = path.read_bytes()
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    built = []
    monkeypatch.setattr(pretrained, "build_model", lambda *a, **k: built.append(a))
    for load in (zoo.load_pretrained, lambda n: zoo.create_model(n), zoo.load_encoder):
        with pytest.raises(pretrained.ChecksumError, match=f"{path}.*nothing was built"):
            load("ae_dense.mnist")
    assert cli(["evaluate", "ae_dense.mnist", "--dataset", "sample:mnist", "--output", str(tmp_path / "e.json")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "nothing was built" in err
    assert built == [] and path.read_bytes() == edited and not (tmp_path / "e.json").exists()


def test_the_card_hash_ignores_layout_but_not_values():
    card = zoo.get_card("ae_dense.mnist").to_dict()
    reordered = dict(reversed(list(card.items())))
    assert pretrained.config_sha256(reordered) == pretrained.config_sha256(card)
    card["input_shape"] = [28, 28]
    assert pretrained.config_sha256(card) != zoo.get_card("ae_dense.mnist").extra["config_sha256"]


def _fine_tuned(name="ae_dense.mnist", steps=1):
    model = zoo.load_pretrained(name)
    model.compile(keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    for _ in range(steps):
        model.train_on_batch(x)
    return model


def test_provenance_follows_the_weights_after_a_training_step(tmp_path):
    model = zoo.load_pretrained("ae_dense.mnist")
    model.predict(np.zeros((2, 28, 28, 1), "float32"), verbose=0)  # no training step: still the entry's weights
    assert model.pretrained_name == "ae_dense.mnist" and model.provenance == "pretrained ae_dense.mnist"
    model.compile(keras.optimizers.Adam(1e-3))
    model.fit(np.random.default_rng(0).uniform(0, 1, (8, 28, 28, 1)).astype("float32"), epochs=1, verbose=0)
    assert model.pretrained_name is None and model.loaded_parts is None
    assert model.fine_tuned_from == "ae_dense.mnist" and model.provenance == "fine-tuned from ae_dense.mnist"
    assert model.source == {"fine_tuned_from": "ae_dense.mnist", "pretrained_parts": ["decoder", "encoder"]}
    model.save(tmp_path / "tuned.keras")
    loaded, card = pretrained.load_target(tmp_path / "tuned.keras")
    assert card is None and loaded.fine_tuned_from == "ae_dense.mnist" and loaded.pretrained_name is None


def test_an_export_of_a_fine_tuned_model_says_so():
    from export.graph import export_metadata, pretrained_card

    model = _fine_tuned()
    assert pretrained_card(model) is None
    meta = export_metadata(model, "encoder")
    assert meta["source"] == "fine-tuned from ae_dense.mnist" and meta["card"] is None
    assert "source" not in export_metadata(zoo.load_pretrained("ae_dense.mnist"), "encoder")


def test_check_card_refuses_a_fine_tuned_model_in_one_line(tmp_path, capsys):
    path = tmp_path / "tuned.keras"
    _fine_tuned().save(path)
    before = path.read_bytes()
    out = tmp_path / "e.json"
    assert cli(["evaluate", str(path), "--dataset", "sample:mnist", "--check-card", "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"aezoo: error: --check-card: {path} was fine-tuned from "
                                                   + "ae_dense.mnist after loading it")
    assert not out.exists() and path.read_bytes() == before


def test_a_detector_of_a_fine_tuned_model_records_where_its_weights_came_from(tmp_path):
    from zoo.anomaly import Detector

    x = np.random.default_rng(1).uniform(0, 1, (40, 28, 28, 1)).astype("float32")
    tuned = Detector(_fine_tuned(), score="reconstruction").fit(x).save(tmp_path / "tuned")
    record = json.loads((tuned / "detector.json").read_text())["model"]
    assert record["pretrained"] is None and record["source"] == "fine-tuned from ae_dense.mnist"
    plain = Detector(zoo.load_pretrained("ae_dense.mnist"), score="reconstruction").fit(x).save(tmp_path / "plain")
    assert json.loads((plain / "detector.json").read_text())["model"]["source"] == "pretrained ae_dense.mnist"
