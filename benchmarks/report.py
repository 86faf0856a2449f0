"""Turn benchmark CSVs into ``docs/benchmarks.md`` (methodology, machine, targets, tables, plots).

    python -m benchmarks.report                  # print the results section
    python -m benchmarks.report --update-docs    # regenerate docs/benchmarks.md

Reads ``benchmarks/results/{train_throughput,inference_throughput}.csv`` (and
``train_options_ae_dense.csv`` when present), then the backend run
(``train_backends.csv``) and every suite run (``<device-tag>/suite.json``) through
``benchmarks.report_suite``. The page is
``benchmarks/doc_template.md`` (methodology and reading of the numbers: edit
it there) with the generated results section in place of ``{{results}}``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.report_suite import sections
from benchmarks.results_io import RESULTS, read_csv
from zoo.utils.cliargs import script_main

ROOT = Path(__file__).resolve().parent.parent
#: The generated page, and the template it is made from.
DOCS = ROOT / "docs" / "benchmarks.md"
TEMPLATE = Path(__file__).resolve().parent / "doc_template.md"
PLACEHOLDER = "{{results}}"
#: Float32 export runtimes the inference targets are judged on.
EXPORTED = ("saved_model", "onnxruntime", "litert")


def machine(rows: list[dict]) -> str:
    """One line naming the machine and software of a run."""
    r = rows[0]
    gpu = f", GPU {r['gpu']} ({r['gpu_memory_gb']} GiB)" if r["gpu"] else ", no GPU"
    return (f"{r['cpu']} ({r['cpu_cores']} cores){gpu}; TensorFlow {r['tensorflow']}, Keras {r['keras']}, "
            + f"onnxruntime {r['onnxruntime']}, ai-edge-litert {r['ai_edge_litert']}, Python {r['python']}")


def peak_line(rows: list[dict]) -> str:
    """One sentence with the run's matmul peak."""
    peaks = [r for r in rows if r["benchmark"] == "peak"]
    best = max(peaks, key=lambda r: r["gflops_per_s"])
    return (f"Matmul peak probe in the same run: **{best['peak_gflops_per_s']:.1f} GFLOP/s** float32 "
            + f"({best['runtime']}, {best['batch_size']}x{best['batch_size']}).")


def train_table(rows: list[dict]) -> str:
    """Markdown table of the training rows, with each row's ratio to plain fit."""
    train = [r for r in rows if r["benchmark"] == "train"]
    base = {r["model"]: r for r in train if r["config"] == "plain_fit_numpy"}
    lines = ["| model | config | batch | precision | XLA | steps/exec | samples/s | step ms (median / p90) | "
             + "GFLOP/s | % peak | vs plain fit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in train:
        ratio = base[r["model"]]["latency_ms_median"] / r["latency_ms_median"] * r["batch_size"] / 256
        lines.append(f"| {r['model']} | {r['config']} | {r['batch_size']} | {r['precision']} | {r['xla']} | "
                     + f"{r['steps_per_execution']} | {r['samples_per_s']:,.0f} | {r['latency_ms_median']:.1f} / "
                     + f"{r['latency_ms_p90']:.1f} | {r['gflops_per_s']:.1f} | {r['percent_of_peak']:.1f} | "
                     + f"{ratio:.2f}x |")
    return "\n".join(lines)


def inference_table(rows: list[dict]) -> str:
    """Markdown table of the inference rows: one line per model, part and runtime."""
    infer = [r for r in rows if r["benchmark"] == "inference"]
    batches = sorted({r["batch_size"] for r in infer})
    lines = ["| model | part | runtime | " + " | ".join(f"samples/s @{b}" for b in batches)
             + " | latency @1 (median / p90 µs) | GFLOP/s @256 | % peak @256 |",
             "|---|---|---|" + "---|" * len(batches) + "---|---|---|"]
    keys = list(dict.fromkeys((r["model"], r["part"], r["runtime"]) for r in infer))
    for key in keys:
        cells = {r["batch_size"]: r for r in infer if (r["model"], r["part"], r["runtime"]) == key}
        one, b256 = cells.get(1), cells.get(256)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | "
                     + " | ".join(f"{cells[b]['samples_per_s']:,.0f}" if b in cells else "-" for b in batches)
                     + (f" | {1e3 * one['latency_ms_median']:.1f} / {1e3 * one['latency_ms_p90']:.1f}" if one else " | -")
                     + (f" | {b256['gflops_per_s']:.1f} | {b256['percent_of_peak']:.1f} |" if b256 else " | - | - |"))
    return "\n".join(lines)


def targets(train: list[dict], infer: list[dict]) -> str:
    """The README's target lines, each saying met or missed from the numbers."""
    lines = []
    t = {r["config"]: r for r in train if r["model"] == "ae_dense" and r["batch_size"] == 256
         and r["benchmark"] == "train" and r["precision"] == "float32"}
    if "plain_fit_numpy" in t and "aezoo_default" in t:
        ratio = t["plain_fit_numpy"]["latency_ms_median"] / t["aezoo_default"]["latency_ms_median"]
        lines.append(f"- Training, `ae_dense` at batch 256: aezoo's default path is **{ratio:.2f}x** plain fit "
                     + f"(target 2x: {'met' if ratio >= 2 else 'missed'}); it runs at "
                     + f"{t['aezoo_default']['percent_of_peak']:.0f}% of the matmul peak, plain fit at "
                     + f"{t['plain_fit_numpy']['percent_of_peak']:.0f}%.")
    for part in ("encoder", "autoencoder"):
        rows = [r for r in infer if r["benchmark"] == "inference" and r["model"].startswith("ae_dense")
                and r["part"] == part and r["runtime"] in EXPORTED]
        at256 = [r for r in rows if r["batch_size"] == 256]
        at1 = [r for r in rows if r["batch_size"] == 1]
        if at256 and at1:
            best = max(at256, key=lambda r: r["gflops_per_s"])
            fast = min(at1, key=lambda r: r["latency_ms_median"])
            lines.append(
                f"- Inference, `ae_dense` {part} float32: best exported runtime at batch 256 is {best['runtime']} "
                + f"at **{best['percent_of_peak']:.0f}%** of peak (target 80%: "
                + f"{'met' if best['percent_of_peak'] >= 80 else 'missed'}); fastest batch-1 latency "
                + f"{fast['runtime']} **{1e3 * fast['latency_ms_median']:.1f} µs** median (target 20 µs: "
                + f"{'met' if 1e3 * fast['latency_ms_median'] <= 20 else 'missed'}).")
    return "\n".join(lines)


def section(results: Path = RESULTS, images: str = "../benchmarks/results") -> str:
    """The results section built from the CSVs in ``results``.

    Args:
        results: Folder with the benchmark CSVs.
        images: The results folder as linked from the page (its plots).

    Returns:
        Markdown: machine, targets, tables and plots, with the commands that made them.
    """
    train = read_csv(results / "train_throughput.csv")
    infer = read_csv(results / "inference_throughput.csv")
    parts = ["## Results", "",
             f"Machine: {machine(train)}. Commands and raw rows (with the environment in every row): "
             + "`benchmarks/results/*.csv|json`.", "", "**Targets**", "", targets(train, infer), "",
             "**Training** (`python -m benchmarks.train_throughput --models ae_dense ae_conv --batch-sizes 256 "
             + "--epochs 4 --device cpu`). " + peak_line(train), "", train_table(train), ""]
    options = results / "train_options_ae_dense.csv"
    if options.exists():
        opt = read_csv(options)
        parts += ["Training options on `ae_dense` (`python -m benchmarks.train_throughput --models ae_dense "
                  + "--batch-sizes 256 1024 --precisions float32 bfloat16 --xla default off "
                  + "--steps-per-execution 1 32 --epochs 3 --device cpu --out "
                  + "benchmarks/results/train_options_ae_dense`). " + peak_line(opt), "", train_table(opt), "",
                  f"![ae_dense training options]({images}/train_options_ae_dense.png)", ""]
    parts += ["**Inference** (`python -m benchmarks.inference_throughput --models ae_dense.mnist ae_conv.mnist "
              + "--parts encoder autoencoder --device cpu`). " + peak_line(infer), "", inference_table(infer), "",
              f"![inference throughput]({images}/inference_throughput.png)", ""]
    more = sections(results, images)
    if more:
        parts += ["## Keras backends, PyTorch peers and the GPU suite", "", more]
    return "\n".join(parts)


def page(results: Path = RESULTS, template: Path = TEMPLATE) -> str:
    """The whole ``docs/benchmarks.md``: the template with the results section filled in."""
    text = template.read_text()
    if PLACEHOLDER not in text:
        raise ValueError(f"{template} lacks the {PLACEHOLDER} placeholder.")
    return text.replace(PLACEHOLDER, section(results).rstrip("\n"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks.report``."""
    parser.add_argument("--results", default=str(RESULTS), help="folder with the benchmark CSVs")
    parser.add_argument("--update-docs", action="store_true", help="write the page instead of printing the section")
    parser.add_argument("--update-readme", action="store_true",
                        help="deprecated: the results moved to docs/benchmarks.md; same as --update-docs")
    parser.add_argument("--output", default=str(DOCS), help="page written by --update-docs (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    """Print the results section, or write the page; the exit code."""
    if args.update_readme:
        print("--update-readme is deprecated: the benchmark results are in docs/benchmarks.md; "
              + "use --update-docs.", file=sys.stderr)
    if not (args.update_docs or args.update_readme):
        print(section(Path(args.results)))
        return 0
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(Path(args.results)))
    print(f"wrote {os.path.relpath(out)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m benchmarks.report``."""
    return script_main(add_arguments, run, argv, prog="python -m benchmarks.report", doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
