"""The one-class anomaly benchmark of Ruff et al. (Deep SVDD, ICML 2018) on MNIST and Fashion-MNIST.

    python -m benchmarks.anomaly --datasets mnist fashion_mnist --families ae_dense ae_conv denoising_conv vae_conv

For each class c of each dataset: train on the training images of class c only,
score the full test split with c as normal and the other nine classes as
anomalies, and report AUROC and AUPRC (anomaly = positive) per class and the
mean. Every aezoo family is scored with each applicable ``zoo.anomaly`` score
(reconstruction, Mahalanobis, combined; ELBO for VAEs); a detector calibrated
for a 1% false-positive rate on a seeded tenth of the class's training images,
kept out of training, is also checked on the test split's normal images. In the same run, scikit-learn
baselines on the same splits: PCA reconstruction error, IsolationForest,
one-class SVM (RBF) and a Gaussian KDE on PCA features.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks import results_io
from zoo.utils.cliargs import positive_int, script_main

FAMILIES = ("ae_dense", "ae_conv", "denoising_conv", "vae_conv")
BASELINES = ("pca_reconstruction", "isolation_forest", "ocsvm_rbf", "kde_pca")
RESULTS = results_io.RESULTS / "anomaly"


def baseline_scores(name: str, x_train: np.ndarray, x_test: np.ndarray, seed: int = 0,
                    components: int = 32) -> np.ndarray:
    """Anomaly scores (higher = more anomalous) of one scikit-learn baseline fitted on normal ``x_train``."""
    from sklearn.decomposition import PCA

    a, b = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    if name == "pca_reconstruction":
        pca = PCA(components, random_state=seed).fit(a)
        return np.mean((b - pca.inverse_transform(pca.transform(b))) ** 2, axis=1)
    if name == "isolation_forest":
        from sklearn.ensemble import IsolationForest

        return -IsolationForest(n_estimators=100, random_state=seed).fit(a).score_samples(b)
    if name == "ocsvm_rbf":
        from sklearn.svm import OneClassSVM

        return -OneClassSVM(kernel="rbf", gamma="scale", nu=0.1).fit(a).score_samples(b)
    if name == "kde_pca":
        from sklearn.neighbors import KernelDensity

        pca = PCA(components, whiten=True, random_state=seed).fit(a)
        fa, fb = pca.transform(a), pca.transform(b)
        bandwidth = len(fa) ** (-1.0 / (components + 4))  # Scott's rule on whitened features
        return -KernelDensity(bandwidth=bandwidth).fit(fa).score_samples(fb)
    raise ValueError(f"Unknown baseline {name!r}; choose from {BASELINES}.")


def train_family(family: str, x_train: np.ndarray, epochs: int, seed: int, batch_size: int = 128):
    """A registered model trained on normal images through aezoo's default path."""
    import keras

    import zoo
    from zoo.data.pipeline import make_pipeline
    from zoo.training.run import compile_options

    keras.utils.set_random_seed(seed)
    kwargs = {"seed": seed} if "seed" in zoo.families.builder_arguments(family) else {}
    model = zoo.create_model(family, input_shape=x_train.shape[1:], **kwargs)
    model.compile(keras.optimizers.Adam(1e-3), **compile_options(model))
    model.fit(make_pipeline(x_train, batch_size, seed=seed), epochs=epochs, verbose=0, shuffle=False)
    return model


def aezoo_rows(model, family: str, x_normal: np.ndarray, x_test: np.ndarray, y_anomaly: np.ndarray,
               normal_test: np.ndarray, seed: int, x_calibration: np.ndarray | None = None,
               scores_out: dict | None = None) -> list[dict]:
    """One row per score of a trained model: AUROC, AUPRC, and the 1%-FPR detector's measured FPR.

    ``scores_out``, if given, receives ``{method: (test scores, calibration scores)}`` for ensembles.

    ``x_calibration``: normal images the model did not train on, for the threshold (scores of
    training images are lower than those of unseen normal images, so a threshold set on them
    gives too many false positives).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    from zoo.anomaly import Detector

    variants = [("reconstruction", "bce"), ("reconstruction", "mse"), ("mahalanobis", None), ("combined", "mse")]
    if hasattr(model, "encode_distribution"):
        variants.append(("elbo", None))
    rows = []
    for score, error in variants:
        detector = Detector(model, score=score, error=error, seed=seed).fit(x_normal, x_calibration, fpr=0.01)
        s = detector.score_samples(x_test)
        label = f"{family}/{score}" + (f"({error})" if error else "")
        if scores_out is not None and x_calibration is not None:
            scores_out[label] = (s, detector.score_samples(x_calibration))
        rows.append({"method": label, "auroc": roc_auc_score(y_anomaly, s),
                     "auprc": average_precision_score(y_anomaly, s),
                     "fpr_at_1pct": float(np.mean(s[normal_test] > detector.threshold))})
    return rows


#: Cross-family ensembles scored by default: members as ``family/score``, joined by ``+``.
DEFAULT_ENSEMBLES = ("ae_dense/reconstruction(mse)+ae_conv/mahalanobis",)


def ensemble_members(scores: dict, families: list[str], declared: list[str]) -> dict[str, list[str]]:
    """The ensembles to score: every score kind over all families that have it, then each declared one.

    Returns:
        ``{row name: [member keys of scores]}``; ensembles with a missing member or fewer than two are left out.
    """
    out = {}
    for kind in sorted({m.split("/", 1)[1] for m in scores}):
        members = [f"{f}/{kind}" for f in families if f"{f}/{kind}" in scores]
        if len(members) >= 2:
            out[f"ensemble/{kind}"] = members
    for spec in declared:
        members = spec.split("+")
        if len(members) >= 2 and all(m in scores for m in members):
            out["ensemble/" + "+".join(m.replace("/", ":") for m in members)] = members
    return out


def ensemble_rows(scores: dict, families: list[str], y_anomaly: np.ndarray, normal_test: np.ndarray,
                  declared: list[str] = ()) -> list[dict]:
    """Rows for the mean, over members, of each score standardised on the calibration images.

    A member's test scores become ``(s - mean_cal) / std_cal`` (its calibration images are normal
    and unseen in training), so every member weighs the same (what :class:`zoo.anomaly.DetectorEnsemble`
    does with its validation data); the 1%-FPR threshold is the 99th percentile of the ensemble's
    calibration scores. See :func:`ensemble_members` for which ensembles.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    rows = []
    for name, members in ensemble_members(scores, families, list(declared)).items():
        test, cal = np.zeros_like(y_anomaly, dtype=float), 0.0
        for key in members:
            s, c = scores[key]
            spread = max(float(np.std(c)), 1e-3 * abs(float(np.mean(c))), 1e-12)  # as DetectorEnsemble
            test, cal = test + (s - np.mean(c)) / spread, cal + (c - np.mean(c)) / spread
        test, cal = test / len(members), cal / len(members)
        rows.append({"method": name, "auroc": roc_auc_score(y_anomaly, test),
                     "auprc": average_precision_score(y_anomaly, test),
                     "fpr_at_1pct": float(np.mean(test[normal_test] > np.quantile(cal, 0.99)))})
    return rows


def rescore(args: argparse.Namespace) -> int:
    """Recompute the ensemble rows of an earlier ``--save-scores`` run from its per-example scores."""
    source = Path(args.rescore)
    record = results_io.read_json(source / "anomaly.json")
    rows = [r for r in record["rows"] if not r["method"].startswith("ensemble/")]
    for path in sorted(source.glob("scores_*.npz")):
        with np.load(path) as f:
            keys = sorted({k.split("|")[0] for k in f.files if "|" in k})
            scores = {k: (f[k + "|test"], f[k + "|calibration"]) for k in keys}
            y_test = f["y_test"]
        dataset, c = path.stem[len("scores_"):].rsplit("_", 1)
        families = list(dict.fromkeys(k.split("/")[0] for k in keys))
        y_anomaly = (y_test != int(c)).astype(int)
        base = next(r for r in rows if r["dataset"] == dataset and r["normal_class"] == int(c))
        for row in ensemble_rows(scores, families, y_anomaly, y_anomaly == 0, args.ensembles):
            rows.append({"dataset": dataset, "normal_class": int(c), "n_train": base["n_train"], **row,
                         "seconds": 0.0})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.argv = record["command"].split()[3:] + ["# ensembles rescored:", *args.argv]
    _write(rows, out, args, environment=record["environment"])
    print(summary_table(rows))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write ``OUT/anomaly.{csv,json,md,png}``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from zoo.data import datasets as zdata

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    start = time.perf_counter()
    for dataset in args.datasets:
        x_train_all, y_train_all = zdata.load_dataset(dataset, "train", data_dir=args.data_dir)
        x_test_u8, y_test = zdata.load_dataset(dataset, "test", data_dir=args.data_dir)
        x_test = zdata.to_unit_range(x_test_u8)
        for c in args.classes:
            x_class = x_train_all[y_train_all == c]
            # A seeded tenth of the class is kept from training: it calibrates the thresholds.
            order = np.random.default_rng(args.seed).permutation(len(x_class))
            n_cal = len(x_class) // 10
            x_calibration = zdata.to_unit_range(x_class[order[:n_cal]])
            x_normal = x_class[order[n_cal:]][: args.max_train]
            y_anomaly = (y_test != c).astype(int)
            base = {"dataset": dataset, "normal_class": c, "n_train": len(x_normal)}
            for name in args.baselines:
                t0 = time.perf_counter()
                s = baseline_scores(name, zdata.to_unit_range(x_normal), x_test, args.seed)
                rows.append({**base, "method": name, "auroc": roc_auc_score(y_anomaly, s),
                             "auprc": average_precision_score(y_anomaly, s), "fpr_at_1pct": None,
                             "seconds": time.perf_counter() - t0})
                _log(rows[-1], start)
            scores: dict = {}
            for family in args.families:
                t0 = time.perf_counter()
                model = train_family(family, x_normal, args.epochs.get(family, args.default_epochs), args.seed)
                for row in aezoo_rows(model, family, zdata.to_unit_range(x_normal), x_test, y_anomaly,
                                      y_anomaly == 0, args.seed, x_calibration, scores):
                    rows.append({**base, **row, "seconds": time.perf_counter() - t0})
                    _log(rows[-1], start)
            for row in ensemble_rows(scores, args.families, y_anomaly, y_anomaly == 0, args.ensembles):
                rows.append({**base, **row, "seconds": 0.0})
                _log(rows[-1], start)
            if args.save_scores:
                np.savez_compressed(out / f"scores_{dataset}_{c}.npz", y_test=y_test,
                                    **{f"{k}|test": v[0] for k, v in scores.items()},
                                    **{f"{k}|calibration": v[1] for k, v in scores.items()})
            _write(rows, out, args)
    _write(rows, out, args)
    print(summary_table(rows))
    return 0


def _log(row: dict, start: float) -> None:
    print(f"[{time.perf_counter() - start:7.0f}s] {row['dataset']} class {row['normal_class']} {row['method']:<32} "
          + f"AUROC {row['auroc']:.4f}", flush=True)


def summary_table(rows: list[dict]) -> str:
    """Markdown: per method and dataset, the AUROC of each class and the mean."""
    lines = []
    for dataset in sorted({r["dataset"] for r in rows}):
        subset = [r for r in rows if r["dataset"] == dataset]
        classes = sorted({r["normal_class"] for r in subset})
        lines += [f"**{dataset}** (AUROC, normal class in the columns)", "",
                  "| method | " + " | ".join(map(str, classes)) + " | mean | mean AUPRC | FPR @1% target |",
                  "|---|" + "---|" * (len(classes) + 3)]
        methods = sorted({r["method"] for r in subset},
                         key=lambda m: -np.mean([r["auroc"] for r in subset if r["method"] == m]))
        for m in methods:
            by_class = {r["normal_class"]: r for r in subset if r["method"] == m}
            fprs = [r["fpr_at_1pct"] for r in by_class.values() if r["fpr_at_1pct"] is not None]
            fpr = f"{100 * np.mean(fprs):.2f}% ({100 * min(fprs):.1f}-{100 * max(fprs):.1f})" if fprs else "-"
            lines.append(f"| {m} | " + " | ".join(f"{by_class[c]['auroc']:.3f}" if c in by_class else "-"
                                                  for c in classes)
                         + f" | **{np.mean([r['auroc'] for r in by_class.values()]):.4f}** | "
                         + f"{np.mean([r['auprc'] for r in by_class.values()]):.4f} | {fpr} |")
        lines.append("")
    return "\n".join(lines)


def _mean_auroc(rows: list[dict], method: str) -> float:
    return float(np.mean([r["auroc"] for r in rows if r["method"] == method]))


def plot_summary(rows: list[dict], path: Path) -> Path:
    """Per-class AUROC, one panel per dataset: the best aezoo detector (by mean) against every baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        subset = [r for r in rows if r["dataset"] == dataset]
        ours = sorted({r["method"] for r in subset if "/" in r["method"]}, key=lambda m: -_mean_auroc(subset, m))
        methods = ours[:1] + sorted({r["method"] for r in subset if "/" not in r["method"]})
        classes = sorted({r["normal_class"] for r in subset})
        width = 0.8 / max(len(methods), 1)
        for i, m in enumerate(methods):
            by_class = {r["normal_class"]: r["auroc"] for r in subset if r["method"] == m}
            ax.bar(np.arange(len(classes)) + i * width, [by_class.get(c, np.nan) for c in classes], width,
                   label=f"{m} ({_mean_auroc(subset, m):.3f})")
        ax.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, [str(c) for c in classes])
        ax.set_ylim(0.5, 1.0)
        ax.set_xlabel("normal class")
        ax.set_ylabel("AUROC")
        ax.set_title(f"{dataset}: one-class AUROC (mean in legend)")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _write(rows: list[dict], out: Path, args: argparse.Namespace, environment: dict | None = None) -> None:
    from zoo.utils.environment import environment as current

    record = {"command": "python -m benchmarks.anomaly " + " ".join(args.argv),
              "environment": environment or current(), "rows": rows}
    results_io.write_json(record, out / "anomaly.json", indent=1, default=float)
    keys = ["dataset", "normal_class", "n_train", "method", "auroc", "auprc", "fpr_at_1pct", "seconds"]
    results_io.write_csv(rows, out / "anomaly.csv", keys, extra="ignore", lineterminator="\n")
    (out / "anomaly.md").write_text(summary_table(rows) + "\n")
    plot_summary(rows, out / "anomaly.png")


def _epochs(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items or []:
        family, _, n = item.partition("=")
        out[family] = positive_int(n)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options."""
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    parser.add_argument("--classes", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--baselines", nargs="+", default=list(BASELINES), choices=BASELINES)
    parser.add_argument("--default-epochs", type=positive_int, default=20)
    parser.add_argument("--epochs", nargs="*", default=[], metavar="FAMILY=N", help="per-family epochs")
    parser.add_argument("--max-train", type=positive_int, default=10_000, help="cap on normal training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default=str(RESULTS), help="output folder")
    parser.add_argument("--ensembles", nargs="*", default=list(DEFAULT_ENSEMBLES), metavar="FAMILY/SCORE+...",
                        help="cross-family ensembles to score, besides one per score kind over all families")
    parser.add_argument("--rescore", metavar="DIR",
                        help="only recompute the ensemble rows of a --save-scores run in DIR (written to --out)")
    parser.add_argument("--save-scores", action="store_true",
                        help="also write every detector's per-example scores (OUT/scores_DATASET_CLASS.npz)")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    import sys

    argv = sys.argv[1:] if argv is None else argv

    def _run(args: argparse.Namespace) -> int:
        args.argv, args.epochs = argv, _epochs(args.epochs)
        return rescore(args) if args.rescore else run(args)

    return script_main(add_arguments, _run, argv, prog="python -m benchmarks.anomaly", doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
