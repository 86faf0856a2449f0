"""Importance-sampled NLL of the VAE-like pretrained entries on binarised test splits, written into their cards.

    KERAS_BACKEND=jax python -m benchmarks.pretrained.nll vae_dense.mnist iwae_dense.mnist --samples 5000 --write
    python -m benchmarks.pretrained.nll vae_conv.mnist --samples 200 --write     # conv decoders: fewer samples
    python -m benchmarks.pretrained.nll --table                                   # docs/generative.md's table

The protocol is :func:`zoo.evaluation.likelihood.binarized_nll`: the test split
binarised once with seed 0, K importance samples per image (seed 0). ``--write``
adds ``nll_*`` to the card's ``metrics`` (plus the command, backend and machine
in ``nll_command``/``nll_environment``); the metrics are not part of a card's
``config_sha256``, so the weights and their hashes stay as published.
"""

from __future__ import annotations

import argparse
import json
import sys

from zoo.evaluation.likelihood import DEFAULT_SAMPLES, dataset_nll
from zoo.pretrained import PRETRAINED_DIR, get_card, list_pretrained, load_pretrained
from zoo.utils.environment import environment

#: Published NLL figures on binarised MNIST that the table sets ours beside (nats, lower is better).
LITERATURE = [
    ("pythae VAE (benchmark_VAE README, MNIST)", "VAE, conv. encoder/decoder", "200", 89.78),
    ("Burda et al. 2016, table 1", "VAE, k = 1, 1 stochastic layer (200-200, 50 latent)", "5000", 86.76),
    ("Burda et al. 2016, table 1", "IWAE, k = 50, 1 stochastic layer", "5000", 84.78),
]


def vae_like(name: str) -> bool:
    """Whether a trained entry has a Gaussian posterior (its weights include a ``posterior``)."""
    card = get_card(name)
    return card.kind == "trained" and "posterior" in card.weights


def measure(name: str, samples: int, limit: int | None = None, data_dir=None, write: bool = False) -> dict:
    """The NLL metrics of ``name`` (written into its card with ``write``)."""
    card = get_card(name)
    metrics = dataset_nll(load_pretrained(name), card.dataset, samples, data_dir=data_dir, limit=limit)
    env = environment()
    metrics["nll_command"] = (f"KERAS_BACKEND={env['keras_backend']} python -m benchmarks.pretrained.nll {name} "
                              + f"--samples {samples}" + (f" --limit {limit}" if limit else "")
                              + f"  (or: aezoo evaluate {name} --no-probe --nll-samples {samples}"
                              + (f" --nll-limit {limit}" if limit else "") + ")")
    metrics["nll_environment"] = {"keras_backend": env["keras_backend"], "machine": env["machine"],
                                  "versions": env["versions"]}
    if write:
        path = PRETRAINED_DIR / f"{name}.json"
        data = json.loads(path.read_text())
        data["metrics"] = {k: v for k, v in data["metrics"].items() if not k.startswith("nll_")}
        data["metrics"].update(metrics)
        path.write_text(json.dumps(data, indent=2, default=list) + "\n")
    return metrics


def markdown_table() -> str:
    """Our entries' NLL (from the cards) beside the literature's figures."""
    lines = ["| model | training data | K | test images | NLL (nats) | −ELBO (nats) |", "|---|---|---|---|---|---|"]
    for name in list_pretrained(kind="trained"):
        m = get_card(name).metrics
        if "nll_nats" not in m:
            continue
        trained = ("dynamically binarised" if get_card(name).family_args.get("binarize")
                   else "grey levels (x / 255, BCE)")
        lines.append(f"| `{name}` | {get_card(name).dataset}, {trained} | {m['nll_samples']} | {m['nll_n']:,} | "
                     + f"**{m['nll_nats']:.2f}** ± {m['nll_stderr']:.2f} | {m['nll_elbo_nats']:.2f} |")
    for source, model, k, nll in LITERATURE:
        lines.append(f"| {source}: {model} | binarised MNIST | {k} | 10,000 | {nll:.2f} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", nargs="*", help="entry names (default: every VAE-like entry)")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="K importance samples per image")
    parser.add_argument("--limit", type=int, help="first N test images only")
    parser.add_argument("--data-dir")
    parser.add_argument("--write", action="store_true", help="write the metrics into the cards")
    parser.add_argument("--table", action="store_true", help="print the Markdown table from the cards")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table())
        return 0
    for name in args.entries or [n for n in list_pretrained(kind="trained") if vae_like(n)]:
        m = measure(name, args.samples, args.limit, args.data_dir, args.write)
        print(f"{name}: NLL {m['nll_nats']:.3f} ± {m['nll_stderr']:.3f} nats, -ELBO {m['nll_elbo_nats']:.3f} "
              + f"(K = {m['nll_samples']}, {m['nll_n']} images, {m['nll_seconds']} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
