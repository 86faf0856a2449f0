"""zoo.pretrained.convert and `aezoo convert`: every variant against an independent PyTorch module, and every refusal in one line."""

import keras
import numpy as np
import pytest
import torch

import zoo
from aezoo.cli import main as cli
from benchmarks.peers import tae_torch
from zoo.evaluation.evaluate import load_photos
from zoo.pretrained import convert

#: Non-square, divisible by 32 so that every variant (8x and 32x down) takes it.
SIZE = (64, 96)
ATOL = 1e-5


def _save_variant(folder, variant: str, seed: int = 0):
    """Randomly initialised PyTorch modules saved in float16 (as the published checkpoints are), and float32 copies."""
    torch.manual_seed(seed)
    modules = tae_torch.build_variant(variant)
    paths = []
    for part, module in zip(("encoder", "decoder"), modules, strict=True):
        module.half()
        path = folder / f"{variant}_{part}.pth"
        torch.save(module.state_dict(), path)
        paths.append(path)
    return paths, [m.float().eval() for m in modules]


def _eager(network, x) -> np.ndarray:
    return keras.ops.convert_to_numpy(network(x))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = load_photos()["china"]
    return image[None, 100:100 + SIZE[0], 200:200 + SIZE[1]].copy()


@pytest.mark.parametrize("variant", sorted(convert.VARIANTS))
def test_every_variant_converts_and_matches_its_pytorch_module(variant, tmp_path, photo):
    (enc_path, dec_path), (enc, dec) = _save_variant(tmp_path, variant)
    card = convert.convert_checkpoint(enc_path, dec_path, out=tmp_path / "out")
    assert card.name == f"{convert.VARIANTS[variant]['model']}.{variant}"
    model = zoo.load_pretrained(tmp_path / "out")
    assert model.loaded_parts == ("decoder", "encoder") and model.latent_dim == convert.VARIANTS[variant]["latent_dim"]
    z = _eager(model.encoder_network, photo)  # called directly: no tf.function tracing, the test stays fast
    with torch.no_grad():
        z_ref = tae_torch.reference_encode(enc, photo).numpy()
        latents = (np.random.default_rng(1).standard_normal(z_ref.shape) * 2).astype(np.float32)  # the clamp bites
        raw_ref = dec(torch.as_tensor(latents).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    assert z.shape == (1, SIZE[0] // model.down, SIZE[1] // model.down, model.latent_dim)
    np.testing.assert_allclose(z, z_ref, rtol=0, atol=ATOL)
    raw = keras.Model(model.decoder.inputs, model.decoder.get_layer("decoder-clamp_output").input)
    np.testing.assert_allclose(_eager(raw, latents), raw_ref, rtol=0, atol=ATOL)
    assert np.std(raw_ref) > 100 * ATOL  # the comparison is not between two near-zero maps
    np.testing.assert_allclose(_eager(model.decoder, latents), np.clip(raw_ref, 0, 1), rtol=0, atol=ATOL)


def _state(variant: str, part: str) -> dict:
    torch.manual_seed(0)
    module = dict(zip(("encoder", "decoder"), tae_torch.build_variant(variant), strict=True))[part]
    return {k: v.half() for k, v in module.state_dict().items()}


def _wrong(kind: str) -> tuple[dict, str]:
    """A taesd encoder state_dict spoiled one way, and the text its error must contain."""
    state = _state("taesd", "encoder")
    if kind == "missing":
        del state["4.conv.2.weight"]
        return state, "missing 1 tensor(s), first '4.conv.2.weight'"
    if kind == "extra":
        state["99.weight"] = torch.zeros(3)
        return state, "1 unused tensor(s), first '99.weight'"
    if kind == "shape":
        state["0.weight"] = torch.zeros(64, 4, 3, 3)
        return state, "tensor '0.weight' has shape (64, 4, 3, 3), expected (64, 3, 3, 3)"
    if kind == "variant":  # taesd3 has 16 latent channels: the last convolution differs
        return _state("taesd3", "encoder"), "tensor '14.weight' has shape (16, 64, 3, 3), expected (4, 64, 3, 3)"
    return _state("taesd", "decoder"), "Is it the right variant and part"  # kind == "part"


@pytest.mark.parametrize("kind", ["missing", "extra", "shape", "variant", "part"])
def test_a_state_dict_that_does_not_fit_is_refused_in_one_line_and_nothing_is_written(kind, tmp_path):
    state, needle = _wrong(kind)
    torch.save(state, tmp_path / "model.pth")
    out = tmp_path / "out"
    with pytest.raises(convert.ConversionError) as err:
        convert.convert_checkpoint(tmp_path / "model.pth", out=out, variant="taesd")
    message = str(err.value)
    assert needle in message and "\n" not in message and str(tmp_path / "model.pth") in message
    assert not out.exists() or not any(out.iterdir())


def test_load_state_dict_leaves_the_network_untouched_on_failure():
    model = zoo.create_model("tae", latent_dim=4)
    before = [w.copy() for w in model.encoder_network.get_weights()]
    state, _ = _wrong("shape")
    with pytest.raises(convert.ConversionError):
        convert.load_state_dict(model.encoder_network, state)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.encoder_network.get_weights(), strict=True))


def test_the_stored_weights_are_float16_and_read_back_as_the_original_tensors(tmp_path):
    (enc_path, _), _ = _save_variant(tmp_path, "taesd")
    card = convert.convert_checkpoint(enc_path, out=tmp_path / "out")
    import h5py

    with h5py.File(tmp_path / "out" / card.weights["encoder"]["file"]) as f:
        dtypes = set()
        f.visititems(lambda _n, obj: dtypes.add(str(obj.dtype)) if isinstance(obj, h5py.Dataset) else None)
    assert dtypes == {"float16"}
    model = zoo.load_pretrained(tmp_path / "out")
    assert model.loaded_parts == ("encoder",) and model.encoder_network.weights[0].dtype == "float32"
    original = torch.load(enc_path, weights_only=True)
    back = convert.stored_state_dict(model.encoder_network)
    assert sorted(back) == sorted(original)
    for key, tensor in original.items():
        np.testing.assert_array_equal(back[key], tensor.float().numpy(), err_msg=key)
    assert convert.tensor_sha256(back) == card.extra["source"]["files"]["encoder"]["tensor_sha256"]


def test_a_truncated_checkpoint_is_refused_in_one_line(tmp_path):
    (enc_path, _), _ = _save_variant(tmp_path, "taesd")
    raw = enc_path.read_bytes()
    enc_path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(convert.ConversionError, match="not a readable PyTorch checkpoint") as err:
        convert.convert_checkpoint(enc_path, out=tmp_path / "out")
    assert "\n" not in str(err.value)


def _cli_error(argv, capsys) -> str:
    assert cli(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("aezoo: error:") and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_cli_converts_in_one_command_and_refuses_bad_input_in_one_line(tmp_path, capsys, photo):
    (enc_path, dec_path), (enc, _) = _save_variant(tmp_path, "taef1")
    out = tmp_path / "my_tae"
    assert cli(["convert", str(enc_path), str(dec_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tae.taef1.encoder.weights.h5" in printed and "zoo.load_pretrained" in printed
    assert sorted(p.name for p in out.iterdir()) == ["TAESD_LICENSE.md", "tae.taef1.decoder.weights.h5",
                                                     "tae.taef1.encoder.weights.h5", "tae.taef1.json"]
    card = zoo.get_card(out)
    assert card.kind == "ported" and card.extra["source"]["files"]["decoder"]["sha256"] == zoo.pretrained.sha256(dec_path)
    assert card.training["command"].startswith("aezoo convert taef1_encoder.pth taef1_decoder.pth --out")
    with torch.no_grad():
        np.testing.assert_allclose(_eager(zoo.load_pretrained(out).encoder_network, photo),
                                   tae_torch.reference_encode(enc, photo).numpy(), rtol=0, atol=ATOL)

    assert "exists; pass --overwrite" in _cli_error(["convert", str(enc_path), "--out", str(out)], capsys)
    assert "Did you mean: taef2, taef1" in _cli_error(["convert", str(enc_path), "--variant", "taef", "--out", str(out)],
                                               capsys)
    assert "given as the encoder" in _cli_error(["convert", str(dec_path), str(enc_path), "--out", str(out)], capsys)
    assert "No encoder checkpoint" in _cli_error(["convert", str(tmp_path / "nope_encoder.pth"), "--out", str(out)],
                                                 capsys)
    taesd = tmp_path / "taesd_encoder.pth"
    taesd.write_bytes(enc_path.read_bytes())
    assert "'14.weight' has shape (16, 64, 3, 3)" in _cli_error(["convert", str(taesd), "--out", str(tmp_path / "o2")], capsys)
    assert not (tmp_path / "o2").exists() or not any((tmp_path / "o2").iterdir())
    enc_path.write_bytes(enc_path.read_bytes()[:1000])
    assert "truncated or corrupt" in _cli_error(["convert", str(enc_path), "--out", str(tmp_path / "o3"),
                                                 "--overwrite"], capsys)
    torch.save(_state("taef1", "encoder"), enc_path)
    assert cli(["convert", str(enc_path), "--out", str(out), "--name", "tae.taef1", "--overwrite"]) == 0
    assert sorted(zoo.get_card(out).weights) == ["encoder"]  # the card was replaced; stale decoder file stays unused
