"""Evaluation on a full test split: reconstruction, linear probes, and family-specific metrics.

Definitions (also in the README):

- ``bce`` / ``mse``: per-pixel binary cross-entropy / squared error, averaged
  over pixels and images; ``psnr``: mean over images of ``10 log10(1 / MSE_i)``.
- ``probe_accuracy``: a logistic regression fitted on the train split's codes
  (standardised), scored on the test split; ``pca_probe_accuracy`` is the same
  probe on PCA with as many components as the code, computed in the same run.
- Sparse families: ``code_mean_activation`` (mean |a|), ``fraction_below_0.05``,
  ``fraction_below_1pct_of_max`` and the per-unit mean activations.
- Denoising: the input corrupted as in training (fixed seed), scored against the
  clean image: ``denoise_bce``, ``noisy_psnr``, ``denoised_psnr`` and their gain.
- VAE: ``neg_elbo_nats`` = summed BCE of one posterior sample + KL, per image.
"""

from __future__ import annotations

import numpy as np

from zoo import data as zdata
from zoo.models import VAE, Autoencoder

_EPS = 1e-7


def _bce(x, p):
    p = np.clip(p, _EPS, 1 - _EPS)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over images of ``10 log10(1 / MSE_i)`` for images in [0, 1]."""
    mse = np.mean(np.square(x - y).reshape(len(x), -1), axis=1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def reconstruction_metrics(x: np.ndarray, x_hat: np.ndarray) -> dict:
    """Per-pixel BCE and MSE and mean PSNR of reconstructions ``x_hat`` of ``x``."""
    return {
        "bce": float(np.mean(_bce(x, x_hat))),
        "mse": float(np.mean(np.square(x - x_hat))),
        "psnr": psnr(x, x_hat),
    }


def linear_probe(z_train, y_train, z_test, y_test, seed: int = 0) -> float:
    """Test accuracy of a logistic regression on standardised codes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
    probe.fit(z_train, y_train)
    return float(probe.score(z_test, y_test))


def pca_probe(x_train, y_train, x_test, y_test, k: int, seed: int = 0) -> float:
    """:func:`linear_probe` on the first ``k`` principal components of the pixels."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=k, random_state=seed).fit(x_train.reshape(len(x_train), -1))
    return linear_probe(pca.transform(x_train.reshape(len(x_train), -1)), y_train,
                        pca.transform(x_test.reshape(len(x_test), -1)), y_test, seed)


def sparsity_metrics(codes: np.ndarray) -> dict:
    """Mean activation, near-zero fractions and per-unit means of a batch of codes."""
    a = np.abs(codes)
    unit_means = codes.mean(axis=0)
    return {
        "code_mean_activation": float(a.mean()),
        "fraction_below_0.05": float(np.mean(a < 0.05)),
        "fraction_below_1pct_of_max": float(np.mean(a < 0.01 * a.max())),
        "unit_mean_activation_min": float(unit_means.min()),
        "unit_mean_activation_max": float(unit_means.max()),
        "unit_mean_activations": [round(float(v), 5) for v in unit_means],
    }


def denoising_metrics(model: Autoencoder, x: np.ndarray, seed: int = 0, batch_size: int = 512) -> dict:
    """Corrupt ``x`` as in training (seeded) and score the reconstructions against clean ``x``."""
    config = {**model.corruption.get_config(), "seed": seed}
    corruption = type(model.corruption).from_config(config)
    noisy = np.concatenate([np.asarray(corruption(x[i:i + batch_size], training=True))
                            for i in range(0, len(x), batch_size)])
    denoised = model.predict(noisy, batch_size=batch_size, verbose=0)
    noisy_psnr, denoised_psnr = psnr(x, noisy), psnr(x, denoised)
    return {
        "noise": type(model.corruption).__name__,
        "denoise_bce": float(np.mean(_bce(x, denoised))),
        "noisy_psnr": noisy_psnr,
        "denoised_psnr": denoised_psnr,
        "psnr_gain": denoised_psnr - noisy_psnr,
    }


def vae_metrics(model: VAE, x: np.ndarray, seed: int = 0, batch_size: int = 512) -> dict:
    """Negative ELBO per image in nats (one posterior sample per image, seeded) and its parts."""
    z_mean, z_log_var = model.encode_distribution(x, batch_size=batch_size)
    eps = np.random.default_rng(seed).standard_normal(z_mean.shape).astype("float32")
    x_hat = model.decode(z_mean + np.exp(0.5 * z_log_var) * eps, batch_size=batch_size)
    rec = _bce(x, x_hat).reshape(len(x), -1).sum(axis=1)
    kl = 0.5 * np.sum(np.exp(z_log_var) + z_mean**2 - 1 - z_log_var, axis=1)
    return {"neg_elbo_nats": float(np.mean(rec + kl)), "reconstruction_nats": float(np.mean(rec)),
            "kl_nats": float(np.mean(kl))}


def is_sparse(model: Autoencoder) -> bool:
    return any(layer.name == "code_penalty" for layer in model.encoder.layers)


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
        A flat JSON-ready dict (see the module docstring for definitions).
    """
    if dataset.startswith("sample:"):
        x_test_u8, y_test = zdata.load_sample(dataset.split(":", 1)[1])
        probe = False
    else:
        x_test_u8, y_test = zdata.load_dataset(dataset, "test", data_dir, download)
    x_test = zdata.to_unit_range(x_test_u8)
    out: dict = {"dataset": dataset, "split": "test", "n_test": int(len(x_test))}
    out.update(reconstruction_metrics(x_test, model.predict(x_test, batch_size=batch_size, verbose=0)))
    codes = model.encode(x_test, batch_size=batch_size)
    out["code_mean_activation"] = float(np.mean(np.abs(codes)))
    if is_sparse(model):
        out.update(sparsity_metrics(codes))
    if model.corruption is not None:
        out.update(denoising_metrics(model, x_test, seed, batch_size))
    if isinstance(model, VAE):
        out.update(vae_metrics(model, x_test, seed, batch_size))
    if probe:
        x_train_u8, y_train = zdata.load_dataset(dataset, "train", data_dir, download)
        x_train = zdata.to_unit_range(x_train_u8)
        z_train = model.encode(x_train, batch_size=batch_size)
        out["probe_accuracy"] = linear_probe(z_train, y_train, codes, y_test, seed)
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
