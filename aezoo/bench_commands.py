"""``aezoo bench train|infer|peak [options]``: the benchmark scripts as ``aezoo`` subcommands.

Each script's own ``add_arguments`` builds its subcommand, so ``aezoo bench
train --help`` lists exactly the options of ``python -m
benchmarks.train_throughput``, and a bad option is a normal argparse error. One
default differs: ``--out`` is a new ``aezoo-bench-YYYYmmdd-HHMMSS/`` folder in the
current directory, so a run never overwrites the committed ``benchmarks/results``.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from pathlib import Path

#: Subcommand -> benchmark script module (each has ``add_arguments(parser)`` and ``run(args)``).
SCRIPTS = {"train": "benchmarks.train_throughput", "infer": "benchmarks.inference_throughput",
           "peak": "benchmarks.peak"}


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the chosen benchmark script on the parsed options."""
    return args.bench_run(args)


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``bench`` and its script subcommands to the ``aezoo`` parser.

    Args:
        sub: The ``aezoo`` parser's subparsers action.

    Returns:
        ``{"bench": cmd_bench}``.
    """
    out_folder = Path(f"aezoo-bench-{time.strftime('%Y%m%d-%H%M%S')}")
    bench = sub.add_parser("bench", help="run a benchmark script (train, infer or peak)",
                           description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    scripts = bench.add_subparsers(dest="script", required=True, metavar="{" + ",".join(SCRIPTS) + "}")
    for name, module_name in SCRIPTS.items():
        module = importlib.import_module(module_name)
        p = scripts.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0],
                               description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        # Results go to a new folder here, never into the committed benchmarks/results
        # (the scripts' own default, kept for regenerating the docs with python -m benchmarks.X).
        p.set_defaults(bench_run=module.run, out=str(out_folder / Path(p.get_default("out")).name))
    return {"bench": cmd_bench}
