"""``make demo``: the main job on embedded defaults, offline, in about a minute.

1. Train a small ``ae_conv`` for two epochs on the bundled 1k MNIST sample,
   through the same path as ``aezoo train`` (run folder, log, card).
2. Save it as ``.keras``, reload it with ``safe_mode`` on and check the outputs match.
3. Load the pretrained ``ae_conv.mnist`` (SHA-256 checked), score it on the
   sample, and draw its reconstructions.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    import keras
    import numpy as np

    import zoo
    from zoo import data as zdata
    from zoo.evaluate import evaluate, format_table
    from zoo.plots import reconstruction_grid
    from zoo.train import train

    out = Path(os.environ.get("AEZOO_DEMO_DIR", tempfile.mkdtemp(prefix="aezoo-demo-")))
    print(f"== 1. train ae_conv on the bundled sample -> {out / 'run'}")
    result = train("ae_conv", "sample:mnist", out / "run", epochs=2, batch_size=64,
                   model_kwargs={"latent_dim": 16}, verbose=2, command="make demo")
    x, _ = zdata.load_sample("mnist")
    x = zdata.to_unit_range(x)

    print("== 2. save and reload as .keras")
    path = out / "ae_conv.keras"
    result.model.save(path)
    reloaded = keras.models.load_model(path)
    same = np.array_equal(reloaded.predict(x[:64], verbose=0), result.model.predict(x[:64], verbose=0))
    print(f"reloaded {type(reloaded).__name__} from {path}: identical outputs = {same}")
    if not same:
        raise SystemExit("reloaded model differs from the saved one")

    if "ae_conv.mnist" in zoo.list_pretrained():
        print("== 3. pretrained ae_conv.mnist on the bundled sample")
        model = zoo.load_pretrained("ae_conv.mnist")
        print(format_table(evaluate(model, "sample:mnist")))
        png = reconstruction_grid(model, x, out / "ae_conv.mnist.png", title="ae_conv.mnist")
        print(f"reconstructions: {png}")
    print(f"demo finished; files in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
