"""The ``aezoo`` command line: list, info, train, evaluate, plus the commands of ``COMMAND_MODULES``.

Every failure prints one line ``aezoo: error: ...`` on stderr and exits non-zero;
``--traceback`` shows the full stack for debugging.

A normal run is quiet and quick: TensorFlow's C++ logs are off (the environment
is set before anything imports it), Python warnings are hidden (``--verbose``
shows both), and ``list``, ``info ENTRY`` and ``--help`` never import Keras:
the other commands' modules are imported only when one of them is run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence

from zoo.utils.cliargs import (
    add_color_argument,
    add_data_arguments,
    add_model_arguments,
    add_split_argument,
    model_kwargs,
    positive_float,
    positive_int,
)

#: Environment that keeps TensorFlow, XLA, absl and gRPC from logging on a normal run.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "3", "GRPC_VERBOSITY": "ERROR",
             "TF_ENABLE_ONEDNN_OPTS": "0"}
#: Third-party Python loggers lowered to errors on a normal run.
QUIET_LOGGERS = ("tensorflow", "absl", "jax", "jax._src.xla_bridge", "h5py", "tf2onnx", "onnxruntime")


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null meanwhile: C++ libraries log there before any setting applies."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _native_logs_hidden(hide: bool) -> Iterator[None]:
    """While a command runs, C/C++ libraries' writes to file descriptor 2 go to /dev/null.

    TFLite's converter and XNNPACK delegate, onnxruntime and XLA log there at any
    level setting. Python's ``sys.stderr`` (aezoo's errors, progress bars) keeps
    writing to the real stderr through a duplicate of the descriptor.
    """
    try:
        real = hide and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False  # stderr is already captured or replaced (tests): leave it as it is
    if not real:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    original = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=original.encoding, errors="replace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr.close()
        sys.stderr = original


def quiet(verbose: bool) -> None:
    """Silence third-party logs for the rest of the process unless ``verbose`` (call before Keras loads)."""
    if verbose:
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_ENV["TF_CPP_MIN_LOG_LEVEL"]
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if "keras" not in sys.modules:
        # absl's C++ logging writes its "before InitializeLog" lines while the framework loads.
        with _native_stderr_silenced():
            importlib.import_module("keras")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def cmd_list(args: argparse.Namespace) -> int:
    from zoo.families import list_models
    from zoo.pretrained import list_pretrained

    names = list_pretrained(args.filter) if args.pretrained else list_models(args.filter)
    for name in names:
        print(name)
    return 0


def _print_card(name: str) -> int:
    from zoo.pretrained import get_card

    card = get_card(name)
    t = card.training
    if card.kind == "ported":
        src = card.extra["source"]
        print(f"{card.name}: {card.model} ported from {src['repository']} @ {src['commit']} ({src['variant']}, "
              + f"by {src['author']}; distilled from {src['distilled_from']})")
        for part, f in src["files"].items():
            print(f"source[{part}]: {f['file']}  sha256 {f['sha256']}  ({f['bytes']:,} bytes)")
        for part, why in src.get("missing_parts", {}).items():
            print(f"source[{part}]: none ({why})")
    else:
        print(f"{card.name}: {card.model} trained on {card.dataset} ({card.split})")
    print(f"input shape: {tuple(card.input_shape)}    latent dim: {card.latent_dim}    "
          + f"family arguments: {card.family_args}")
    print(f"preprocessing: {card.preprocessing}")
    print(f"{'converted' if card.kind == 'ported' else 'training'}: {t['command']}")
    env = t["environment"]
    done = "" if card.kind == "ported" else f"seed {t['seed']}, {t['epochs']} epochs, "
    print(f"  {done}{t['wall_time_s']} s on {env['machine']['accelerators'] or 'CPU'}"
          + f" ({env['machine']['cpu_count']} CPUs), keras {env['versions'].get('keras')} / {env['keras_backend']}")
    for part, w in card.weights.items():
        print(f"weights[{part}]: {w['file']}  sha256 {w['sha256']}  ({w['bytes']:,} bytes)")
    evaluated = card.extra.get("evaluation_environment") or {}
    if evaluated:
        print(f"evaluated with keras {evaluated.get('versions', {}).get('keras')} / "
              + f"{evaluated.get('keras_backend')} on {evaluated.get('machine', {}).get('processor')}")
    split = card.metrics.get("dataset", card.dataset) if card.kind == "ported" else "full test split"
    print(f"metrics ({split}; reproduce with `{card.evaluate_command}`):")
    reference = card.extra.get("reference", {}).get("metrics", {})
    for key, value in card.metrics.items():
        if isinstance(value, float):
            print(f"  {key:<28} {value:.5g}" + (f"   (PyTorch reference {reference[key]:.5g})" if key in reference else ""))
    if card.notes:
        print(f"notes: {card.notes}")
    print(f"licence: {card.licence}. cite: {card.citation}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import zoo
    from zoo.families import builder_arguments, get_builder
    from zoo.pretrained import list_pretrained

    if args.name in list_pretrained():
        return _print_card(args.name)

    import keras

    builder = get_builder(args.name)
    model = zoo.create_model(args.name, **model_kwargs(args))
    print(f"{args.name}: {(builder.__doc__ or '').strip().splitlines()[0]}")
    print(f"class: {type(model).__name__}    parameters: {model.count_params():,}    "
          + f"keras backend: {keras.backend.backend()}")
    print(f"input shape: {model.data_shape}    latent dim: {model.latent_dim}")
    print("family arguments (default -> used):")
    used = model_kwargs(args)
    for key, default in builder_arguments(args.name).items():
        print(f"  {key} = {default!r}" + (f" -> {used[key]!r}" if key in used else ""))
    network, decoder = model.encoder_network, model.decoder
    for title, layers in ((network.name, network.layers), ("head", [model.head]), (decoder.name, decoder.layers)):
        print(f"{title}:")
        for layer in layers:
            shape = tuple(getattr(layer.output, "shape", ()))
            print(f"  {layer.name:<16} {type(layer).__name__:<20} {shape!s:<22} {layer.count_params():>10,}")
    return 0


def _run_dir(args: argparse.Namespace) -> str:
    if args.run_dir:
        return args.run_dir
    if args.model is None or args.dataset is None:
        raise ValueError("aezoo train needs MODEL and --dataset (or --resume with --run-dir, which takes "
                         + "them from the run folder).")
    return f"runs/{args.model}.{args.dataset.replace('/', '_').replace(':', '_')}"


def cmd_train(args: argparse.Namespace) -> int:
    from zoo.training.run import train

    if not args.resume and (args.model is None or args.dataset is None):
        missing = " and ".join(n for n, v in (("MODEL", args.model), ("--dataset", args.dataset)) if v is None)
        raise ValueError(f"aezoo train needs {missing} for a new run (only --resume takes them from --run-dir).")
    result = train(
        args.model, args.dataset, _run_dir(args),
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, model_kwargs=model_kwargs(args), split=args.split, color=args.color, data_dir=args.data_dir,
        download=args.download, resume=args.resume, tensorboard=args.tensorboard,
        verbose=int(args.verbose) if args.verbose.isdigit() else args.verbose,
        command=args.record_command, distribute=args.distribute, distribute_timeout=args.distribute_timeout,
    )
    card, t = result.card, result.card["training"]
    converted = "".join(f"; {note}" for note in card["converted"])
    print(f"trained {card['model']} on {card['dataset']} ({card['split']} split, {card['examples']:,} examples"
          + f"{converted}) for {t['epochs']} epochs in {t['wall_time_s']} s; "
          + f"final loss {t['final_loss']:.5g}; run folder: {result.run_dir}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from zoo.data.datasets import parse_data_spec
    from zoo.evaluation.evaluate import evaluate, format_table
    from zoo.pretrained import CARD_RTOL, compare_metrics, load_target
    from zoo.utils.atomic import write_text_atomic

    model, card = load_target(args.target)
    origin = getattr(model, "fine_tuned_from", None)
    if args.check_card and origin:
        raise ValueError(f"--check-card: {args.target} was fine-tuned from {origin} after loading it, so its weights "
                         + f"are no longer those {origin}'s card measured; evaluate it without --check-card "
                         + f"(or check {origin} itself).")
    if card is not None and card.kind == "ported":  # RGB photographs, not an MNIST-like split
        from aezoo.convert_commands import cmd_evaluate_photos

        return cmd_evaluate_photos(args, model, card)
    dataset = args.dataset or (card.dataset if card else None)
    if dataset is None:
        raise ValueError("--dataset is required for a model that is not a pretrained entry.")
    spec = parse_data_spec(dataset)
    if args.check_card and card is None:
        raise ValueError("--check-card needs a pretrained entry.")
    if args.check_card and spec.kind == "path":
        raise ValueError("--check-card compares with the card's own dataset; drop --dataset PATH.")
    if args.check_card and args.split not in (None, "test"):
        raise ValueError(f"--check-card compares with the card's test-split metrics. Received: --split {args.split}")
    if args.nll_samples:
        from zoo.evaluation.likelihood import require_posterior

        require_posterior(model)  # refuse a model without a Gaussian posterior before the long evaluation
    metrics = evaluate(model, dataset, data_dir=args.data_dir, probe=not args.no_probe, seed=args.seed,
                       download=args.download, progress=None, split=args.split)
    if args.nll_samples:
        from zoo.evaluation.likelihood import dataset_nll

        metrics.update(dataset_nll(model, dataset, args.nll_samples, data_dir=args.data_dir, seed=args.seed,
                                   limit=args.nll_limit))
    print(format_table(metrics))
    name = card.name if card else Path(args.target).stem
    label = Path(spec.name).stem if spec.kind == "path" else str(spec).replace(":", "_")
    out = Path(args.output or f"runs/eval/{name}.{label}.json")
    write_text_atomic(out, json.dumps({"target": args.target, **metrics}, indent=2))
    print(f"wrote {out}")
    if args.check_card:
        reference = card.sample_metrics if spec.kind == "sample" else card.metrics
        lines = compare_metrics(metrics, reference)
        print("\n".join(lines))
        failed = [line for line in lines if line.endswith("FAIL")]
        if failed:
            raise ValueError(f"{len(failed)} metric(s) differ from the card by more than {CARD_RTOL:.0%}: "
                             + ", ".join(line.split()[0] for line in failed))
        print(f"all {len(lines)} card metrics reproduced within {CARD_RTOL:.0%}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list, "info": cmd_info, "train": cmd_train, "evaluate": cmd_evaluate,
}
#: Modules that add their own subcommands with ``add_commands(subparsers) -> {name: function}``.
COMMAND_MODULES = ("aezoo.export_commands", "aezoo.latent_commands", "aezoo.anomaly_commands", "aezoo.quickstart", "aezoo.bench_commands",
                   "aezoo.data_commands", "aezoo.convert_commands", "aezoo.tae_commands", "aezoo.generate_commands")
#: The commands each module adds, with the one line ``aezoo --help`` shows for them without importing it.
MODULE_COMMANDS = {
    "export": ("aezoo.export_commands", "export a model part to SavedModel, ONNX or LiteRT and validate it"),
    "encode": ("aezoo.export_commands", "encode images with a model or an exported artifact"),
    "decode": ("aezoo.latent_commands", "decode latents (.npy, .npz or latent PNGs) into one PNG per latent"),
    "anomaly": ("aezoo.anomaly_commands", "anomaly detection: fit a detector on normal data, score new data"),
    "quickstart": ("aezoo.quickstart", "load a pretrained encoder, export it everywhere, time it (make demo)"),
    "bench": ("aezoo.bench_commands", "run a benchmark script (train, infer or peak)"),
    "data": ("aezoo.data_commands", "pack data into shards that training streams from disk (data pack)"),
    "convert": ("aezoo.convert_commands", "convert PyTorch Tiny AutoEncoder checkpoints (.pth) into zoo weights + card"),
    "reconstruct": ("aezoo.tae_commands", "draw a Tiny AutoEncoder's reconstructions, errors and latents as PNGs"),
    "sample": ("aezoo.generate_commands", "draw samples from a generative model's prior into a PNG grid"),
    "interpolate": ("aezoo.generate_commands", "decode a walk between two examples' codes into a PNG strip"),
}
#: Commands that need no Keras (``info`` of a pretrained entry reads its card only).
LIGHT_COMMANDS = ("list",)


def _requested(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word that is not an option), if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``aezoo`` parser; given ``argv``, other modules' commands are only named (their modules stay unloaded).

    Args:
        argv: The arguments about to be parsed, or None for the full parser.

    Returns:
        The parser.
    """
    parser = argparse.ArgumentParser(prog="aezoo", description="Autoencoder model zoo.")
    parser.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--verbose", dest="show_logs", action="store_true",
                        help="show third-party log lines and Python warnings (hidden by default)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list registered models")
    p.add_argument("filter", nargs="?", help="only names containing this text")
    p.add_argument("--pretrained", action="store_true", help="list pretrained entries instead")
    p = sub.add_parser("info", help="show a model's arguments and layers")
    p.add_argument("name")
    add_model_arguments(p)

    p = sub.add_parser("train", help="train a model and write a run folder")
    p.add_argument("model", nargs="?", help="registered model name, see `aezoo list` (with --resume: optional)")
    p.add_argument("--dataset", help="mnist, fashion_mnist, sample:mnist, or a path (.npy/.npz/.csv/image "
                   + "folder); required unless --resume")
    p.add_argument("--run-dir", help="output folder (default runs/MODEL.DATASET)")
    # Defaults of None: --resume compares only what was typed with the run's run.json.
    p.add_argument("--epochs", type=positive_int, help="total epochs (default 20)")
    p.add_argument("--batch-size", type=positive_int, help="examples per step (default 128)")
    p.add_argument("--learning-rate", type=positive_float, help="Adam's learning rate (default 0.001)")
    p.add_argument("--seed", type=int, help="seeds weights, shuffling and noise (default 0)")
    p.add_argument("--resume", action="store_true",
                   help="continue the unfinished run in --run-dir; any option given must match the run")
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument("--verbose", default="auto", choices=["auto", "0", "1", "2"], help="Keras progress mode")
    p.add_argument("--distribute", default="none", choices=["none", "mirrored", "multi_worker"],
                   help="data parallelism: mirrored = every GPU of this machine, multi_worker = a cluster "
                   + "(TF_CONFIG, or KERAS_DISTRIBUTION_* under JAX); see docs/distributed.md")
    p.add_argument("--distribute-timeout", type=positive_float, default=300.0, metavar="SECONDS",
                   help="how long a multi_worker process waits for the others before it fails (default 300)")
    p.add_argument("--record-command", help=argparse.SUPPRESS)
    add_split_argument(p, "train", "--dataset")
    add_color_argument(p)
    add_data_arguments(p)
    add_model_arguments(p)

    p = sub.add_parser("evaluate", help="evaluate a pretrained entry, .keras file or run folder")
    p.add_argument("target", help="pretrained name (see `aezoo list --pretrained`), .keras file or run folder")
    p.add_argument("--dataset", help="mnist, fashion_mnist, sample:NAME (default: the card's), or your own "
                   + "data: .npz with x (and labels y for the probes), .npy, .csv or an image folder")
    p.add_argument("--no-probe", action="store_true", help="skip the linear probes (no train split needed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", help="JSON path (default runs/eval/NAME.DATASET.json)")
    p.add_argument("--check-card", action="store_true",
                   help="fail unless every metric is within 1%% of the pretrained card")
    p.add_argument("--nll-samples", type=positive_int, nargs="?", const=5000, metavar="K",
                   help="VAE-like models: also the importance-sampled NLL (nats) of the test split binarised "
                   + "with seed 0, K samples per image (5000 if K is omitted); see docs/generative.md")
    p.add_argument("--nll-limit", type=positive_int, metavar="N", help="score the NLL on the first N test images only")
    add_split_argument(p, "test", "--dataset")
    add_data_arguments(p)
    requested = None if argv is None else _requested(argv)
    for module in COMMAND_MODULES:
        commands = [c for c, (m, _) in MODULE_COMMANDS.items() if m == module]
        if argv is None or requested in commands:
            COMMANDS.update(importlib.import_module(module).add_commands(sub))
        else:
            for command in commands:
                sub.add_parser(command, help=MODULE_COMMANDS[command][1], add_help=False)
    return parser


def _needs_keras(args: argparse.Namespace) -> bool:
    if args.command in LIGHT_COMMANDS:
        return False
    if args.command == "info":
        from zoo.pretrained import list_pretrained

        return args.name not in list_pretrained()
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aezoo`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if _requested(argv) in MODULE_COMMANDS and "--verbose" not in argv:
        quiet(False)  # before the command's module loads (for --help too): it imports TensorFlow
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    with warnings.catch_warnings(), _native_logs_hidden(not args.show_logs):
        if not args.show_logs:
            warnings.simplefilter("ignore")
        try:
            if _needs_keras(args):
                quiet(args.show_logs)
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
