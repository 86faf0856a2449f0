"""The ``aezoo`` command line: list, info (and train/evaluate, added by their modules).

Every failure prints one line ``aezoo: error: ...`` on stderr and exits non-zero;
``--traceback`` shows the full stack for debugging.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_assignments(items: Sequence[str] | None) -> dict:
    """Turn ``["rho=0.1", "noise=masking"]`` into ``{"rho": 0.1, "noise": "masking"}``."""
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


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a shape like 28,28,1. Received: {text!r}") from err


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by commands that build a model from the registry."""
    parser.add_argument("--input-shape", type=_shape, help="per-example shape, e.g. 28,28,1")
    parser.add_argument("--latent-dim", type=int, help="size of the code")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="family argument, e.g. --set rho=0.05 (repeatable)")


def model_kwargs(args: argparse.Namespace) -> dict:
    kwargs = parse_assignments(args.set)
    if args.input_shape is not None:
        kwargs["input_shape"] = args.input_shape
    if args.latent_dim is not None:
        kwargs["latent_dim"] = args.latent_dim
    return kwargs


def cmd_list(args: argparse.Namespace) -> int:
    import zoo

    for name in zoo.list_models(args.filter):
        print(name)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import zoo
    from zoo.registry import builder_arguments, get_builder

    builder = get_builder(args.name)
    model = zoo.create_model(args.name, **model_kwargs(args))
    print(f"{args.name}: {(builder.__doc__ or '').strip().splitlines()[0]}")
    print(f"class: {type(model).__name__}    parameters: {model.count_params():,}")
    print(f"input shape: {model.data_shape}    latent dim: {model.latent_dim}")
    print("family arguments (default -> used):")
    used = model_kwargs(args)
    for key, default in builder_arguments(args.name).items():
        print(f"  {key} = {default!r}" + (f" -> {used[key]!r}" if key in used else ""))
    for part in (model.encoder, model.decoder):
        print(f"{part.name}:")
        for layer in part.layers:
            shape = tuple(getattr(layer.output, "shape", ()))
            print(f"  {layer.name:<16} {type(layer).__name__:<20} {shape!s:<22} {layer.count_params():>10,}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from zoo.train import train

    result = train(
        args.model, args.dataset, args.run_dir or f"runs/{args.model}.{args.dataset.replace('/', '_')}",
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, model_kwargs=model_kwargs(args), data_dir=args.data_dir,
        download=args.download, resume=args.resume, tensorboard=args.tensorboard,
        verbose=int(args.verbose) if args.verbose.isdigit() else args.verbose,
        command=args.record_command,
    )
    t = result.card["training"]
    print(f"trained {args.model} for {t['epochs']} epochs in {t['wall_time_s']} s; "
          + f"final loss {t['final_loss']:.5g}; run folder: {result.run_dir}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list, "info": cmd_info, "train": cmd_train,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aezoo", description="Autoencoder model zoo.")
    parser.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("filter", nargs="?", help="only names containing this text")
    p = sub.add_parser("info", help="show a model's arguments and layers")
    p.add_argument("name")
    add_model_arguments(p)

    p = sub.add_parser("train", help="train a model and write a run folder")
    p.add_argument("model", help="registered model name, see `aezoo list`")
    p.add_argument("--dataset", required=True,
                   help="mnist, fashion_mnist, sample:mnist, or a path (.npy/.npz/.csv/image folder)")
    p.add_argument("--run-dir", help="output folder (default runs/MODEL.DATASET)")
    p.add_argument("--epochs", type=int, help="total epochs (default 20)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the unfinished run in --run-dir")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument("--verbose", default="auto", help="Keras progress: auto, 0, 1 or 2")
    p.add_argument("--record-command", help=argparse.SUPPRESS)
    add_data_arguments(p)
    add_model_arguments(p)
    return parser


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Where datasets are looked for."""
    parser.add_argument("--data-dir", help="folder with mnist.npz / fashion_mnist.npz (or set AEZOO_DATA_DIR)")
    parser.add_argument("--download", action="store_true",
                        help="allow tensorflow-datasets to download a missing dataset")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aezoo`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("aezoo: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI turns every failure into one line
        if args.traceback:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"aezoo: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
