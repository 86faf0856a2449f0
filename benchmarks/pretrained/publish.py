"""Turn finished training runs into pretrained entries: weights per part, evaluation, card, picture.

    python -m benchmarks.pretrained.publish NAME=RUN_DIR [NAME=RUN_DIR ...] [--note-file published.json]

For each entry it saves ``NAME.<part>.weights.h5`` beside this module, checks
that they reload to identical outputs, evaluates on the full test split
(``zoo.evaluation.evaluate``), evaluates the bundled 1k sample (for a fast test), draws the
reconstruction grid into ``docs/images/`` and writes ``NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from zoo.data import datasets as zdata
from zoo.evaluation.evaluate import evaluate
from zoo.evaluation.plots import latent_scatter, reconstruction_grid
from zoo.pretrained import PRETRAINED_DIR, Card, build_from_card, config_sha256, sha256, verify_file
from zoo.utils.environment import environment

DOCS = Path(__file__).resolve().parents[2] / "docs" / "images"


def publish(name: str, run_dir: str | Path, note: str = "", data_dir=None) -> Card:
    """Publish the run in ``run_dir`` as pretrained entry ``name`` and return its card."""
    run_dir = Path(run_dir)
    run = json.loads((run_dir / "card.json").read_text())
    dataset = run["dataset"]
    info = zdata.dataset_info(dataset)
    draft = Card(
        name=name, model=run["model"], dataset=dataset, split="train (60,000) / test (10,000)",
        preprocessing=run["preprocessing"], input_shape=tuple(run["input_shape"]),
        latent_dim=run["latent_dim"], family_args=run["family_args"], weights={}, training=run["training"],
        metrics={}, sample_metrics={}, licence=info.licence, citation=info.citation, notes=note,
        evaluate_command=f"aezoo evaluate {name} --dataset {dataset}",
    )
    model = build_from_card(draft, verify=False)  # the draft's hash is written below
    model.load_weights(run_dir / "model.weights.h5")
    weights = {}
    for part, component in model.components.items():
        path = PRETRAINED_DIR / f"{name}.{part}.weights.h5"
        component.save_weights(path)
        weights[part] = {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size}

    x_sample, y_sample = zdata.load_sample(dataset)
    x_sample = zdata.to_unit_range(x_sample)
    reloaded = build_from_card(draft, verify=False)
    for part, w in weights.items():
        reloaded.components[part].load_weights(verify_file(PRETRAINED_DIR / w["file"], w["sha256"]))
    np.testing.assert_array_equal(reloaded.predict(x_sample, verbose=0), model.predict(x_sample, verbose=0))

    metrics = evaluate(model, dataset, data_dir=data_dir, probe=True)
    sample_metrics = evaluate(model, f"sample:{dataset}", probe=False)
    sample_metrics.pop("unit_mean_activations", None)
    DOCS.mkdir(parents=True, exist_ok=True)
    pictures = {"reconstructions": str(Path("docs/images") / f"{name}.png")}
    reconstruction_grid(model, x_sample, DOCS / f"{name}.png", title=f"{name}  (test images)")
    if model.latent_dim >= 2:
        pictures["latent"] = str(Path("docs/images") / f"{name}.latent.png")
        latent_scatter(model, x_sample, y_sample, DOCS / f"{name}.latent.png",
                       title=f"{name}: codes of 1,000 test images (PCA of the code)")
    card = Card(**{**draft.__dict__, "weights": weights, "metrics": metrics, "sample_metrics": sample_metrics,
                   "extra": {"pictures": pictures, "evaluation_environment": environment()}})
    card.extra["config_sha256"] = config_sha256(card.to_dict())
    (PRETRAINED_DIR / f"{name}.json").write_text(json.dumps(card.to_dict(), indent=2, default=list) + "\n")
    return card


def markdown_table() -> str:
    """The table of trained entries in docs/zoo.md, from the cards."""
    from zoo.pretrained import get_card, list_pretrained

    head = ("| entry | latent | test BCE | PSNR dB | probe acc. (PCA, same k) | family metric | weights |\n"
            + "|---|---|---|---|---|---|---|")
    lines = [head]
    for name in list_pretrained(kind="trained"):  # ported entries have photo metrics: docs/tae.md
        c = get_card(name)
        m = c.metrics
        extra = build_from_card(c).summarize_metrics(m)
        size = sum(w["bytes"] for w in c.weights.values()) / 1e6
        lines.append(f"| `{name}` | {c.latent_dim} | {m['bce']:.4f} | {m['psnr']:.1f} | "
                     + f"{m['probe_accuracy']:.4f} ({m['pca_probe_accuracy']:.4f}) | {extra} | {size:.1f} MB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", nargs="*", help="NAME=RUN_DIR or NAME (run taken from --selection)")
    parser.add_argument("--selection", help="JSON {name: {run: RUN_DIR, note: TEXT}}")
    parser.add_argument("--data-dir")
    parser.add_argument("--table", action="store_true", help="print the table of trained entries (docs/zoo.md)")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table())
        return 0
    selection = json.loads(Path(args.selection).read_text()) if args.selection else {}
    todo = {} if args.entries else dict(selection)
    for item in args.entries:  # NAME=RUN_DIR, or NAME alone to take its run from the selection
        name, _, run = item.partition("=")
        todo[name] = {"run": run or selection[name]["run"], "note": selection.get(name, {}).get("note", "")}
    for name, spec in todo.items():
        card = publish(name, spec["run"], spec.get("note", ""), args.data_dir)
        shown = {k: round(v, 4) for k, v in card.metrics.items() if isinstance(v, float)}
        print(f"published {name}: {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
