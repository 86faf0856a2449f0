"""Argument parsing shared by every command line: the ``aezoo`` app, the benchmark and zoo scripts.

One style everywhere: a script defines ``add_arguments(parser)`` and
``run(args) -> int``; :func:`script_main` turns the pair into ``main(argv)``,
and the ``aezoo`` app mounts the same pair as a subcommand, so both entry
points take exactly the same options.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable, Sequence

#: What parsed arguments look like to a command: ``run(args) -> exit code``.
Runner = Callable[[argparse.Namespace], int]


def parse_assignments(items: Sequence[str] | None) -> dict:
    """Turn ``["rho=0.1", "noise=masking"]`` into ``{"rho": 0.1, "noise": "masking"}``.

    Values are Python literals where they parse as one, strings otherwise.
    """
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE. Received: {item!r}")
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def shape(text: str) -> tuple[int, ...]:
    """``argparse`` type for a per-example shape such as ``28,28,1`` or ``28x28x1``."""
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(",") if v)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a shape like 28,28,1. Received: {text!r}") from err
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected a shape of sizes >= 1 like 28,28,1. Received: {text!r}")
    return dims


def _number(text: str, cast, ok, expected: str):
    """``cast(text)`` if it converts and ``ok`` holds, else the ``argparse`` error naming what was expected."""
    try:
        value = cast(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected {expected}. Received: {text!r}") from err
    if not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}. Received: {text!r}")
    return value


def positive_int(text: str) -> int:
    """``argparse`` type for an integer >= 1."""
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def positive_float(text: str) -> float:
    """``argparse`` type for a finite number > 0 (a learning rate)."""
    return _number(text, float, lambda v: 0 < v < float("inf"), "a finite number > 0")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of commands that build a model from the registry."""
    parser.add_argument("--input-shape", type=shape, help="per-example shape, e.g. 28,28,1")
    parser.add_argument("--latent-dim", type=positive_int, help="size of the code")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="family argument, e.g. --set rho=0.05 (repeatable)")


def model_kwargs(args: argparse.Namespace) -> dict:
    """The builder keyword arguments given by :func:`add_model_arguments`' options."""
    kwargs = parse_assignments(args.set)
    if getattr(args, "input_shape", None) is not None:
        kwargs["input_shape"] = args.input_shape
    if getattr(args, "latent_dim", None) is not None:
        kwargs["latent_dim"] = args.latent_dim
    return kwargs


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Where datasets are looked for."""
    parser.add_argument("--data-dir", help="folder with mnist.npz / fashion_mnist.npz (or set AEZOO_DATA_DIR)")
    parser.add_argument("--download", action="store_true",
                        help="allow tensorflow-datasets to download a missing dataset")


#: ``--split`` choices (the splits of :mod:`zoo.data.arrays`; utilities cannot import zoo.data).
SPLIT_CHOICES = ("train", "test", "all")
#: ``--color`` choices (:data:`zoo.data.images.COLORS`).
COLOR_CHOICES = ("gray", "rgb")


def add_split_argument(parser: argparse.ArgumentParser, default: str, what: str = "the data") -> None:
    """``--split train|test|all``: which split of ``what`` a command reads (``default`` when not given)."""
    parser.add_argument("--split", choices=SPLIT_CHOICES, metavar="{train,test,all}",
                        help=f"split of {what} to read (default {default}; a file without splits is read whole: all)")


def add_color_argument(parser: argparse.ArgumentParser) -> None:
    """``--color gray|rgb``: convert an image folder's images (default: inferred from them)."""
    parser.add_argument("--color", choices=COLOR_CHOICES,
                        help="read an image folder as gray or RGB, converting what differs (default: inferred)")


def new_parser(prog: str | None, doc: str | None) -> argparse.ArgumentParser:
    """A parser whose help keeps the module docstring's layout."""
    return argparse.ArgumentParser(prog=prog, description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def script_main(add_arguments: Callable[[argparse.ArgumentParser], None], run: Runner,
                argv: Sequence[str] | None = None, *, prog: str | None = None, doc: str | None = None) -> int:
    """Parse ``argv`` with ``add_arguments`` and call ``run``: the ``main`` of every script.

    Args:
        add_arguments: Adds the script's options to a parser.
        run: Runs the script on parsed arguments and returns the exit code.
        argv: Arguments (default ``sys.argv[1:]``).
        prog: Program name shown in usage lines.
        doc: Description shown by ``--help`` (usually the module docstring).

    Returns:
        The exit code of ``run``.
    """
    parser = new_parser(prog, doc)
    add_arguments(parser)
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))
