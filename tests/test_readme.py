"""The README's Python examples run as written (on small data), so its public imports and calls keep working."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import blob_images

README = Path(__file__).resolve().parents[1] / "README.md"
MNIST = (28, 28, 1)


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_shows_python_examples():
    blocks = python_blocks()
    assert len(blocks) >= 3 and any("import zoo" in b for b in blocks) and any("from export" in b for b in blocks)


@pytest.mark.slow
def test_the_readme_python_examples_run(tmp_path, monkeypatch):
    import zoo

    monkeypatch.chdir(tmp_path)
    calls = []
    # The one example that downloads (your own hosted weights) is checked for its signature, not fetched.
    monkeypatch.setattr(zoo, "load_weights", lambda model, url, sha: calls.append((model, url, sha)))
    namespace = {
        "x_train": blob_images(64, MNIST), "x_test": blob_images(16, MNIST, seed=1),
        "x_normal": blob_images(40, MNIST, seed=2), "x_new": blob_images(8, MNIST, seed=3), "photos": np.random.default_rng(0).uniform(0, 1, (1, 64, 64, 3)),
    }
    for block in python_blocks():
        exec(compile(block.replace("epochs=10", "epochs=1"), str(README), "exec"), namespace)  # noqa: S102
    assert namespace["codes"].shape == (16, 32) and namespace["recons"].shape == (16, 28, 28, 1)
    assert (tmp_path / "sparse.keras").is_file() and (tmp_path / "exports" / "ae_conv_encoder.onnx").is_file()
    assert namespace["report"].passed and set(np.unique(namespace["flags"])) <= {0, 1}
    assert namespace["latents"].shape == (1, 8, 8, 32) and len(calls) == 1
