"""Run under a non-TensorFlow Keras backend: streamed folders give lazy PyDatasets (TFRecord: tf.data) and train.

    KERAS_BACKEND=jax python -m tests.streaming_backend '{"npy": DIR, ...}' OUT.json

Each check is "ok" or what went wrong; the folders are those of tests/test_streaming.py (150 8x8 images).
"""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from pathlib import Path

import keras
import numpy as np

from zoo.data import streaming
from zoo.data.pipeline import make_pipeline


def _check(folder: str, kind: str, reference: list[bytes]) -> str:
    stream = streaming.open_stream(folder, image_size=(8, 8)).for_model((8, 8, 1), (0.0, 1.0), kind)
    pipeline = make_pipeline(stream, 32, seed=2)
    if kind != "tfrecord" and not isinstance(pipeline, keras.utils.PyDataset):
        return f"expected a PyDataset, got {type(pipeline).__name__}"
    epochs = []
    for _ in range(2):
        if isinstance(pipeline, keras.utils.PyDataset):
            epochs.append(np.concatenate([pipeline[i] for i in range(len(pipeline))]))
            pipeline.on_epoch_end()
        else:
            epochs.append(np.concatenate(list(pipeline.as_numpy_iterator())))
    for epoch in epochs:
        if sorted(r.tobytes() for r in epoch.reshape(len(epoch), -1)) != reference:
            return "an epoch does not hold the examples once each"
    return "ok" if not np.array_equal(*epochs) else "the order did not change between epochs"


def main(folders: str, output: str) -> int:
    folders = json.loads(folders)
    x = streaming.open_stream(folders["npy"]).read_all().astype(np.float32) / 255
    reference = sorted(r.tobytes() for r in x.reshape(len(x), -1))
    results = {"backend": keras.backend.backend()}
    for kind in ("npy", "npz", "images", "tfrecord"):
        try:
            results[kind] = _check(folders[kind], kind, reference)
        except Exception:  # noqa: BLE001 - every failure is reported, not raised
            results[kind] = traceback.format_exc(limit=3)
    try:
        from zoo.training.run import train

        with tempfile.TemporaryDirectory() as tmp:
            run = train("ae_dense", folders["npy"], Path(tmp) / "run", epochs=1, batch_size=50, verbose=0,
                        model_kwargs={"input_shape": (8, 8, 1), "latent_dim": 2, "hidden_units": (8,)})
            results["train"] = "ok" if "streamed" in run.card["data"] else f"not streamed: {run.card['data']}"
    except Exception:  # noqa: BLE001
        results["train"] = traceback.format_exc(limit=3)
    Path(output).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
