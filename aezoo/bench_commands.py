"""``aezoo bench train|infer|peak [options]``: the benchmark scripts through the ``aezoo`` command."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

SCRIPTS = {"train": "benchmarks.train_throughput", "infer": "benchmarks.inference_throughput",
           "peak": "benchmarks.peak"}


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the chosen benchmark script's ``main`` with the remaining options."""
    return importlib.import_module(SCRIPTS[args.script]).main(args.options, prog=f"aezoo bench {args.script}")


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``bench`` to the ``aezoo`` parser."""
    p = sub.add_parser("bench", help="run a benchmark script (train, infer or peak); --help after it for options",
                       add_help=False)
    p.add_argument("script", choices=list(SCRIPTS))
    p.add_argument("options", nargs=argparse.REMAINDER, help="options of the script")
    return {"bench": cmd_bench}
