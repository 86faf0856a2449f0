"""Evaluation on a full test split: reconstruction, linear probes, and the family's own metrics.

The metric definitions are in :mod:`zoo.models.metrics` (and ``docs/metrics.md``);
which family metrics apply is the model's business
(:meth:`zoo.Autoencoder.evaluation_metrics`: its head and its corruption).
"""

from __future__ import annotations

import numpy as np

from zoo.data import datasets as zdata
from zoo.data.images import image_read_options, scale_pixels
from zoo.models.autoencoder import Autoencoder
from zoo.models.metrics import (  # noqa: F401  (evaluate's public names before zoo.models.metrics existed)
    denoising_metrics,
    linear_probe,
    pca_probe,
    psnr,
    reconstruction_metrics,
    sparsity_metrics,
    vae_metrics,
)
from zoo.utils.progress import steps

#: Share of a labelled user file that trains the probe (the rest scores it); the split is seeded.
USER_PROBE_TRAIN_FRACTION = 0.8


def _probe_split(data, probe: bool, seed: int) -> tuple | None:
    """A seeded train/test split of your own labelled examples for the probes, or None without labels."""
    if not probe or data.y is None:
        return None
    y = data.y
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(len(y) * USER_PROBE_TRAIN_FRACTION)
    if cut < 2 or len(y) - cut < 1 or len(np.unique(y[order[:cut]])) < 2:
        raise ValueError(f"--dataset {data.source}: the probe needs at least two classes among the labelled examples "
                         + f"of its {USER_PROBE_TRAIN_FRACTION:.0%} split; pass --no-probe.")
    return order[:cut], order[cut:]


def _file_train_split(spec, data, probe: bool, model: Autoencoder, data_dir):
    """A labelled file's own train split for the probes when its test split is scored (keras.datasets layout), else None."""
    if not probe or data.split != "test" or data.y is None:
        return None
    size, color = image_read_options(model.data_shape)
    train = spec.load("train", data_dir=data_dir, image_size=size, color=color)
    if train.y is None or len(np.unique(train.y)) < 2:
        return None
    return train


def _test_data(model: Autoencoder, dataset: str, split: str | None, data_dir, download: bool):
    """The examples evaluation scores (:meth:`zoo.data.datasets.DataSpec.load`, default the test split)."""
    size, color = image_read_options(model.data_shape)
    return zdata.parse_data_spec(dataset).load(split, default="test", data_dir=data_dir, download=download,
                                               image_size=size, color=color)


def evaluate(
    model: Autoencoder,
    dataset: str,
    data_dir=None,
    probe: bool = True,
    seed: int = 0,
    batch_size: int = 512,
    download: bool = False,
    progress: bool | None = False,
    split: str | None = None,
) -> dict:
    """All metrics that apply to ``model`` on ``dataset``'s full test split, or on your own data.

    Args:
        model: A trained :class:`zoo.Autoencoder`.
        dataset: ``"mnist"``, ``"fashion_mnist"``, ``"sample:NAME"`` (bundled 1k, no probe),
            or a path (``.npz`` with ``x`` and optional labels ``y``, ``.npy``, ``.csv``,
            an image folder): every example is scored. With labels the probes fit on the
            file's train split when it has one (``keras.datasets`` layout, test split scored),
            else on a seeded 80% of the scored examples, scoring the other 20%; without
            labels there is no probe.
        data_dir: Folder holding ``<dataset>.npz``.
        probe: Also fit the linear probes (needs the train split, or labels).
        seed: Seeds the corruption and VAE sample and the probes.
        batch_size: Inference batch size.
        download: Let tensorflow-datasets download a missing dataset.
        progress: Draw a progress bar of the steps on stderr (None: when it is a terminal).
        split: The split to score: None (default) is the test split of data that have one and all of
            data that have none. The probes of a known dataset fit on its train split, so they run
            only when its test split is scored.

    Returns:
        A flat JSON-ready dict (see :mod:`zoo.models.metrics` for definitions).
    """
    spec = zdata.parse_data_spec(dataset)
    data = _test_data(model, dataset, split, data_dir, download)
    x_test, y_test, rows, probe_train = data.x, data.y, None, None
    if spec.kind == "sample" or (spec.kind == "dataset" and data.split != "test"):
        probe = False  # the probes fit on the train split: scored on the test split only
    elif spec.kind == "path":
        probe_train = _file_train_split(spec, data, probe, model, data_dir)
        rows = None if probe_train is not None else _probe_split(data, probe, seed)
        probe = probe_train is not None or rows is not None
    x_test = model.prepare_input(x_test, f"--dataset {dataset}")
    out: dict = {"dataset": str(spec), "split": data.split, "n_test": int(len(x_test))}
    if data.notes:
        out["converted"] = "; ".join(data.notes)
    names = ["reconstruction", "family metrics"] + (["encode train split", "probe", "PCA probe"] if probe else [])
    with steps(len(names), f"evaluate {getattr(model, 'pretrained_name', None) or model.name}", progress) as bar:
        bar.start(names[0])
        out.update(reconstruction_metrics(x_test, model.predict(x_test, batch_size=batch_size, verbose=0)))
        codes = model.encode(x_test, batch_size=batch_size)
        bar.done()
        bar.start(names[1])
        out["code_mean_activation"] = float(np.mean(np.abs(codes)))
        out.update(model.evaluation_metrics(x_test, codes, seed=seed, batch_size=batch_size))
        bar.done()
        if not probe:
            return out
        bar.start(names[2])
        flat = codes.reshape(len(codes), -1)
        if rows is None:
            if probe_train is not None:  # a keras.datasets-layout file: its own train split, as for a known dataset
                x_train, y_train = probe_train.x, probe_train.y
                out["probe_split"] = f"the file's train split ({len(x_train):,} examples)"
            else:
                x_train, y_train = zdata.load_dataset(spec.name, "train", data_dir, download)
            x_train = model.prepare_input(x_train, f"--dataset {dataset} (train split)")
            z_train = model.encode(x_train, batch_size=batch_size).reshape(len(x_train), -1)
            z_test, x_probe_test, y_probe_test = flat, x_test, y_test
        else:
            (train, test), x_all = rows, x_test
            x_train, y_train, z_train = x_all[train], y_test[train], flat[train]
            z_test, x_probe_test, y_probe_test = flat[test], x_all[test], y_test[test]
            out["probe_split"] = f"seeded {len(train)}/{len(test)} split of the labelled examples"
        bar.done()
        bar.start(names[3])
        out["probe_accuracy"] = linear_probe(z_train, y_train, z_test, y_probe_test, seed)
        bar.done()
        bar.start(names[4])
        out["pca_probe_accuracy"] = pca_probe(x_train, y_train, x_probe_test, y_probe_test, model.latent_dim, seed)
        out["probe_components"] = model.latent_dim
        bar.done()
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


#: Real RGB photographs that ship offline (:mod:`zoo.data.photos`): the ``dataset`` name of photo metrics.
PHOTOS = "sklearn_photos"
#: Side of the square centre crops of ``sklearn_photos:128``, the quick variant the tests use.
SAMPLE_PHOTO_SIZE = 128


def parse_photos(spec: str) -> int | None:
    """``"sklearn_photos"`` -> None (crops to the largest multiple of 32); ``"sklearn_photos:128"`` -> 128."""
    name, _, size = str(spec).partition(":")
    if name != PHOTOS or (size and not size.isdigit()):
        raise ValueError(f"Expected {PHOTOS} or {PHOTOS}:SIZE. Received: {spec!r}")
    return int(size) if size else None


def load_photos(size: int | None = None, multiple: int = 32) -> dict[str, np.ndarray]:
    """The sample photographs, centre-cropped, as float32 RGB in [0, 1] (:func:`zoo.data.images.scale_pixels`).

    Args:
        size: Crop ``size x size``; None crops each side to the largest multiple of
            ``multiple`` (china.jpg and flower.jpg, 427x640, become 416x640).
        multiple: What the crop's sides must divide by (32 suits every Tiny AutoEncoder).

    Returns:
        ``{"china": (H, W, 3) array, "flower": ...}``.
    """
    from zoo.data.photos import PHOTOS as FILES
    from zoo.data.photos import sample_photographs

    out = {}
    for file, image in zip(FILES, sample_photographs(), strict=True):
        h, w = image.shape[:2]
        ch, cw = (size, size) if size else (h // multiple * multiple, w // multiple * multiple)
        top, left = (h - ch) // 2, (w - cw) // 2
        out[file.split(".")[0]] = scale_pixels(image[top:top + ch, left:left + cw])
    return out


def photo_metrics(photos: dict[str, np.ndarray], encode, decode=None) -> dict:
    """Latent statistics and, with ``decode``, the round trip's PSNR per photograph and their mean.

    The same function scores the Keras port and the PyTorch reference, so their numbers compare directly.

    Args:
        photos: Name -> (H, W, 3) image in [0, 1] (:func:`load_photos`).
        encode: (1, H, W, 3) images -> (1, h, w, C) latents (numpy in, numpy out).
        decode: Latents -> images in [0, 1]; None for an encoder-only model.

    Returns:
        ``psnr_<name>`` per photograph and ``psnr`` (their mean) with a decoder, and
        ``latent_mean``/``latent_std``/``latent_min``/``latent_max``/``latent_abs_mean`` over all latents.
    """
    out: dict = {"dataset": PHOTOS, "n_test": len(photos),
                 "crops": {name: "x".join(map(str, x.shape[:2])) for name, x in photos.items()}}
    latents, scores = [], []
    for name, x in photos.items():
        z = np.asarray(encode(x[None]), dtype=np.float64)
        latents.append(z.ravel())
        if decode is not None:
            x_hat = np.clip(np.asarray(decode(z.astype(np.float32)), dtype=np.float64), 0.0, 1.0)
            mse = float(np.mean((x_hat[0] - x.astype(np.float64)) ** 2))
            out[f"psnr_{name}"] = float(10 * np.log10(1.0 / max(mse, 1e-10)))
            scores.append(out[f"psnr_{name}"])
    if scores:
        out["psnr"] = float(np.mean(scores))
    z = np.concatenate(latents)
    out.update(latent_mean=float(z.mean()), latent_std=float(z.std()), latent_min=float(z.min()),
               latent_max=float(z.max()), latent_abs_mean=float(np.abs(z).mean()))
    return out


def evaluate_photos(model: Autoencoder, spec: str = PHOTOS) -> dict:
    """:func:`photo_metrics` of ``model`` on :func:`load_photos`; a model loaded without its decoder is not decoded.

    Args:
        model: An RGB model with ``down`` (a Tiny AutoEncoder), e.g. ``zoo.load_pretrained("tae.flux2")``.
        spec: ``"sklearn_photos"`` (crops to multiples of 32) or ``"sklearn_photos:SIZE"`` (square centre crops).
    """
    photos = load_photos(parse_photos(spec))
    loaded = model.loaded_parts
    decode = None if loaded is not None and "decoder" not in loaded else model.decode
    return {**photo_metrics(photos, model.encode, decode), "dataset": str(spec)}
