"""Training throughput: aezoo's default training path vs plain ``model.fit(numpy, batch_size=256)``.

    python benchmarks/train_throughput.py --models ae_dense ae_conv --epochs 4 --out benchmarks/results

Every configuration trains the same architecture from the same initial weights
on the full MNIST train split, in this one process; the first epoch (tracing,
compilation, cache fill) is a warm-up and the median of the rest is reported.
Rows are written to CSV and JSON with the environment, plus a bar chart.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo import data as zdata  # noqa: E402
from zoo.environment import environment  # noqa: E402
from zoo.train import compile_options  # noqa: E402


class _Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t)

    def on_train_begin(self, logs=None):
        self.times = []


def run_config(name: str, model_name: str, x_u8: np.ndarray, weights, epochs: int, batch_size: int,
               aezoo_path: bool) -> dict:
    """Train one configuration and return a flat result row."""
    keras.utils.set_random_seed(0)
    model = zoo.create_model(model_name)
    model.set_weights(weights)
    timer = _Timer()
    if aezoo_path:
        model.compile(keras.optimizers.Adam(1e-3), **compile_options(model))
        data = zdata.make_pipeline(x_u8, batch_size, shuffle=True, seed=0)
        model.fit(data, epochs=epochs, callbacks=[timer], verbose=0, shuffle=False)
    else:
        model.compile(keras.optimizers.Adam(1e-3))
        model.fit(zdata.to_unit_range(x_u8), batch_size=batch_size, epochs=epochs, callbacks=[timer], verbose=0)
    steady = timer.times[1:]
    median = statistics.median(steady)
    return {
        "model": model_name, "config": name, "batch_size": batch_size, "epochs_timed": len(steady),
        "epoch_time_s_median": round(median, 3), "samples_per_sec": round(len(x_u8) / median, 1),
        "step_time_ms": round(1000 * median / int(np.ceil(len(x_u8) / batch_size)), 3),
        "param_count": model.count_params(), "warmup_epoch_s": round(timer.times[0], 3),
        "compile_options": json.dumps(compile_options(model)) if aezoo_path else "{}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["ae_dense", "ae_conv"])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per configuration, the first is warm-up")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    x_u8, _ = zdata.load_dataset(args.dataset, "train", data_dir=args.data_dir)
    env = environment()
    rows = []
    for model_name in args.models:
        keras.utils.set_random_seed(0)
        weights = zoo.create_model(model_name).get_weights()
        results = {}
        for name, aezoo_path in (("plain_fit_numpy", False), ("aezoo_default", True)):
            row = run_config(name, model_name, x_u8, weights, args.epochs, args.batch_size, aezoo_path)
            results[name] = row
            rows.append(row)
            print(json.dumps(row), flush=True)
        speedup = results["plain_fit_numpy"]["epoch_time_s_median"] / results["aezoo_default"]["epoch_time_s_median"]
        results["aezoo_default"]["speedup_vs_plain_fit"] = round(speedup, 2)
        print(f"{model_name}: aezoo default path is {speedup:.2f}x plain fit", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r})
    with (out / "train_throughput.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    (out / "train_throughput.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    _plot(rows, out / "train_throughput.png")
    return 0


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['model']}\n{r['config']}" for r in rows]
    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 1, 3))
    ax.bar(labels, [r["samples_per_sec"] for r in rows], color=["#999" if "plain" in r["config"] else "#36c" for r in rows])
    ax.set_ylabel("training samples / s (median epoch)")
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
