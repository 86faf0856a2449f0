"""TensorFlow SavedModel through Keras' ``model.export``, run back with ``tf.saved_model.load``."""

from __future__ import annotations

import json
from pathlib import Path

import keras

from export.registry import METADATA_KEY, ExportFormat, Runner, output_keys, register_format, single_key


@register_format
class SavedModelFormat(ExportFormat):
    """A SavedModel folder with one ``serving_default`` signature; metadata in ``assets/``."""

    name = "saved_model"
    title = "SavedModel"
    artifact = "saved_model"
    label = "saved_model"
    order = 10

    def matches(self, path: Path) -> bool:
        return path.is_dir() and (path / "saved_model.pb").is_file()

    def write(self, graph: keras.Model, path: Path, *, metadata: dict, quantize=None, calibration=None) -> dict:
        graph.export(str(path), format="tf_saved_model", verbose=False)
        assets = path / "assets"
        assets.mkdir(exist_ok=True)
        (assets / f"{METADATA_KEY}.json").write_text(json.dumps(metadata, indent=2))
        return {}

    def load(self, path: Path) -> Runner:
        import tensorflow as tf

        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        specs = signature.structured_input_signature[1]
        in_name = single_key(specs, "SavedModel input")
        out_names = output_keys(signature.structured_outputs, "SavedModel output")

        def run(x):
            out = signature(**{in_name: tf.constant(x)})
            return {name: out[name].numpy() for name in out_names}

        return Runner.of(run, in_name, out_names, f"tensorflow {tf.__version__}",
                         tuple(specs[in_name].shape.as_list()[1:]), specs[in_name].dtype.name)

    def read_metadata(self, path: Path) -> dict:
        return json.loads((Path(path) / "assets" / f"{METADATA_KEY}.json").read_text())
