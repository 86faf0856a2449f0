"""The pictures of docs/generative.md: sample grids, interpolation strips and a 2-D latent map.

    python -m benchmarks.pretrained.generative_pictures [ENTRY ...] [--latent-map RUN_DIR_OR_KERAS]

Each VAE-like entry (default: all) gets ``docs/images/generative/NAME.samples.png``
(64 prior samples, seed 0), ``NAME.linear.png`` and ``NAME.slerp.png`` (four walks
between test images of the bundled 1k sample each). ``--latent-map`` draws the decoder of
a model with a 2-D code over its prior (``latent_map.png``) beside its test codes
(``latent_codes.png``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from zoo.data import datasets as zdata
from zoo.evaluation.generate import interpolation_strip, latent_map, sample_grid
from zoo.evaluation.plots import latent_scatter
from zoo.pretrained import get_card, list_pretrained, load_pretrained, load_target

OUT = Path(__file__).resolve().parents[2] / "docs" / "images" / "generative"
#: Test images (indices into the bundled sample) that start and end the walks.
PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))


def entry_pictures(name: str, out: Path = OUT) -> list[str]:
    """Sample grid and walks of one entry."""
    model, card = load_pretrained(name), get_card(name)
    x, _ = zdata.load_sample(card.dataset)
    a, b = x[[p[0] for p in PAIRS]], x[[p[1] for p in PAIRS]]
    written = [sample_grid(model, out / f"{name}.samples.png", n=64, seed=0, title=f"{name}: 64 samples, seed 0")]
    for walk in ("linear", "slerp"):
        written.append(interpolation_strip(model, a, b, out / f"{name}.{walk}.png", steps=8, walk=walk,
                                           title=f"{name}: {walk} walks between test images"))
    return written


def map_pictures(target: str, out: Path = OUT) -> list[str]:
    """The decoder over a 2-D code space, and the test codes of the bundled sample."""
    model, _ = load_target(target)
    x, y = zdata.load_sample("mnist")
    return [latent_map(model, out / "latent_map.png", n=15, title="2-D VAE: decoder over the prior's central 90%"),
            latent_scatter(model, zdata.to_unit_range(x), np.asarray(y), out / "latent_codes.png",
                           title="2-D VAE: posterior means of 1,000 test images")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", nargs="*", help="entries (default: every VAE-like entry)")
    parser.add_argument("--latent-map", help="a model with a 2-D code: run folder, .keras file or entry")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.entries or [n for n in list_pretrained(kind="trained") if "posterior" in get_card(n).weights]
    for name in names:
        print("\n".join(entry_pictures(name, out)), flush=True)
    if args.latent_map:
        print("\n".join(map_pictures(args.latent_map, out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
