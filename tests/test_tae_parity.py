"""The Tiny AutoEncoders' real weights against stored PyTorch reference outputs, on every backend.

``tests/data/tae_reference.npz`` holds crops of scikit-learn's photographs (CC BY 2.0) and what
``benchmarks.peers.tae_torch`` (checked equal to upstream ``taesd.py``) computes from the float16
checkpoints in float64 and float32; ``python -m benchmarks.tae_parity --write-reference`` wrote it.
The Keras weights are the zoo's entries (``tae.flux2``, ``tae_f32.sana``) once shipped, else
converted from ``$AEZOO_TAESD_DIR`` (a folder with ``taef2_*.pth`` and ``taesana_encoder.pth``).
TensorFlow runs here; JAX and PyTorch each in their own process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import zoo
from benchmarks.tae_parity import MODELS, STORED_PARTS, TOLERANCE, run_backend, run_keras

REFERENCE = Path(__file__).parent / "data" / "tae_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def checkpoints() -> None:
    """The weights are the zoo's own entries (None tells ``run_keras`` so)."""
    assert all(entry in zoo.list_pretrained() for _variant, entry, _parts, _args in MODELS.values())
    return None


def _inputs(reference: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``run_keras`` inputs: the stored images for encoders, the stored float64 latents for the decoder."""
    inputs = {}
    for tag, parts in STORED_PARTS.items():
        for part in parts:
            model, which = part.split("/")
            inputs[f"{part}/{tag}"] = (reference[f"images_{tag}"] if which == "encoder"
                                       else reference[f"{model}_encoder_{tag}_float64"])
    return inputs


def _errors(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], precision: str) -> dict[str, float]:
    errors = {}
    for tag, parts in STORED_PARTS.items():
        for part in parts:
            got = outputs[f"{part}/{tag}/{precision}"]
            want = reference[f"{part.replace('/', '_')}_{tag}_{precision}"]
            assert got.shape == want.shape and got.dtype == want.dtype, (part, tag, got.shape, got.dtype)
            errors[f"{part}/{tag}"] = float(np.max(np.abs(got - want)))
    return errors


def test_the_stored_reference_is_small_covers_every_part_and_says_where_it_came_from(reference):
    assert REFERENCE.stat().st_size < 1_000_000
    meta = json.loads(str(reference["meta"]))
    assert set(meta["checkpoints"]) == {"taef2_encoder.pth", "taef2_decoder.pth", "taesana_encoder.pth"}
    assert meta["checked_against_original"] is True
    assert reference["images_64x96"].shape == (1, 64, 96, 3) and reference["images_64x96"].dtype == np.uint8
    assert reference["flux2_encoder_64x96_float64"].shape == (1, 8, 12, 32)
    assert reference["flux2_decoder_64x96_float32"].shape == (1, 64, 96, 3)
    assert reference["sana_encoder_64x96_float64"].shape == (1, 2, 3, 32)
    # Real photographs and real latents, not a degenerate case that any port would pass.
    assert reference["flux2_encoder_64x64_float64"].std() > 0.3
    assert np.ptp(reference["flux2_decoder_64x64_float64"]) > 0.5


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_tensorflow_matches_the_stored_reference(reference, checkpoints, precision):
    outputs = run_keras(_inputs(reference), (precision,), checkpoints)
    errors = _errors(outputs, reference, precision)
    assert max(errors.values()) <= TOLERANCE[precision], errors


@pytest.mark.slow  # a fresh process per backend loads both entries: 30-90 s each on two busy cores
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_match_the_stored_reference(reference, checkpoints, backend):
    # JAX computes float64 only with JAX_ENABLE_X64=1, which run_backend sets.
    outputs = run_backend(backend, _inputs(reference), ("float64", "float32"), checkpoints, timeout=600)
    assert str(outputs["backend"]) == backend
    for precision in ("float64", "float32"):
        errors = _errors(outputs, reference, precision)
        assert max(errors.values()) <= TOLERANCE[precision], (precision, errors)
