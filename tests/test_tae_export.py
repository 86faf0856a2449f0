"""Tiny AutoEncoder exports with dynamic batch and spatial size, and ``aezoo encode``/``decode`` at any size.

References are Keras outputs computed here, on inputs the validator does not use.
"""

import json

import numpy as np
import pytest

import zoo
from aezoo.cli import main
from aezoo.latent_commands import latent_png
from export import export_model, load_artifact
from zoo.data.photos import photo_crops

SIZES = ((64, 64), (96, 128))


@pytest.fixture(scope="module")
def tae():
    """A small TAEF2-like model (GroupNorm mid-block, 4 latent channels), random weights."""
    return zoo.create_model("tae", latent_dim=4, midblock_gn=True)


@pytest.fixture(scope="module")
def tae_file(tae, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "mine.keras"
    tae.save(path)
    return path


def _inputs(model, part, size, n=2):
    x = photo_crops(n, size, seed=77)  # not the validator's crops (seeds 0 and 1)
    return x if part == "encoder" else np.asarray(model.encoder(x, training=False))


def _keras(model, part, x):
    return np.asarray((model.encoder if part == "encoder" else model.decoder)(x, training=False))


def _check_two_sizes(model, part, run):
    """``run`` (one loaded artifact) against Keras at both sizes and two batch sizes, within atol x max(1, |y|)."""
    for size in SIZES:
        x = _inputs(model, part, size)
        for batch in (x[:1], x):
            want = _keras(model, part, batch)
            got = run(batch)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-5 * max(1.0, float(np.abs(want).max())), rtol=0)


def _tflite_ops(path):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return {names[max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())]
            for i in range(model.OperatorCodesLength())}


def test_saved_model_encoder_dynamic_size(tae, tmp_path):
    report = export_model(tae, "saved_model", tmp_path / "enc")
    assert report.passed and [r["input_size"] for r in report.resolutions] == [list(s) for s in SIZES]
    assert report.batch_sizes == [1, 3] and "china.jpg" in report.validation_inputs
    _check_two_sizes(tae, "encoder", load_artifact(tmp_path / "enc"))


def test_cli_onnx_writes_a_file_with_named_dynamic_axes(tae, tae_file, tmp_path):
    import onnx
    import onnxruntime as ort

    assert main(["export", str(tae_file), "--format", "onnx", "--out", str(tmp_path)]) == 0
    path = tmp_path / "mine_encoder.onnx"
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == [
        "mine_encoder.onnx", "mine_encoder.onnx.export_report.json"]
    assert json.loads((tmp_path / "mine_encoder.onnx.export_report.json").read_text())["passed"]
    proto = onnx.load(path)
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (proto.graph.input[0], proto.graph.output[0])]
    assert dims == [["batch", "height", "width", 3], ["batch", "latent_height", "latent_width", 4]]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # the file, opened directly
    _check_two_sizes(tae, "encoder", lambda x: session.run(None, {"images": x})[0])


def test_tflite_decoder_builtin_ops_dynamic_shapes_in_litert(tae, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    report = export_model(tae, "tflite", tmp_path / "dec.tflite", part="decoder")
    assert report.passed and report.details["custom_ops"] == []
    ops = _tflite_ops(tmp_path / "dec.tflite")
    assert "CUSTOM" not in ops and not any(op.startswith("FLEX") for op in ops)
    interpreter = Interpreter(model_path=str(tmp_path / "dec.tflite"))
    index = interpreter.get_input_details()[0]["index"]
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [-1, -1, -1, 4]

    def run(z):
        interpreter.resize_tensor_input(index, z.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, z)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    _check_two_sizes(tae, "decoder", run)


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "part"), [("saved_model", "decoder"), ("onnx", "decoder"), ("tflite", "encoder")])
def test_other_float32_parts(tae, fmt, part, tmp_path):
    report = export_model(tae, fmt, tmp_path / part, part=part)
    assert report.passed and len(report.resolutions) == 2
    _check_two_sizes(tae, part, load_artifact(tmp_path / part))


@pytest.mark.slow
def test_tae_f32_encoder_exports_at_sizes_divisible_by_32(tmp_path):
    model = zoo.create_model("tae_f32", latent_dim=4)
    report = export_model(model, "onnx", tmp_path / "e.onnx")
    assert report.passed and report.metadata["down"] == 32
    _check_two_sizes(model, "encoder", load_artifact(tmp_path / "e.onnx"))


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "quantize"), [("tflite", "float16"), ("tflite", "int8"), ("onnx", "int8")])
def test_quantized_decoder_reports_psnr_and_mse_change(tae, fmt, quantize, tmp_path):
    report = export_model(tae, fmt, tmp_path / f"d.{fmt}", part="decoder", quantize=quantize, mse_rtol=10.0,
                          fallback="auto" if quantize == "int8" else None)
    assert report.passed and {"psnr_keras_db", "psnr_export_db", "psnr_delta_db"} <= set(report.details)
    assert report.quantization["latency_ms"].keys() == {"1", "4"}
    runner = load_artifact(tmp_path / f"d.{fmt}")
    for size in SIZES:  # dynamic shapes hold after quantization too
        z = _inputs(tae, "decoder", size)
        assert runner(z).shape == (2, *size, 3)


def test_export_refuses_a_part_without_loaded_weights(tmp_path, capsys):
    assert main(["export", "tae_f32.sana", "--format", "onnx", "--part", "decoder", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "decoder" in err and not list(tmp_path.iterdir())


def _save_png(path, image):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)


def test_encode_a_folder_of_mixed_sizes(tae, tae_file, tmp_path, capsys):
    for i, size in enumerate(SIZES):
        _save_png(tmp_path / "in" / f"img{i}.png", photo_crops(1, size, seed=i + 5)[0])
    assert main(["encode", str(tae_file), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "z.npz")]) == 0
    captured = capsys.readouterr()
    assert "retracing" not in captured.out + captured.err
    with np.load(tmp_path / "z.npz") as codes:
        for i, size in enumerate(SIZES):
            x = np.round(photo_crops(1, size, seed=i + 5) * 255) / 255
            np.testing.assert_allclose(codes[f"img{i}"], _keras(tae, "encoder", x.astype("float32")), atol=1e-5)
    assert main(["encode", str(tae_file), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "z.npy")]) == 1
    assert ".npz" in capsys.readouterr().err


def test_encode_refuses_or_pads_sizes_not_divisible_by_8(tae_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", photo_crops(2, (60, 70)))
    args = ["encode", str(tae_file), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "z.npy")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "56x64" in err and "64x72" in err and "--pad" in err
    assert main([*args, "--pad"]) == 0
    assert np.load(tmp_path / "z.npy").shape == (2, 8, 9, 4)


def test_encode_converts_rgba_only_when_asked(tae, tae_file, tmp_path, capsys):
    from PIL import Image

    rgba = np.round(photo_crops(1, (64, 64), seed=2)[0] * 255).astype("uint8")
    (tmp_path / "in").mkdir()
    Image.fromarray(np.dstack([rgba, np.full((64, 64), 255, "uint8")])).save(tmp_path / "in" / "a.png")
    args = ["encode", str(tae_file), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "z.npz")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RGBA" in err and "--convert-rgb" in err
    assert main([*args, "--convert-rgb"]) == 0
    with np.load(tmp_path / "z.npz") as codes:
        np.testing.assert_allclose(codes["a"], _keras(tae, "encoder", (rgba[None] / 255).astype("float32")), atol=1e-5)


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros((2, 64, 64, 1), "float32"), "3)"),           # grayscale into an RGB encoder
    (np.full((2, 64, 64, 3), 2.0, "float32"), "[0, 1]"),   # float images out of range
])
def test_encode_bad_images_one_line(tae_file, tmp_path, capsys, array, message):
    np.save(tmp_path / "x.npy", array)
    assert main(["encode", str(tae_file), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "z.npy")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_decode_npy_and_latent_pngs(tae, tae_file, tmp_path):
    from PIL import Image

    z = _inputs(tae, "decoder", (64, 96), n=3)
    np.save(tmp_path / "z.npy", z)
    assert main(["decode", str(tae_file), "--input", str(tmp_path / "z.npy"), "--output", str(tmp_path / "a")]) == 0
    want = np.round(np.clip(_keras(tae, "decoder", z), 0, 1) * 255)
    for i in range(3):
        got = np.asarray(Image.open(tmp_path / "a" / f"z_{i:04d}.png"), np.float64)
        assert got.shape == (64, 96, 3) and np.abs(got - want[i]).max() <= 1
    for i in range(2):  # 8-bit latent PNGs: the 4 channels as one RGBA image
        Image.fromarray(latent_png(z[i])).save(tmp_path / f"lat{i}.png")
    (tmp_path / "lat").mkdir()
    for i in range(2):
        (tmp_path / f"lat{i}.png").rename(tmp_path / "lat" / f"lat{i}.png")
    assert main(["decode", str(tae_file), "--input", str(tmp_path / "lat"), "--output", str(tmp_path / "b")]) == 0
    from zoo.families.tae import unscale_latents

    for i in range(2):
        zq = unscale_latents(latent_png(z[i]))[None].astype("float32")
        want = np.round(np.clip(_keras(tae, "decoder", zq), 0, 1) * 255)[0]
        assert np.abs(np.asarray(Image.open(tmp_path / "b" / f"lat{i}.png"), np.float64) - want).max() <= 1


def test_latent_png_tiles_round_trip():
    from aezoo.latent_commands import read_latent_png

    z = np.random.default_rng(0).uniform(-3, 3, (4, 5, 32)).astype("float32")
    png = latent_png(z)
    assert png.shape == (4, 5 * 8, 4)
    import tempfile
    from pathlib import Path

    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        Image.fromarray(png).save(Path(tmp) / "z.png")
        back = read_latent_png(Path(tmp) / "z.png", 32)
    np.testing.assert_allclose(back[0], z, atol=3 / 255 + 1e-6)


def test_decode_wrong_latent_channels_one_line(tae_file, tmp_path, capsys):
    np.save(tmp_path / "z.npy", np.zeros((1, 8, 8, 16), "float32"))
    assert main(["decode", str(tae_file), "--input", str(tmp_path / "z.npy"), "--output", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "4 channels" in err
