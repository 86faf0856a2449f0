"""Evaluation on a full test split: reconstruction, linear probes, and the family's own metrics.

The metric definitions are in :mod:`zoo.metrics` (and ``docs/metrics.md``);
which family metrics apply is the model's business
(:meth:`zoo.Autoencoder.evaluation_metrics`: its head and its corruption).
"""

from __future__ import annotations

import numpy as np

from zoo import data as zdata
from zoo.metrics import (  # noqa: F401  (evaluate's public names before zoo.metrics existed)
    denoising_metrics,
    linear_probe,
    pca_probe,
    psnr,
    reconstruction_metrics,
    sparsity_metrics,
    vae_metrics,
)
from zoo.models import Autoencoder


def evaluate(
    model: Autoencoder,
    dataset: str,
    data_dir=None,
    probe: bool = True,
    seed: int = 0,
    batch_size: int = 512,
    download: bool = False,
) -> dict:
    """All metrics that apply to ``model`` on ``dataset``'s full test split.

    Args:
        model: A trained :class:`zoo.Autoencoder`.
        dataset: ``"mnist"``, ``"fashion_mnist"`` or ``"sample:NAME"`` (bundled 1k, no probe).
        data_dir: Folder holding ``<dataset>.npz``.
        probe: Also fit the linear probes (needs the train split; ~1 min).
        seed: Seeds the corruption and VAE sample and the probes.
        batch_size: Inference batch size.
        download: Let tensorflow-datasets download a missing dataset.

    Returns:
        A flat JSON-ready dict (see :mod:`zoo.metrics` for definitions).
    """
    spec = zdata.parse_data_spec(dataset)
    if spec.kind == "sample":
        x_test_u8, y_test = zdata.load_sample(spec.name)
        probe = False
    elif spec.kind == "dataset":
        x_test_u8, y_test = zdata.load_dataset(spec.name, "test", data_dir, download)
    else:
        raise ValueError(f"evaluate takes a known dataset or sample:NAME. Received: dataset={dataset!r}")
    x_test = zdata.to_unit_range(x_test_u8)
    out: dict = {"dataset": str(spec), "split": "test", "n_test": int(len(x_test))}
    out.update(reconstruction_metrics(x_test, model.predict(x_test, batch_size=batch_size, verbose=0)))
    codes = model.encode(x_test, batch_size=batch_size)
    out["code_mean_activation"] = float(np.mean(np.abs(codes)))
    out.update(model.evaluation_metrics(x_test, codes, seed=seed, batch_size=batch_size))
    if probe:
        x_train_u8, y_train = zdata.load_dataset(spec.name, "train", data_dir, download)
        x_train = zdata.to_unit_range(x_train_u8)
        z_train = model.encode(x_train, batch_size=batch_size).reshape(len(x_train), -1)
        out["probe_accuracy"] = linear_probe(z_train, y_train, codes.reshape(len(codes), -1), y_test, seed)
        out["pca_probe_accuracy"] = pca_probe(x_train, y_train, x_test, y_test, model.latent_dim, seed)
        out["probe_components"] = model.latent_dim
    return out


def format_table(metrics: dict) -> str:
    """Two-column text table of the scalar metrics."""
    rows = [(k, v) for k, v in metrics.items() if not isinstance(v, (list, dict))]
    width = max(len(k) for k, _ in rows)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  -----"]
    for key, value in rows:
        shown = f"{value:.5g}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {shown}")
    return "\n".join(lines)
