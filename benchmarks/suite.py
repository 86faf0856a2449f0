"""The GPU suite: probes, training sweeps and inference sweeps on Keras-on-JAX, Keras-on-PyTorch and the PyTorch peers.

    python -m benchmarks.suite --device gpu --out benchmarks/results/h200/
    python -m benchmarks.suite --device cpu --out benchmarks/results/cpu_suite/ --small   # a CPU rehearsal

One run, no TensorFlow needed (``--backends jax torch`` by default; each in its
own worker process, plus the peers in the PyTorch one):

1. probes through every backend: dense matmul peak per precision (float32,
   TF32 on GPUs, bfloat16) and device memory bandwidth (a large copy);
2. training of each model on MNIST-shaped uint8 data scaled once and resident
   on the device, float32 and bfloat16 mixed precision, batch 256 upwards
   (x4) until throughput stops rising (and at least to ``--sweep-to``): aezoo's
   default path (``zoo.training.run.compile_options``, ``fit`` on resident arrays) on
   each backend, and the peers eager and compiled, interleaved at each batch size;
3. inference of each model's encoder and full autoencoder from batch 1 to
   65536: a jitted ``stateless_call`` (JAX), eager and ``torch.compile`` (PyTorch),
   and the peers with the Keras weights; median and p90 latency;
4. the Tiny AutoEncoder ``tae.flux2`` (``benchmarks.tae_run.suite_sweep``): Keras on JAX
   (and Keras on PyTorch when ``--backends`` has it) against its PyTorch reference, eager
   and compiled, float32 and bfloat16, encoder and decoder at 512 and 1024, batch 1 then x4
   until out of memory or ``--tae-max-batch``; its ``--tae-budget-s`` comes out of ``--budget-s``.

Every row has samples/s, % of the roofline (the smaller of the matmul peak and
bandwidth x arithmetic intensity, from this run's probes), peak device memory
and, for aezoo rows, the ratio to the best peer row of its group. Files in
``--out``: ``train``/``inference`` ``.csv|.json|.png``, ``latency.png`` and
``suite.json`` (command, machine, versions, probes, elapsed time), which
``python -m benchmarks.report --update-docs`` turns into the docs' section.
A time budget (``--budget-s``) is shared out between the sweeps; a sweep whose share is
spent starts no larger batch (its first batch always runs), and ``suite.json`` says what was left out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: The full suite's settings, and the small ones a CPU rehearsal uses (``--small``).
FULL = dict(train_batches=[256, 1024, 4096, 16384, 65536], sweep_to=16384, samples=65536, min_steps=8,
            infer_batches=[1, 4, 16, 64, 256, 1024, 4096, 16384, 65536], epochs=3, rounds=2, min_seconds=0.3,
            peak_sizes=[4096, 8192], budget_s=420)
SMALL = dict(train_batches=[256, 1024], sweep_to=256, samples=4096, min_steps=4, infer_batches=[1, 64, 1024],
             epochs=2, rounds=2, min_seconds=0.1, peak_sizes=[512, 1024], budget_s=900)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's options (``--small`` picks rehearsal defaults for every size left unset)."""
    from benchmarks.backends import BACKENDS

    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="gpu")
    parser.add_argument("--out", required=True, help="results folder, e.g. benchmarks/results/h200/")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=["jax", "torch"])
    parser.add_argument("--models", nargs="+", default=["ae_dense", "ae_conv", "vae_conv"])
    parser.add_argument("--parts", nargs="+", default=["encoder", "autoencoder"], choices=["encoder", "autoencoder"])
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--small", action="store_true", help="rehearsal sizes (CPU): " + json.dumps(SMALL))
    parser.add_argument("--skip", nargs="+", default=[], choices=["train", "inference", "tae"])
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of every framework, each backend in its own process (CPU runs)")
    from benchmarks.tae_run import add_suite_arguments

    add_suite_arguments(parser)
    for key, value in FULL.items():
        kind = float if isinstance(value, float) else int
        parser.add_argument("--" + key.replace("_", "-"), type=kind, nargs="+" if isinstance(value, list) else None,
                            default=None, help=f"default {value} ({SMALL[key]} with --small)")


def _settings(args: argparse.Namespace) -> argparse.Namespace:
    defaults = SMALL if args.small else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.backend, args.skipped = args.backends, []
    return args


#: Share of ``--budget-s`` the training sweeps may use; inference has the rest.
TRAIN_SHARE = 0.55


def _deadline(start: float, budget_s: float, groups_left: int) -> float:
    """When the next of ``groups_left`` sweeps must stop: an equal share of what is left of the budget."""
    now = time.perf_counter()
    return now + max(0.0, start + budget_s - now) / groups_left


def train_sweep(args, workers, peaks, bandwidth, start: float) -> list[dict]:
    """Every model and precision: batch sizes x4 from the first until throughput stops rising (past ``sweep_to``)."""
    from benchmarks.runs import PEER_BACKEND, interleave, peer_specs

    rows: list[dict] = []
    groups = [(m, p) for m in args.models for p in args.precisions]
    for i, (model, precision) in enumerate(groups):
        deadline = _deadline(start, TRAIN_SHARE * args.budget_s, len(groups) - i)
        best_before = 0.0
        for batch in args.train_batches:
            if batch != args.train_batches[0] and time.perf_counter() > deadline:  # the first batch always runs
                args.skipped.append(f"{model} {precision} training stopped before batch {batch} (time budget)")
                print(args.skipped[-1], flush=True)
                break
            samples = max(args.samples, args.min_steps * batch)
            base = dict(model=model, batch_size=batch, precision=precision, samples=samples, dataset="mnist")
            specs = {b: [dict(base, kind="keras_train")] if b in args.backends else [] for b in workers}
            if args.peers:
                specs[PEER_BACKEND] += peer_specs([model], "peer_train", **base)
            new = interleave(workers, specs, "train", args.epochs - 1, peaks, bandwidth, printed=len(rows))
            rows += new
            best = max(r["samples_per_s"] for r in new)
            if batch >= args.sweep_to and best < 1.05 * best_before:
                break  # throughput stopped rising
            best_before = max(best, best_before)
    return rows


def inference_sweep(args, workers, peaks, bandwidth, start: float) -> list[dict]:
    """Every model, part and batch size: the backends' compiled calls and the peers, interleaved."""
    from benchmarks.backends import INFERENCE_RUNTIMES
    from benchmarks.runs import PEER_BACKEND, interleave, peer_specs

    rows: list[dict] = []
    groups = [(m, p) for m in args.models for p in args.parts]
    for i, (model, part) in enumerate(groups):
        deadline = _deadline(start, args.budget_s, len(groups) - i)
        for batch in args.infer_batches:
            if batch != args.infer_batches[0] and time.perf_counter() > deadline:
                args.skipped.append(f"{model} {part} inference stopped before batch {batch} (time budget)")
                print(args.skipped[-1], flush=True)
                break
            base = dict(model=model, part=part, batch_size=batch)
            specs = {b: [dict(base, kind="keras_infer", runtime=r) for r in INFERENCE_RUNTIMES[b]]
                     if b in args.backends else [] for b in workers}
            if args.peers:
                specs[PEER_BACKEND] += peer_specs([model], "peer_infer", **base)
            rows += interleave(workers, specs, "inference", args.rounds, peaks, bandwidth, args.min_seconds,
                               printed=len(rows))
    return rows


def plot_latency(rows: list[dict], path: Path) -> None:
    """Median (line) and p90 (dashed) latency against batch size, one panel per model and part."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["model"], r["part"]) for r in rows})
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 4), squeeze=False)
    for ax, (model, part) in zip(axes.flat, panels, strict=False):
        series: dict[str, list] = {}
        for r in rows:
            if (r["model"], r["part"]) == (model, part):
                series.setdefault(f"{r['backend']} {r['runtime']}", []).append(
                    (r["batch_size"], r["latency_ms_median"], r["latency_ms_p90"]))
        for label, points in series.items():
            points.sort()
            b, med, p90 = zip(*points, strict=True)
            line, = ax.plot(b, med, marker="o", label=label)
            ax.plot(b, p90, linestyle="--", color=line.get_color())
        ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="latency ms (median; p90 dashed)",
               title=f"{model} {part}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def run(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run the suite and write its files; the exit code (``argv``: the options, for the record)."""
    from benchmarks.backends import worker_env

    args = _settings(args)
    # This process serves the first backend itself: give it a worker's environment before Keras loads.
    os.environ.update(worker_env(args.backends[0], args.device) if "keras" not in sys.modules else {})
    from benchmarks.common import save
    from benchmarks.results_io import write_json
    from benchmarks.runs import FAILED, backend_run

    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, infer, tae_rows, tae_record = [], [], [], None
    total_budget, tae = args.budget_s, "tae" not in args.skip
    if tae:  # the TAE sweep's share comes out of the budget, so the whole suite still fits it
        from benchmarks.tae_run import SUITE, SUITE_SMALL

        args.tae_budget_s = args.tae_budget_s or (SUITE_SMALL if args.small else SUITE)["tae_budget_s"]
        args.budget_s = max(0.0, total_budget - args.tae_budget_s)
    with backend_run(args, "torch" if args.peers else None) as (workers, _, peaks, bandwidth, probe):
        if "train" not in args.skip:
            train = train_sweep(args, workers, peaks, bandwidth, start)
        if "inference" not in args.skip:
            infer = inference_sweep(args, workers, peaks, bandwidth, start)
        setup = next(iter(workers.values())).setup
    args.budget_s = total_budget
    if tae:  # after the other sweeps' workers have given their device memory back
        from benchmarks.tae_report import plot_latency as plot_tae
        from benchmarks.tae_report import write_rows
        from benchmarks.tae_run import suite_sweep

        tae_rows, tae_record = suite_sweep(args, peaks, bandwidth)
        if tae_rows:
            write_rows(tae_rows, out / "tae", {k: v for k, v in tae_record.items() if k != "probe_rows"})
            plot_tae(tae_rows, out / "tae.png", f"tae.flux2 vs its PyTorch reference ({setup['device']}; suite)")
    device = setup["device"]
    if train:
        save(probe + train, out / "train", f"training throughput ({device}; suite)")
    if infer:
        save(probe + infer, out / "inference", f"inference throughput ({device}; suite)")
        plot_latency(infer, out / "latency.png")
    command = "python -m benchmarks.suite " + " ".join(argv) if argv is not None else " ".join(
        ["aezoo", *sys.argv[1:]])
    meta = {"command": command, "device": device, "env": setup["env"],
            "backends": args.backends, "peaks_gflops_per_s": peaks, "bandwidth_gb_per_s": bandwidth,
            "elapsed_s": round(time.perf_counter() - start, 1), "budget_s": args.budget_s, "skipped": args.skipped, "failed": FAILED,
            "settings": {k: getattr(args, k) for k in FULL}, "probe_rows": probe,
            "tae": None if tae_record is None else {k: v for k, v in tae_record.items() if k != "probe_rows"}}
    write_json(meta, out / "suite.json", default=str)
    print(f"suite done in {meta['elapsed_s']} s; wrote {out}/", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m benchmarks.suite``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args, argv)
    except (RuntimeError, ValueError, ModuleNotFoundError) as err:  # bad device or backend: one line, exit 1
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
