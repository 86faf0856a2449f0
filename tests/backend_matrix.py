"""Run in a subprocess under one Keras backend: every family builds, fits, round-trips, and the zoo loads.

    KERAS_BACKEND=jax python -m tests.backend_matrix REFERENCE.npz OUT.json

``REFERENCE.npz`` holds the bundled-sample codes of every pretrained entry as
computed under TensorFlow (key = entry name, plus ``images``); the result file
maps each check to "ok" or the error, so a failure names the family and the step.
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path

import keras
import numpy as np

import zoo
from tests.helpers import blob_images, tiny_model, tiny_shape

PARITY_ATOL = 1e-5


def _family_checks(name: str, x: np.ndarray, folder: Path) -> dict[str, str]:
    out = {}
    # Seeded per family, so a check does not depend on how many families the registry lists before it.
    keras.utils.set_random_seed(0)
    model = tiny_model(name)
    x = blob_images(len(x), tiny_shape(name))
    out["build"] = "ok" if model.predict(x, verbose=0).shape == x.shape else "wrong output shape"
    # The Tiny AutoEncoder (30 convolutions, no normalisation) starts near 0.0094 and Adam's first
    # steps overshoot: at 1e-3 twelve steps end at 0.0081-0.0089 for seeds 0-3 on JAX and above the
    # start for some; at 3e-4 they end at 0.0037-0.0071.
    rate = 3e-4 if tiny_shape(name)[-1] == 3 else 3e-3
    model.compile(keras.optimizers.Adam(rate), jit_compile="auto")
    before = model.evaluate(x, verbose=0, return_dict=True)["loss"]
    model.fit(x, epochs=6, batch_size=16, verbose=0)
    after = model.evaluate(x, verbose=0, return_dict=True)["loss"]
    out["fit"] = "ok" if np.isfinite(after) and after < before else f"loss {before:.4g} -> {after:.4g}"
    if name == "ae_dense":  # aezoo's own training path too: pipeline, compile options, run folder
        from zoo.training.run import train

        run = train(name, "sample:mnist", folder / "run", epochs=1, batch_size=100, verbose=0,
                    model_kwargs={"latent_dim": 4, "hidden_units": (16,)})
        out["zoo_train"] = "ok" if (run.run_dir / "model.keras").exists() else "no model.keras in the run folder"
    path = folder / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    same = type(loaded) is type(model) and np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    out["keras_round_trip"] = "ok" if same else "outputs differ after .keras save/load"
    return out


def main(reference: str, output: str) -> int:
    keras.utils.set_random_seed(0)
    ref = np.load(reference)
    x = blob_images(32)
    results: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in zoo.list_models():
            try:
                results[name] = _family_checks(name, x, Path(tmp))
            except Exception:  # noqa: BLE001 - every failure is reported, not raised
                results[name] = {"error": traceback.format_exc(limit=3)}
    # MNIST-like entries only: the reference images are 28x28 grayscale. The ported RGB entries'
    # per-backend parity is tests/test_tae_parity.py's.
    for entry in zoo.list_pretrained(kind="trained"):
        family = results.setdefault(zoo.get_card(entry).model, {})
        try:
            err = float(np.max(np.abs(zoo.load_pretrained(entry).encode(ref["images"]) - ref[entry])))
            family[f"parity:{entry}"] = "ok" if err <= PARITY_ATOL else f"max abs difference {err:.2e}"
        except Exception:  # noqa: BLE001
            family[f"parity:{entry}"] = traceback.format_exc(limit=3)
    Path(output).write_text(json.dumps({"backend": keras.backend.backend(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
