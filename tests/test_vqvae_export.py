"""VQ-VAE exports: ``encoder_indices`` (images -> int32 indices) and ``index_decoder`` (indices -> images).

Each artifact is loaded in its own runtime and compared with answers computed here without the export
package: indices from a numpy nearest-neighbour search on the encoder network's vectors, images from the
Keras decoder on the codebook's rows.
"""

import numpy as np
import pytest

import export
import zoo
from aezoo.cli import main
from export import FORMATS, export_model, load_artifact
from export.validate import DEFAULT_ATOL, TIE_RTOL, compare_indices, index_failures
from tests.helpers import blob_images, tiny_model
from zoo.families.vqvae import VQVAE

IMAGES = blob_images(64, seed=0)
TEST_IMAGES = blob_images(16, seed=5)


@pytest.fixture(scope="module")
def model():
    """A tiny VQ-VAE (16x16 -> 4x4 indices of 512 codes) trained one epoch on blobs."""
    vq = tiny_model("vqvae_conv")
    vq.compile("adam")
    vq.fit(IMAGES, epochs=1, batch_size=16, verbose=0)
    return vq


def codebook(model) -> np.ndarray:
    return np.asarray(model.head.codebook.numpy(), dtype=np.float64)


def numpy_indices(model, x) -> np.ndarray:
    """Nearest codebook rows of the encoder network's vectors, by float64 squared distance."""
    z = np.asarray(model.encoder_network.predict(x, verbose=0), dtype=np.float64)
    return np.argmin(((z[..., None, :] - codebook(model)) ** 2).sum(-1), axis=-1)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_encoder_indices_equal_keras_and_numpy(model, fmt, tmp_path):
    report = export_model(model, fmt, tmp_path / "enc", part="encoder_indices")
    assert report.passed and report.details["index_mismatches"] == 0
    assert report.details["index_positions"] == (1 + 7 + 64) * 16  # batches 1, 7, 64 of 4x4 indices
    runner = load_artifact(tmp_path / "enc")
    assert (runner.input_name, runner.output_name, runner.input_dtype) == ("images", "indices", "float32")
    keras_indices = model.encode(TEST_IMAGES, output="indices")
    assert len(np.unique(keras_indices)) > 1  # a code worth checking, not one index everywhere
    np.testing.assert_array_equal(keras_indices, numpy_indices(model, TEST_IMAGES))
    for batch in (TEST_IMAGES[:1], TEST_IMAGES[1:]):  # two batch sizes through one loaded artifact
        got = runner(batch)
        assert got.dtype == np.int32 and got.shape == (len(batch), *model.grid_shape)
        np.testing.assert_array_equal(got, keras_indices[: len(batch)] if len(batch) == 1 else keras_indices[1:])
    meta = export.read_metadata(tmp_path / "enc")
    assert meta["outputs"] == {"indices": [None, 4, 4]} and meta["dtypes"] == {"indices": "int32"}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_index_decoder_takes_int32_and_matches_keras(model, fmt, tmp_path):
    report = export_model(model, fmt, tmp_path / "dec", part="index_decoder")
    assert report.passed and report.max_abs_error <= DEFAULT_ATOL and report.input_name == "indices"
    runner = load_artifact(tmp_path / "dec")
    # The graph's own input is int32 in every runtime (the runner reads it from the artifact).
    assert (runner.input_name, runner.output_name, runner.input_dtype) == ("indices", "reconstructions", "int32")
    indices = model.encode(TEST_IMAGES, output="indices")
    want = model.decoder.predict(codebook(model)[indices].astype(np.float32), verbose=0)
    got = runner(indices)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=DEFAULT_ATOL, rtol=0)
    with pytest.raises(ValueError, match="takes int32 values. Received: dtype=float32"):
        runner(indices.astype(np.float32))
    meta = export.read_metadata(tmp_path / "dec")
    assert meta["inputs"] == {"indices": [None, 4, 4]} and meta["dtypes"] == {"indices": "int32"}


def test_unknown_part_lists_the_models_parts(model, tmp_path):
    with pytest.raises(ValueError, match=r"'encoder_indices', 'index_decoder'\]. Received: part='nope'"):
        export_model(model, "onnx", tmp_path / "x.onnx", part="nope")
    with pytest.raises(ValueError, match=r"\['autoencoder', 'decoder', 'encoder'\]. Received: part='index_decoder'"):
        export_model(tiny_model("ae_dense"), "onnx", tmp_path / "x.onnx", part="index_decoder")
    assert not (tmp_path / "x.onnx").exists()


def test_int8_encoder_indices_is_judged_by_reconstruction_mse(model, tmp_path):
    report = export_model(model, "tflite", tmp_path / "enc.tflite", part="encoder_indices", quantize="int8")
    assert report.passed and report.quantize == "int8" and report.mse_delta_rel <= report.mse_rtol
    assert report.details["index_positions"] == (1 + 7 + 64) * 16  # mismatches are reported, not bounded
    assert load_artifact(report.path)(TEST_IMAGES).dtype == np.int32


@pytest.mark.parametrize(("part", "fmt", "quantize", "match"), [
    ("index_decoder", "onnx", "int8", "takes integer indices.*part='decoder'"),
    ("index_decoder", "tflite", "float16", "takes integer indices"),
    ("encoder_indices", "tflite", "int16x8", "ARG_MIN, which LiteRT's 16x8 quantizer does not support"),
])
def test_quantize_options_these_parts_cannot_take_are_refused_in_one_line(model, tmp_path, part, fmt, quantize,
                                                                           match):
    with pytest.raises(ValueError, match=match) as err:
        export_model(model, fmt, tmp_path / "q", part=part, quantize=quantize)
    assert "\n" not in str(err.value) and f"quantize={quantize!r}" in str(err.value)
    assert not (tmp_path / "q").exists()


def test_a_flipped_index_passes_only_at_a_near_tie(tmp_path):
    vq = tiny_model("vqvae_conv")
    x = TEST_IMAGES[:4]
    first = vq.encode(x, output="indices")
    k = int(first[0, 0, 0])
    twin = (k + 1) % vq.codebook_size
    book = vq.head.codebook.numpy()
    book[twin] = book[k]  # two equal codes: every position on either is an exact tie
    vq.head.codebook.assign(book)
    reference = vq.get_part("encoder_indices").predict
    want = reference(x, verbose=0)
    tied = np.isin(want, (k, twin))
    other = {k: twin, twin: k}

    def flip(where):
        def runner(xb):
            out = reference(xb, verbose=0).copy()
            first_hit = tuple(np.argwhere(where(out))[0])
            out[first_hit] = other.get(int(out[first_hit]), (int(out[first_hit]) + 1) % vq.codebook_size)
            return out
        return runner

    counts = compare_indices(vq, "indices", flip(lambda o: np.isin(o, (k, twin))),
                             lambda xb: reference(xb, verbose=0), x, sizes=(4,))
    assert tied.any() and counts == {"positions": x.shape[0] * 16, "mismatches": 1, "ties": 1}
    assert index_failures(counts, quantized=False, mse_delta_rel=0.0) == []
    assert "move the reconstruction MSE" in index_failures(counts, quantized=False, mse_delta_rel=0.01)[0]
    # The same flip away from the tie (to a code that is not the twin) is a failure.
    counts = compare_indices(vq, "indices", flip(lambda o: ~np.isin(o, (k, twin))),
                             lambda xb: reference(xb, verbose=0), x, sizes=(4,))
    assert counts["mismatches"] == 1 and counts["ties"] == 0
    assert f"1 of 64 indices differ from Keras's, 1 of them at no near-tie (distance gap > {TIE_RTOL:g} x" \
        in index_failures(counts, quantized=False, mse_delta_rel=0.0)[0]
    assert index_failures(counts, quantized=True, mse_delta_rel=0.0) == []  # quantized: the MSE decides


def test_cli_exports_encoder_indices_of_the_pretrained_entry(tmp_path, capsys):
    assert main(["export", "vqvae_conv.mnist", "--part", "encoder_indices", "--format", "onnx",
                 "--out", str(tmp_path)]) == 0
    report = export.ExportReport.load(tmp_path / "vqvae_conv.mnist_encoder_indices.onnx")
    assert report.passed and report.details["index_mismatches"] == 0
    assert report.details["index_positions"] == 72 * 49  # bundled MNIST at batches 1, 7, 64; 7x7 indices
    assert "encoder_indices onnx" in capsys.readouterr().out
    assert main(["export", "vqvae_conv.mnist", "--part", "nope", "--format", "onnx", "--out", str(tmp_path)]) == 1
    assert "'encoder_indices', 'index_decoder'" in capsys.readouterr().err


def test_declared_parts_are_the_models_own():
    assert set(VQVAE.EXPORT_PARTS) == set(VQVAE.PARTS) - set(export.PARTS)


def test_index_decoder_needs_the_codebook_of_the_encoder_weights(tmp_path):
    decoder_only = zoo.load_pretrained("vqvae_conv.mnist", parts=("decoder",))
    with pytest.raises(ValueError, match="loaded with the weights of decoder only, so its index_decoder"):
        export_model(decoder_only, "onnx", tmp_path / "x.onnx", part="index_decoder")
    assert not (tmp_path / "x.onnx").exists()
