"""Every family on the JAX and PyTorch backends, each in its own process (KERAS_BACKEND is fixed at import).

The TensorFlow column of the same matrix is the main suite itself (tests/test_models.py,
tests/test_pretrained.py), which runs under TensorFlow.
"""

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.data import datasets as zdata

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ["jax", "torch"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The bundled-sample codes of every pretrained entry under TensorFlow (this process's backend)."""
    images = zdata.to_unit_range(zdata.load_sample("mnist")[0][:64])
    codes = {entry: zoo.load_pretrained(entry).encode(images) for entry in zoo.list_pretrained(kind="trained")}
    path = tmp_path_factory.mktemp("ref") / "codes.npz"
    np.savez(path, images=images, **codes)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_family_builds_fits_round_trips_and_loads_the_zoo(backend, reference, tmp_path):
    if find_spec(backend) is None:
        pytest.fail(f"{backend} is not installed; `make install` installs every backend")
    out = tmp_path / "matrix.json"
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.backend_matrix", str(reference), str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["backend"] == backend
    assert set(report["results"]) == set(zoo.list_models())
    failures = {f"{family}/{check}": result for family, checks in report["results"].items()
                for check, result in checks.items() if result != "ok"}
    assert not failures, failures
    checks = {check for checks in report["results"].values() for check in checks}
    assert {"build", "fit", "keras_round_trip"} <= checks
    assert {f"parity:{e}" for e in zoo.list_pretrained(kind="trained")} <= checks
