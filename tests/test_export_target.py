"""What ``export_model`` is given, resolved once into a typed target; options that do not apply are refused."""

import numpy as np
import pytest

import zoo
from export import export_model, get_format, load_artifact
from export.settings import resolve_settings
from export.target import DetectorTarget, PartTarget, resolve_target
from tests.helpers import TINY_SHAPE, blob_images, tiny_model
from zoo.anomaly import Detector

IMAGES = blob_images(16, TINY_SHAPE, seed=4)


@pytest.fixture(scope="module")
def detector():
    return Detector(tiny_model("ae_dense"), score="reconstruction").fit(blob_images(40, seed=5), fpr=0.1)


def test_each_source_resolves_to_its_kind(detector, tmp_path):
    model = tiny_model("ae_dense")
    model.save(tmp_path / "mine.keras")
    detector.save(tmp_path / "digits")
    part = resolve_target(model, part="decoder")
    assert isinstance(part, PartTarget) and (part.part, part.name, part.card) == ("decoder", model.name, None)
    pretrained = resolve_target("ae_dense.mnist")
    assert pretrained.part == "encoder" and pretrained.name == pretrained.card.name == "ae_dense.mnist"
    assert resolve_target(tmp_path / "mine.keras").name == "mine"
    folder = resolve_target(tmp_path / "digits")
    assert isinstance(folder, DetectorTarget) and folder.name == "digits" and folder.part == "detector"
    assert resolve_target(detector).detector is detector
    assert resolve_target(part) is part and resolve_target(part, part="autoencoder").part == "autoencoder"


def test_unknown_names_and_wrong_types_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="Did you mean: ae_dense.mnist") as err:
        resolve_target("ae_dens.mnist")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"one of \['autoencoder', 'decoder', 'encoder'\]. Received: part='encodr'"):
        resolve_target(tiny_model("ae_dense"), part="encodr")
    with pytest.raises(TypeError, match=r"a zoo.Autoencoder or a pretrained name.*Received: ndarray"):
        export_model(np.zeros(3), "onnx", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_a_detector_option_on_a_part_is_refused(tmp_path):
    with pytest.raises(ValueError) as err:
        export_model(tiny_model("ae_dense"), "onnx", tmp_path / "x.onnx", score_rtol=1e-3)
    message = str(err.value)
    assert message.startswith("score_rtol applies to detector exports only") and "\n" not in message
    assert "Received: score_rtol=0.001 for the encoder of ae_dense" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, value, shown", [("quantize", "int8", "'int8'"), ("mse_rtol", 0.1, "0.1"),
                                                  ("calibration_data", IMAGES, "..."), ("fallback", "auto", "'auto'")])
def test_a_quantization_option_on_a_detector_is_refused(detector, option, value, shown, tmp_path):
    target = resolve_target(detector)
    with pytest.raises(ValueError) as err:
        resolve_settings(target, get_format("onnx"), **{option: value})
    assert str(err.value).startswith("Detector exports are float32 only") and "\n" not in str(err.value)
    assert f"Received: {option}={shown} for the detector " in str(err.value)


def test_settings_fill_the_documented_defaults(detector):
    onnx, tflite = get_format("onnx"), get_format("tflite")
    part = resolve_target(tiny_model("ae_dense"))
    assert (resolve_settings(part, onnx).atol, resolve_settings(part, onnx).mse_rtol) == (1e-5, None)
    quantized = resolve_settings(part, tflite, quantize="int8")
    assert (quantized.atol, quantized.mse_rtol) == (None, 0.10)
    float32 = resolve_settings(resolve_target(detector), onnx)
    assert (float32.atol, float32.score_rtol, float32.quantize) == (1e-3, 1e-4, None)


def test_a_resolved_target_exports_like_its_model(tmp_path):
    model = tiny_model("ae_conv")
    target = resolve_target(model, part="decoder")
    report = export_model(target, "onnx", tmp_path / "dec.onnx")
    assert report.passed and report.part == "decoder" and report.model_name == model.name
    codes = model.encoder.predict(IMAGES, verbose=0)
    np.testing.assert_allclose(load_artifact(tmp_path / "dec.onnx")(codes), model.decoder.predict(codes, verbose=0),
                               atol=1e-5, rtol=0)


def test_a_pretrained_card_given_wins_over_the_found_one(tmp_path):
    card = zoo.get_card("ae_dense.mnist")
    target = resolve_target(tiny_model("ae_dense", input_shape=(28, 28, 1), latent_dim=32), card=card)
    assert target.card is card and target.name == "ae_dense.mnist" and target.metadata()["card"]["name"] == card.name


def test_export_walks_down_and_never_climbs_back():
    from benchmarks.export_walk import trace_export

    both, export_only = trace_export("onnx", "encoder")
    assert export_only.summary()["climbs"] == 0, export_only.climbs
    # The pipeline's own module is entered once: every later step returns to it rather than calling into it.
    assert export_only.entries["export/exporter.py"] == 1
    assert both.summary()["files"] >= export_only.summary()["files"]
