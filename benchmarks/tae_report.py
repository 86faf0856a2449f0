"""The Tiny AutoEncoder benchmark's files and figures: results CSV/JSON, the latency figure, the Markdown table.

``python -m benchmarks.tae_bench`` and the GPU suite write their rows with
:func:`write_rows`; ``python -m benchmarks.tae_bench --report FILE.json``
prints :func:`markdown_table` of a results file and draws :func:`plot_latency`.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.common import ROW_KEYS
from benchmarks.results_io import read_json, write_csv, write_json
from benchmarks.tae_run import BASELINE, EXTRA_KEYS
from benchmarks.tae_worker import PARTS


def write_rows(rows: list[dict], out: Path, meta: dict) -> list[Path]:
    """``out.csv`` and ``out.json`` (rows with ``ROW_KEYS + EXTRA_KEYS``, and the run's record)."""
    return [write_csv(rows, out.with_suffix(".csv"), ROW_KEYS + EXTRA_KEYS, extra="ignore"),
            write_json({"run": meta, "rows": rows}, out.with_suffix(".json"), default=str)]


def plot_latency(rows: list[dict], path: Path, title: str) -> None:
    """Median latency (bars, p90 as a tick) per runtime, one panel per part and group (size, batch, precision)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["benchmark"] == "tae_inference"]
    groups = sorted({(r["image_size"], r["batch_size"], r["precision"] == "bfloat16") for r in rows})
    panels = [(part, g) for g in groups for part in PARTS if any(r["part"] == part for r in rows)]
    cols = 2
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(11, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (part, (size, batch, bf16)) in zip(axes.flat, panels, strict=False):
        mine = [r for r in rows if r["part"] == part and r["image_size"] == size and r["batch_size"] == batch
                and (r["precision"] == "bfloat16") == bf16]
        names = [r["runtime"] for r in mine]
        med = [r["latency_ms_median"] for r in mine]
        p90 = [r["latency_ms_p90"] for r in mine]
        colors = ["#888888" if r["config"] == "reference" else "#1f77b4" if "keras" in r["runtime"]
                  else "#2ca02c" if "onnx" in r["runtime"] else "#d62728" for r in mine]
        y = range(len(mine))
        ax.barh(list(y), med, color=colors)
        ax.scatter(p90, list(y), marker="|", color="black", s=60, zorder=3)
        base = next((r["latency_ms_median"] for r in mine if r["runtime"] == BASELINE), None)
        for i, (m, p) in enumerate(zip(med, p90, strict=True)):
            ax.text(max(m, p), i, f" {m:,.0f}" + (f" ({base / m:.2f}x)" if base else ""), va="center", fontsize=6)
        ax.set_yticks(list(y), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ms per call (median; | = p90)", fontsize=7)
        ax.set_title(f"{part} {size}x{size}, batch {batch}"
                     + (", bfloat16" if bf16 else ""), fontsize=8)
        ax.tick_params(axis="x", labelsize=6)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def markdown_table(rows: list[dict]) -> str:
    """A Markdown table of the rows: part, size, batch, runtime, median/p90 ms, ratio to torch.compile and more."""
    lines = ["| part | size | batch | runtime | precision | median ms | p90 ms | vs torch.compile | max abs diff "
             + "| peak RSS GB | % roofline |", "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["benchmark"] != "tae_inference":
            continue
        ratio = r["vs_reference_compile"]
        diff = r["max_abs_diff"]
        lines.append(
            f"| {r['part']} | {r['image_size']} | {r['batch_size']} | {r['runtime']} | {r['precision']} | "
            + f"{r['latency_ms_median']:,.1f} | {r['latency_ms_p90']:,.1f} | "
            + ("" if ratio is None else f"**{ratio:.2f}x**" if ratio >= 1.3 else f"{ratio:.2f}x") + " | "
            + ("reference" if diff is None else f"{diff:.1e}") + " | "
            + ("" if r["peak_memory_gb"] is None else f"{r['peak_memory_gb']:.2f}") + " | "
            + ("" if r["percent_of_roofline"] is None else f"{r['percent_of_roofline']:.0f}") + " |")
    return "\n".join(lines)


def report(path: str | os.PathLike, figure: str | os.PathLike | None = None) -> str:
    """The Markdown table of a results file, and its figure written to ``figure`` (``--report``)."""
    data = read_json(path)
    rows = [r for r in data["rows"] if r["benchmark"] == "tae_inference"]
    if figure:
        device = rows[0]["device"] if rows else "cpu"
        plot_latency(rows, Path(figure), f"tae.flux2 vs its PyTorch reference ({device}, {rows[0]['cpu']}; "
                     + "bars: median, |: p90, (x): vs torch.compile)")
    return markdown_table(rows)
