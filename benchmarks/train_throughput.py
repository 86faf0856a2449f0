"""Training throughput: samples/s and step time for any registered model, against plain ``fit``.

    python -m benchmarks.train_throughput --models ae_dense ae_conv --batch-sizes 256 1024 \\
        [--precisions float32 bfloat16] [--xla default on off] [--steps-per-execution 1 32] [--replicas 1 2]
    aezoo bench train ...        (the same options)

Every model gets one baseline row, plain ``model.fit(numpy_array, batch_size=256)``
with Keras' defaults, and one row per combination of the options, trained
through aezoo's default path (cached uint8 ``tf.data`` pipeline scaled in-graph,
``zoo.training.run.compile_options``) with the option overridden. All rows of a model
start from the same initial weights, in this one process. Each configuration
is compiled and trained for one warm-up epoch, then the configurations train
one epoch each in turn (interleaved, so a shared machine's drift hits them
alike); step time is epoch time / steps, median (and p90) over the timed epochs.
FLOPs are 3x the forward pass (``benchmarks.flops``); % of peak is against the
matmul probe run at the start (``benchmarks.peak``). ``--replicas 2`` adds rows trained
data-parallel with ``zoo.training.distribute`` (``MirroredStrategy``, the global batch split over
the replicas; on a machine without GPUs, over as many logical CPU devices, TensorFlow only).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

import numpy as np

from benchmarks.common import (
    PRECISIONS,
    add_common_arguments,
    make_row,
    print_rows,
    save,
    with_oom_retry,
)
from benchmarks.flops import training_flops
from benchmarks.runs import add_backend_arguments, backend_run
from benchmarks.trainer import Trainer, load_images
from zoo.utils.cliargs import parse_assignments, positive_int, script_main

BASELINE_BATCH = 256
XLA_CHOICES = {"default": None, "on": True, "off": False}


def _prepare(spec: dict, batch_size: int) -> dict:
    """Build and warm up a configuration; out-of-memory errors surface here and halve the batch."""
    trainer = Trainer(spec["model"], spec["kwargs"], spec["x_u8"], batch_size, baseline=spec["baseline"],
                      precision=spec["precision"], xla=XLA_CHOICES[spec["xla"]], steps_per_execution=spec["spe"],
                      replicas=spec.get("replicas", 1))
    return {"trainer": trainer, "batch_size": batch_size}


def measure(models: Sequence[str], x_u8: np.ndarray, *, batch_sizes: Sequence[int], precisions: Sequence[str],
            xla_modes: Sequence[str], spes: Sequence[int | None], epochs: int, device: str,
            peaks: dict[str, float], env: dict, model_kwargs: dict[str, dict] | None = None,
            replicas: Sequence[int] = (1,)) -> list[dict]:
    """Rows for every model: the plain-fit baseline and each option combination.

    A model's configurations are built and warmed up first, then trained one
    epoch each in turn, so drift in the machine's speed hits all of them alike.

    Args:
        models: Registered model names.
        x_u8: Training images, uint8.
        batch_sizes: Batch sizes of aezoo's default path (the baseline always uses 256).
        precisions: ``float32``, ``float16`` or ``bfloat16`` (mixed precision).
        xla_modes: Keys of :data:`XLA_CHOICES`.
        spes: Steps per execution (None keeps aezoo's default).
        epochs: Epochs per configuration, the first a warm-up.
        device: Device the rows record.
        peaks: Matmul peak GFLOP/s by precision.
        env: Row environment fields.
        model_kwargs: Builder arguments by model name.
        replicas: Replica counts of aezoo's default path (``MirroredStrategy`` when > 1).

    Returns:
        One row per model and configuration, the baseline first.
    """
    rows = []
    for model_name in models:
        specs = [dict(model=model_name, kwargs=(model_kwargs or {}).get(model_name, {}), x_u8=x_u8, baseline=True,
                      precision="float32", xla="default", spe=None, batch_size=BASELINE_BATCH)]
        for b, p, x, s, r in itertools.product(batch_sizes, precisions, xla_modes, spes, replicas):
            specs.append(dict(specs[0], baseline=False, precision=p, xla=x, spe=s, batch_size=b, replicas=r))
        prepared = []
        for spec in specs:
            ready = with_oom_retry(lambda b, spec=spec: _prepare(spec, b), spec["batch_size"])
            prepared.append((spec, ready))
        times = [[] for _ in prepared]
        for _ in range(epochs - 1):
            for i, (_, ready) in enumerate(prepared):
                times[i].append(ready["trainer"].epoch() / ready["trainer"].steps)
        base_ms = None
        for (spec, ready), step_times in zip(prepared, times, strict=True):
            t = ready["trainer"]
            config = "plain_fit_numpy" if spec["baseline"] else "aezoo_default" + "".join(
                f" {k}={v}" for k, v in (("xla", spec["xla"]), ("spe", spec["spe"]), ("replicas", spec.get("replicas")))
                if v not in ("default", None, 1))
            row = make_row(
                "train", step_times, t.batch_size, training_flops(t.model), peaks.get(spec["precision"]), env,
                model=model_name, part="autoencoder", runtime="keras fit", config=config, device=device,
                precision=spec["precision"], requested_batch_size=spec["batch_size"],
                xla="keras default" if spec["baseline"] else bool(t.options.get("jit_compile")),
                steps_per_execution=t.options.get("steps_per_execution", 1),
                note=f"{len(x_u8)} samples/epoch; {len(step_times)} timed epochs, interleaved with the other "
                     + f"configurations, after a {t.warmup:.1f} s warm-up epoch",
            )
            if ready.get("note"):
                row["note"] = ready["note"] + "; " + row["note"]
            if spec["baseline"]:
                base_ms = row["latency_ms_median"]
            elif t.batch_size == BASELINE_BATCH:
                row["note"] += f"; {base_ms / row['latency_ms_median']:.2f}x plain fit"
            rows.append(row)
            print_rows([row], header=len(rows) == 1)
    return rows


def _timed_epochs(text: str) -> int:
    """``argparse`` type of ``--epochs``: one warm-up epoch and at least one timed."""
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (one warm-up, one timed). Received: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks.train_throughput`` and ``aezoo bench train``."""
    parser.add_argument("--models", nargs="+", default=["ae_dense", "ae_conv"])
    parser.add_argument("--batch-sizes", type=positive_int, nargs="+", default=[BASELINE_BATCH])
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=PRECISIONS)
    parser.add_argument("--xla", nargs="+", default=["default"], choices=list(XLA_CHOICES),
                        help="jit_compile: aezoo's default choice, on or off")
    parser.add_argument("--steps-per-execution", type=positive_int, nargs="+", default=[None])
    parser.add_argument("--replicas", type=positive_int, nargs="+", default=[1],
                        help="data-parallel replicas per row (MirroredStrategy; TensorFlow, in-process runs only)")
    parser.add_argument("--epochs", type=_timed_epochs, default=4, help="epochs per row; the first is a warm-up")
    parser.add_argument("--dataset", default="mnist", help="mnist, fashion_mnist or sample:mnist")
    parser.add_argument("--samples", type=positive_int, help="use only the first N training images")
    parser.add_argument("--data-dir")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="model argument for every model")
    add_backend_arguments(parser)
    add_common_arguments(parser, "train_throughput")


def keras_specs(args: argparse.Namespace, backend: str, model: str, samples: int) -> list[dict]:
    """Cell specs of aezoo's training path on ``backend`` (TensorFlow also gets the plain-fit baseline)."""
    base = dict(kind="keras_train", model=model, kwargs=parse_assignments(args.set), dataset=args.dataset,
                samples=samples)
    specs = [dict(base, baseline=True, config="plain_fit_numpy", batch_size=BASELINE_BATCH)] * (backend == "tensorflow")
    for b, p, x, s in itertools.product(args.batch_sizes, args.precisions, args.xla, args.steps_per_execution):
        config = "aezoo_default" + "".join(f" {k}={v}" for k, v in (("xla", x), ("spe", s)) if v not in ("default", None))
        specs.append(dict(base, config=config, batch_size=b, precision=p, xla=XLA_CHOICES[x], spe=s))
    return specs


def run_backends(args: argparse.Namespace) -> int:
    """Train on every ``--backend`` (a worker process each) and the PyTorch peers, interleaved; write the rows."""
    from benchmarks.runs import PEER_BACKEND, interleave, peer_specs

    samples = args.samples or len(load_images(args.dataset, None, args.data_dir))
    rows = []
    peers = args.peers is not False
    with backend_run(args, PEER_BACKEND if peers else None) as (workers, names, peaks, bandwidth, probe):
        for model in args.models:
            specs = {b: keras_specs(args, b, model, samples) if b in names else [] for b in workers}
            if peers:
                specs[PEER_BACKEND] += [s for b in args.batch_sizes for p in args.precisions if p != "float16"
                                        for s in peer_specs([model], "peer_train", batch_size=b, precision=p,
                                                            dataset=args.dataset, samples=samples,
                                                            kwargs=parse_assignments(args.set))]
            rows += interleave(workers, specs, "train", args.epochs - 1, peaks, bandwidth, printed=len(rows))
    device = rows[0]["device"] if rows else args.device
    return save(probe + rows, args.out, f"training throughput ({device}; {', '.join(names)} and PyTorch peers)")


def _logical_cpu_devices(count: int) -> None:
    """On a machine without GPUs, split the CPU into ``count`` logical devices (before TensorFlow starts)."""
    import keras

    if count == 1:
        return
    if keras.backend.backend() != "tensorflow":
        raise ValueError("--replicas > 1 needs the TensorFlow backend here. Received: KERAS_BACKEND="
                         + keras.backend.backend())
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                                   [tf.config.LogicalDeviceConfiguration()] * count)


def run(args: argparse.Namespace) -> int:
    """Probe the peak, train every configuration, print and write the rows; the exit code."""
    from benchmarks.peak import start

    if args.backend or args.peers:
        if max(args.replicas) > 1:
            raise ValueError("--replicas > 1 runs in this process under TensorFlow; drop --backend/--peers.")
        return run_backends(args)
    _logical_cpu_devices(max(args.replicas))

    device, env, peaks, peak_rows = start(args, sorted(set(args.precisions)))
    print("matmul peak GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    x_u8 = load_images(args.dataset, args.samples, args.data_dir)
    kwargs = parse_assignments(args.set)
    rows = measure(args.models, x_u8, batch_sizes=args.batch_sizes, precisions=args.precisions,
                   xla_modes=args.xla, spes=args.steps_per_execution, epochs=args.epochs, device=device,
                   peaks=peaks, env=env, model_kwargs={m: kwargs for m in args.models}, replicas=args.replicas)
    return save(peak_rows + rows, args.out, f"training throughput ({device}, {env['cpu']})")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m benchmarks.train_throughput``."""
    return script_main(add_arguments, run, argv, prog="python -m benchmarks.train_throughput", doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
