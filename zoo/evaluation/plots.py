"""Pictures of a model's behaviour: reconstruction grids and latent scatters (matplotlib)."""

from __future__ import annotations

import os

import numpy as np

from zoo.models.autoencoder import Autoencoder
from zoo.utils.atomic import save_figure


def _figure(rows: int, cols: int, scale: float = 1.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=(cols * scale, rows * scale), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return plt, fig, axes


def _save(plt, fig, path: str | os.PathLike) -> str:
    fig.tight_layout()
    save_figure(fig, path, dpi=80)
    plt.close(fig)
    return str(path)


def reconstruction_grid(model: Autoencoder, x: np.ndarray, path: str | os.PathLike, n: int = 10,
                        title: str | None = None, seed: int = 0, extra_rows: dict | None = None) -> str:
    """Save a PNG: originals on top, reconstructions below (denoising: noisy input in between).

    Args:
        model: A trained autoencoder taking images in [0, 1].
        x: Images ``(m, h, w, c)`` in [0, 1]; the first ``n`` are shown.
        path: Output PNG path.
        n: Number of columns.
        title: Figure title.
        seed: Seed of the corruption shown for denoising models.
        extra_rows: More labelled rows of ``n`` images to show below, e.g. an
            exported model's reconstructions.

    Returns:
        The path written.
    """
    x = x[:n]
    rows = [("original", x)]
    noisy = model.corrupt(x, seed=seed)
    if noisy is not None:
        rows += [("noisy", noisy), ("denoised", model.predict(noisy, verbose=0))]
    else:
        rows.append(("reconstruction", model.predict(x, verbose=0)))
    rows += [(label, np.asarray(images)[:n]) for label, images in (extra_rows or {}).items()]
    plt, fig, axes = _figure(len(rows), n)
    for r, (label, images) in enumerate(rows):
        for c in range(len(x)):
            axes[r, c].imshow(np.squeeze(images[c]), cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_title(label, fontsize=7, loc="left")
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)


def latent_scatter(model: Autoencoder, x: np.ndarray, y: np.ndarray, path: str | os.PathLike,
                   title: str | None = None) -> str:
    """Save a PNG scatter of the codes' first two principal components, coloured by label."""
    from sklearn.decomposition import PCA

    z = model.encode(x).reshape(len(x), -1)
    z2 = z if z.shape[1] == 2 else PCA(n_components=2, random_state=0).fit_transform(z)
    plt, fig, axes = _figure(1, 1, scale=5.0)
    ax = axes[0, 0]
    ax.axis("on")
    points = ax.scatter(z2[:, 0], z2[:, 1], c=y, cmap="tab10", s=3, alpha=0.7)
    fig.colorbar(points, ax=ax, label="class")
    ax.set_xlabel("code PC 1" if z.shape[1] != 2 else "z 1")
    ax.set_ylabel("code PC 2" if z.shape[1] != 2 else "z 2")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)


def score_histogram(normal: np.ndarray, anomalous: np.ndarray | None, threshold: float,
                    path: str | os.PathLike, title: str | None = None) -> str:
    """Save a PNG: histograms of normal (and anomalous) anomaly scores with the threshold marked."""
    plt, fig, axes = _figure(1, 1, scale=5.0)
    ax = axes[0, 0]
    ax.axis("on")
    pooled = np.concatenate([normal] + ([anomalous] if anomalous is not None else []))
    bins = np.linspace(np.min(pooled), np.max(pooled), 60)
    ax.hist(normal, bins=bins, alpha=0.6, density=True, label=f"normal ({len(normal)})")
    if anomalous is not None:
        ax.hist(anomalous, bins=bins, alpha=0.6, density=True, label=f"anomalous ({len(anomalous)})")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel("anomaly score")
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)


def roc_plot(labels: np.ndarray, scores: np.ndarray, path: str | os.PathLike, title: str | None = None) -> str:
    """Save a PNG of the ROC curve (anomaly = positive) with its AUROC."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    plt, fig, axes = _figure(1, 1, scale=4.5)
    ax = axes[0, 0]
    ax.axis("on")
    ax.plot(fpr, tpr, label=f"AUROC {roc_auc_score(labels, scores):.4f}")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    return _save(plt, fig, path)


def anomaly_grid(x: np.ndarray, maps: np.ndarray, scores: np.ndarray, path: str | os.PathLike, n: int = 10,
                 title: str | None = None) -> str:
    """Save a PNG of the ``n`` most anomalous inputs (top row) and their per-pixel error maps (bottom)."""
    top = np.argsort(-scores)[:n]
    plt, fig, axes = _figure(2, len(top))
    for c, i in enumerate(top):
        axes[0, c].imshow(np.squeeze(x[i]), cmap="gray", vmin=0, vmax=1)
        axes[0, c].set_title(f"score {scores[i]:.3g}", fontsize=6)
        axes[1, c].imshow(np.squeeze(maps[i]), cmap="inferno")
    axes[1, 0].set_title("error maps", fontsize=6, loc="left")
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(plt, fig, path)
