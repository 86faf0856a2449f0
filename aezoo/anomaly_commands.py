"""``aezoo anomaly fit`` and ``aezoo anomaly score``: ``zoo.anomaly`` on the command line.

    aezoo anomaly fit ae_conv.mnist --normal my_normal.npy --out detectors/mine --fpr 0.01
    aezoo anomaly score detectors/mine --input new.npy --output scores.csv

Several models make an ensemble (``zoo.anomaly.DetectorEnsemble``: the mean of their
scores, each standardised on normal validation data), with one ``--score`` (and
``--error``) per model or one for all:

    aezoo anomaly fit ae_dense.mnist ae_conv.mnist --score reconstruction mahalanobis \
        --normal my_normal.npy --out detectors/pair

Data arguments take what training takes: ``mnist`` / ``fashion_mnist``, ``sample:NAME``
(the bundled 1k images), or a path (``.npy``, ``.npz``, ``.csv`` or an image folder);
``--normal-class`` keeps one label of labelled data. Splits are explicit: ``fit`` reads
the train split of ``--normal`` and ``score`` the test split of ``--input`` unless
``--split`` says otherwise (data without splits are read whole: ``all``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.anomaly import SCORES
from zoo.utils.atomic import save_array, write_text_atomic
from zoo.utils.cliargs import add_split_argument


def load_images(source: str, default: str, keep_class: int | None = None,
                shape: tuple[int, ...] | None = None, split: str | None = None) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Images in [0, 1], their labels (None for unlabelled data) and the split read: ``split``, else ``default``."""
    from zoo.data import datasets as data
    from zoo.data.images import image_read_options

    size, color = image_read_options(shape)
    loaded = data.data_spec_or_path(source).load(split, default=default, image_size=size, color=color)
    x, y = loaded.x, loaded.y
    if keep_class is not None:
        if y is None:
            raise ValueError("--normal-class needs a labelled dataset (mnist, fashion_mnist, sample:NAME). "
                             + f"Received: {source}")
        x, y = x[y == keep_class], y[y == keep_class]
    if len(x) == 0:
        raise ValueError(f"{source} holds no images" + (f" of class {keep_class}" if keep_class is not None else ""))
    return data.to_unit_range(x), y, loaded.split


def per_model(option: str, values: list[str], n_models: int) -> list[str]:
    """One value per model from ``--option``: one value for all models, or exactly one each."""
    if len(values) not in (1, n_models):
        raise ValueError(f"{option} takes one {option[2:]} for all {n_models} models or one per model. "
                         + f"Received {len(values)}: {' '.join(values)}")
    return values * n_models if len(values) == 1 else values


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a detector (one model) or an ensemble (several) on normal data, save it, and draw its pictures."""
    from zoo.anomaly import Detector, DetectorEnsemble
    from zoo.evaluation.plots import anomaly_grid, score_histogram
    from zoo.pretrained import load_target

    if args.fpr is not None and args.percentile is not None:
        raise ValueError("Choose one of --fpr and --percentile.")
    scores = per_model("--score", args.score, len(args.model))
    errors = per_model("--error", args.error, len(args.model))
    models = [load_target(name)[0] for name in args.model]
    shape = models[0].data_shape
    x, _, split = load_images(args.normal, "train", args.normal_class, shape, args.split)
    validation = load_images(args.validation, "test", args.normal_class, shape)[0] if args.validation else None
    members = [Detector(model, score=score, error=error, seed=args.seed)
               for model, score, error in zip(models, scores, errors, strict=True)]
    detector = members[0] if len(members) == 1 else DetectorEnsemble(members, seed=args.seed)
    detector.fit(x, validation, fpr=args.fpr, percentile=args.percentile)
    out = detector.save(args.out, overwrite=args.overwrite)
    normal_scores, maps = detector.score_with_maps(validation if validation is not None else x[:2000])
    what = " + ".join(f"{model.name}: {score}" for model, score in zip(models, scores, strict=True))
    score_histogram(normal_scores, None, detector.threshold, out / "scores.png", title=what)
    anomaly_grid(validation if validation is not None else x[:2000], maps, normal_scores,
                 out / "most_anomalous_normal.png", title="highest-scoring normal examples")
    s = detector.statistics
    kind = f"a {scores[0]} detector" if len(members) == 1 else f"an ensemble of {len(members)} detectors ({what})"
    print(f"fitted {kind} on {s['n_normal']} normal examples ({split} split of {args.normal}); threshold {detector.threshold:.6g} "
          + f"({detector.threshold_method}); false-positive rate on {s['n_validation']} normal validation "
          + f"examples {100 * s['validation_false_positive_rate']:.2f}%; wrote {out}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score inputs with a saved detector or ensemble; write a CSV (and maps / pictures if asked)."""
    from zoo.anomaly import load_detector
    from zoo.evaluation.plots import anomaly_grid, roc_plot, score_histogram

    detector = load_detector(args.detector)
    x, y, split = load_images(args.input, "test", None, detector.data_shape, args.split)
    scores, maps = detector.score_with_maps(x)
    flags = (scores > detector.threshold).astype(int)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = ["index,score,anomaly" + (",label" if y is not None else "")]
    lines += [f"{i},{s:.8g},{f}" + (f",{int(y[i])}" if y is not None else "")
              for i, (s, f) in enumerate(zip(scores, flags, strict=True))]
    write_text_atomic(out, "\n".join(lines) + "\n")
    if args.maps:
        save_array(args.maps, maps)
    if args.pictures:
        folder = Path(args.pictures)
        folder.mkdir(parents=True, exist_ok=True)
        anomaly_grid(x, maps, scores, folder / "most_anomalous.png", title="most anomalous inputs")
        if y is not None and args.normal_class is not None:
            labels = (y != args.normal_class).astype(int)
            score_histogram(scores[labels == 0], scores[labels == 1], detector.threshold, folder / "scores.png")
            if len(np.unique(labels)) == 2:
                roc_plot(labels, scores, folder / "roc.png")
    print(f"scored {len(x)} inputs ({split} split of {args.input}): {int(flags.sum())} above the threshold {detector.threshold:.6g}; wrote {out}")
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``anomaly fit`` and ``anomaly score`` to the ``aezoo`` parser."""
    p = sub.add_parser("anomaly", help="anomaly detection: fit a detector on normal data, score new data",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="anomaly_command", required=True)
    f = commands.add_parser("fit", help="fit and save a detector (one model) or an ensemble (several)")
    f.add_argument("model", nargs="+", help="pretrained name, .keras file or run folder; several make an ensemble")
    f.add_argument("--normal", required=True, help="normal data (dataset, sample:NAME or a path)")
    f.add_argument("--normal-class", type=int, help="keep only this label of a known dataset")
    add_split_argument(f, "train", "--normal")
    f.add_argument("--validation", help="normal validation data for the threshold (default: 20%% held out)")
    f.add_argument("--score", nargs="+", choices=SCORES, default=["reconstruction"],
                   help="one score for all models or one per model (default reconstruction)")
    f.add_argument("--error", nargs="+", choices=["mse", "bce"], default=["mse"],
                   help="per-pixel error of reconstruction scores, whatever the model's loss (default mse); "
                   + "one for all models or one per model")
    f.add_argument("--fpr", type=float, help="target false-positive rate, e.g. 0.01")
    f.add_argument("--percentile", type=float, help="threshold percentile of normal scores (default 99)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--out", required=True, help="detector folder to write")
    f.add_argument("--overwrite", action="store_true")
    s = commands.add_parser("score", help="score inputs with a saved detector")
    s.add_argument("detector", help="detector or ensemble folder written by `aezoo anomaly fit`")
    s.add_argument("--input", required=True, help="data to score (dataset test split, sample:NAME or a path)")
    s.add_argument("--output", required=True, help="CSV of index, score, anomaly (and label)")
    s.add_argument("--maps", help="also save the per-pixel error maps (.npy)")
    s.add_argument("--pictures", help="folder for the most-anomalous grid (and histograms/ROC with labels)")
    s.add_argument("--normal-class", type=int, help="with labelled input: the normal class, for histograms and ROC")
    add_split_argument(s, "test", "--input")

    def run(args: argparse.Namespace) -> int:
        return {"fit": cmd_fit, "score": cmd_score}[args.anomaly_command](args)

    return {"anomaly": run}

