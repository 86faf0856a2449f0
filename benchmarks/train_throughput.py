"""Training throughput: samples/s and step time for any registered model, against plain ``fit``.

    python benchmarks/train_throughput.py --models ae_dense ae_conv --batch-sizes 256 1024 \\
        [--precisions float32 bfloat16] [--xla default on off] [--steps-per-execution 1 32]

Every model gets one baseline row, plain ``model.fit(numpy_array, batch_size=256)``
with Keras' defaults, and one row per combination of the options, trained
through aezoo's default path (cached uint8 ``tf.data`` pipeline scaled in-graph,
``zoo.train.compile_options``) with the option overridden. All rows of a model
start from the same initial weights, in this one process. The first epoch is a
warm-up; step time is epoch time / steps, median (and p90) over the timed epochs.
FLOPs are 3x the forward pass (``benchmarks.flops``); % of peak is against the
matmul probe run at the start (``benchmarks.peak``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    add_common_arguments,
    environment,
    make_row,
    print_rows,
    select_device,
    with_oom_retry,
    write_results,
)
from benchmarks.flops import training_flops  # noqa: E402

BASELINE_BATCH = 256
XLA_CHOICES = {"default": None, "on": True, "off": False}


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    return EpochTimer()


def train_once(model_name: str, model_kwargs: dict, x_u8, batch_size: int, epochs: int, *, baseline: bool,
               precision: str = "float32", xla=None, steps_per_execution: int | None = None,
               seed: int = 0) -> tuple[list[float], object, dict]:
    """Train one configuration; return per-step times of the timed epochs, the model and its compile options."""
    import keras
    import numpy as np

    import zoo
    from zoo import data as zdata
    from zoo.train import compile_options

    policy = {"float32": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}[precision]
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        model = zoo.create_model(model_name, **model_kwargs)
        timer = _epoch_timer()
        if baseline:
            options = {}
            model.compile(keras.optimizers.Adam(1e-3))
            model.fit(zdata.to_unit_range(x_u8), batch_size=batch_size, epochs=epochs, callbacks=[timer],
                      verbose=0)
        else:
            options = compile_options(model)
            if xla is not None:
                options["jit_compile"] = xla
            if steps_per_execution is not None:
                options["steps_per_execution"] = steps_per_execution
            model.compile(keras.optimizers.Adam(1e-3), **options)
            data = zdata.make_pipeline(x_u8, batch_size, shuffle=True, seed=seed)
            model.fit(data, epochs=epochs, callbacks=[timer], verbose=0, shuffle=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    steps = int(np.ceil(len(x_u8) / batch_size))
    return [t / steps for t in timer.times[1:]], model, options


def run(models: list[str], x_u8, *, batch_sizes, precisions, xla_modes, spes, epochs, device, peaks, env,
        model_kwargs=None) -> list[dict]:
    rows = []
    for model_name in models:
        kwargs = (model_kwargs or {}).get(model_name, {})

        def measure(batch_size, baseline, precision="float32", xla_mode="default", spe=None, _m=model_name,
                    _k=kwargs):
            times, model, options = train_once(_m, _k, x_u8, batch_size, epochs, baseline=baseline,
                                               precision=precision, xla=XLA_CHOICES[xla_mode],
                                               steps_per_execution=spe)
            config = "plain_fit_numpy" if baseline else "aezoo_default" + "".join(
                f" {k}={v}" for k, v in (("xla", xla_mode), ("spe", spe)) if v not in ("default", None))
            return make_row(
                "train", times, batch_size, training_flops(model), peaks.get(precision), env, model=_m,
                part="autoencoder", runtime="keras fit", config=config, device=device, precision=precision,
                xla=bool(options.get("jit_compile")) if not baseline else "keras default",
                steps_per_execution=options.get("steps_per_execution", 1),
                note=f"{len(x_u8)} samples/epoch, {len(times)} timed epochs after 1 warm-up",
            )

        base = with_oom_retry(lambda b: measure(b, True), BASELINE_BATCH)
        rows.append(base)
        print_rows([base], header=True)
        for batch_size, precision, xla_mode, spe in itertools.product(batch_sizes, precisions, xla_modes, spes):
            row = with_oom_retry(lambda b, p=precision, x=xla_mode, s=spe: measure(b, False, p, x, s), batch_size)
            if row["batch_size"] == BASELINE_BATCH:
                row["note"] += f"; {base['latency_ms_median'] / row['latency_ms_median']:.2f}x plain fit"
            rows.append(row)
            print_rows([row])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["ae_dense", "ae_conv"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[BASELINE_BATCH])
    parser.add_argument("--precisions", nargs="+", default=["float32"], choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--xla", nargs="+", default=["default"], choices=list(XLA_CHOICES),
                        help="jit_compile: aezoo's default choice, on or off")
    parser.add_argument("--steps-per-execution", type=int, nargs="+", default=[None])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per row; the first is a warm-up")
    parser.add_argument("--dataset", default="mnist", help="mnist, fashion_mnist or sample:mnist")
    parser.add_argument("--samples", type=int, help="use only the first N training images")
    parser.add_argument("--data-dir")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="model argument for every model")
    add_common_arguments(parser, "train_throughput")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (one warm-up, one timed)")

    from benchmarks.peak import probe
    from zoo import data as zdata
    from zoo.cli import parse_assignments

    device = select_device(args.device)
    env = environment()
    peaks, peak_rows = probe(device, sorted(set(args.precisions)), args.peak_sizes, env)
    print("matmul peak GFLOP/s: " + ", ".join(f"{k} {v:.1f}" for k, v in peaks.items()))
    if args.dataset.startswith("sample:"):
        x_u8 = zdata.load_sample(args.dataset.split(":", 1)[1])[0]
    else:
        x_u8 = zdata.load_dataset(args.dataset, "train", data_dir=args.data_dir)[0]
    x_u8 = x_u8[: args.samples] if args.samples else x_u8
    kwargs = parse_assignments(args.set)
    rows = run(args.models, x_u8, batch_sizes=args.batch_sizes, precisions=args.precisions, xla_modes=args.xla,
               spes=args.steps_per_execution, epochs=args.epochs, device=device, peaks=peaks, env=env,
               model_kwargs={m: kwargs for m in args.models})
    files = write_results(peak_rows + rows, args.out, f"training throughput ({device}, {env['cpu']})")
    print("wrote " + ", ".join(map(str, files)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
