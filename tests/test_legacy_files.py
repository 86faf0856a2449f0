"""Models saved as ``.keras`` by an earlier layout of the package still load and give the same outputs.

The files in ``tests/data/legacy/`` were written by commit 1844170 (the flat ``zoo/`` package,
before the subpackages): one small model per registered family, plus a Tiny AutoEncoder with
every ported layer. Loading them checks that the registered names (``aezoo>...``), not the
module paths, carry the classes. ``import zoo`` alone is enough to load them (and any zoo
file), in a fresh process, on every backend, while ``import zoo`` itself still imports no Keras.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from tests.helpers import tiny_model

LEGACY = Path(__file__).parent / "data" / "legacy"
OUTPUTS = np.load(LEGACY / "outputs.npz")
NAMES = sorted(p.stem for p in LEGACY.glob("*.keras"))
ROOT = Path(__file__).parents[1]
#: Families registered after the fixtures were written: the flat layout never saved them.
AFTER_FIXTURES = {"iwae_dense", "iwae_conv", "vqvae_dense", "vqvae_conv"}


def test_every_family_has_a_legacy_file():
    assert set(zoo.list_models()) - {"tae", "tae_f32"} - AFTER_FIXTURES <= set(NAMES)
    assert "tiny_tae" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_legacy_file_loads_with_the_same_outputs(name):
    model = keras.saving.load_model(LEGACY / f"{name}.keras")
    assert isinstance(model, zoo.Autoencoder)
    x = OUTPUTS["x_rgb"] if name == "tiny_tae" else OUTPUTS["x"]
    np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), OUTPUTS[name], atol=1e-6)


def test_every_module_that_registers_a_keras_class_is_loaded_on_lookup():
    registering = set()
    for path in (ROOT / "zoo").rglob("*.py"):
        decorated = re.search(r"^\s*@keras\.saving\.register_keras_serializable", path.read_text(), re.M)
        if decorated and path.parent.name != "families":
            registering.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    assert registering == set(zoo.KERAS_CLASS_MODULES)


#: Run in a fresh process: ``import zoo`` imports no Keras, then Keras loads every file given with ``import zoo`` only.
FRESH_LOAD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import zoo
    zoo.list_models()
    assert "keras" not in sys.modules and "tensorflow" not in sys.modules, "import zoo imported Keras"
    import keras
    out = {}
    for path in sys.argv[1:]:
        model = keras.saving.load_model(path)
        out[path] = [type(model).__name__, keras.backend.backend()]
    print(json.dumps(out))
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_import_zoo_is_enough_to_load_any_zoo_file_in_a_fresh_process(backend, tmp_path):
    files = [str(LEGACY / f"{name}.keras") for name in ("wae_dense", "sparse_kl_conv", "tiny_tae")]
    for name in sorted(AFTER_FIXTURES)[::2]:  # families that loaded lazily even in a current-layout process
        path = tmp_path / f"{name}.keras"
        tiny_model(name).save(path)
        files.append(str(path))
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", FRESH_LOAD, *files], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    expected = {p: [type(keras.saving.load_model(p)).__name__, backend] for p in files}
    assert loaded == expected


def test_zoo_imported_before_its_own_keras_use_still_loads_every_family(tmp_path):
    """``zoo.create_model`` imports Keras from inside zoo; a later load of another family's file still works."""
    path = tmp_path / "iwae_dense.keras"
    tiny_model("iwae_dense").save(path)
    code = textwrap.dedent(f"""
        import keras, zoo
        zoo.create_model("ae_dense", input_shape=(8, 8, 1), latent_dim=2)
        print(type(keras.saving.load_model({str(path)!r})).__name__)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == type(keras.saving.load_model(path)).__name__


def test_unknown_aezoo_name_still_fails_as_keras_says():
    with pytest.raises(TypeError, match="Could not locate class 'NoSuchLayer'"):
        keras.saving.deserialize_keras_object({"class_name": "NoSuchLayer", "registered_name": "aezoo>NoSuchLayer",
                                               "module": "zoo.nowhere", "config": {}})



def test_a_sparse_file_loads_after_the_head_module_was_imported_first(tmp_path):
    """With the head classes registered before the load (here by ``import zoo.anomaly``), the registry hook never
    fires; the sparse head's regularizer must still be found."""
    path = tmp_path / "sparse_l1_dense.keras"
    tiny_model("sparse_l1_dense").save(path)
    code = textwrap.dedent(f"""
        import keras, zoo, zoo.anomaly
        print(type(keras.saving.load_model({str(path)!r})).__name__)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "Autoencoder"
