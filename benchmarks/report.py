"""Turn benchmark CSVs into the README's results section (tables, targets, machine).

    python benchmarks/report.py [--update-readme]

Reads ``benchmarks/results/{train_throughput,inference_throughput}.csv`` (and
``train_options_ae_dense.csv`` when present) and prints markdown; with
``--update-readme`` it replaces the text between the README's
``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
EXPORTED = ("saved_model", "onnxruntime", "litert")


def read(path: Path) -> list[dict]:
    """Rows of a benchmark CSV with numbers, booleans and None restored."""
    def convert(value: str):
        if value in ("", "None"):
            return None
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
        return {"True": True, "False": False}.get(value, value)

    with open(path, newline="") as f:
        return [{k: convert(v) for k, v in row.items()} for row in csv.DictReader(f)]


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


def section(results: Path = RESULTS) -> str:
    """The whole README results section built from the CSVs in ``results``."""
    train = read(results / "train_throughput.csv")
    infer = read(results / "inference_throughput.csv")
    parts = ["### Results", "",
             f"Machine: {machine(train)}. Commands and raw rows (with the environment in every row): "
             + "`benchmarks/results/*.csv|json`.", "", "**Targets**", "", targets(train, infer), "",
             "**Training** (`python benchmarks/train_throughput.py --models ae_dense ae_conv --batch-sizes 256 "
             + "--epochs 4 --device cpu`). " + peak_line(train), "", train_table(train), ""]
    options = results / "train_options_ae_dense.csv"
    if options.exists():
        opt = read(options)
        parts += ["Training options on `ae_dense` (`--batch-sizes 256 1024 --precisions float32 bfloat16 "
                  + "--xla default off --steps-per-execution 1 32 --epochs 3`). " + peak_line(opt), "",
                  train_table(opt), "", "![ae_dense training options](benchmarks/results/train_options_ae_dense.png)",
                  ""]
    parts += ["**Inference** (`python benchmarks/inference_throughput.py --models ae_dense.mnist ae_conv.mnist "
              + "--parts encoder autoencoder --device cpu`). " + peak_line(infer), "", inference_table(infer), "",
              "![inference throughput](benchmarks/results/inference_throughput.png)", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    text = section(Path(args.results))
    if not args.update_readme:
        print(text)
        return 0
    readme = README.read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, rest = readme.split(START, 1)
    README.write_text(head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1])
    print(f"updated {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
