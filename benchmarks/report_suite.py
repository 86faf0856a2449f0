"""Sections of ``docs/benchmarks.md`` for runs over several backends: the CPU backend run and each suite run.

``benchmarks.report`` calls these: :func:`backends_section` on
``benchmarks/results/train_backends.csv`` (``aezoo bench train --backend ...``)
and :func:`suite_section` on every ``benchmarks/results/<device-tag>/suite.json``
(``python -m benchmarks.suite``).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.results_io import read_csv, read_json

AEZOO_TRAIN_TARGETS = {"pytorch eager": 1.3, "pytorch compile": 1.0}


def _series(r: dict) -> str:
    return f"{r['backend']} {r['runtime']}" + (f" ({r['config']})" if r["config"] not in (None, "peer") else "")


def _fmt(value, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _versions(r: dict) -> str:
    names = ("keras", "tensorflow", "jax", "torch")
    return ", ".join(f"{n} {r[n]}" for n in names if r.get(n)) + f", Python {r['python']}"


def backends_section(rows: list[dict], command: str) -> str:
    """Training on each Keras backend against the peers (one interleaved run), with the issue's targets."""
    train = [r for r in rows if r["benchmark"] == "train"]
    peak = next((r for r in rows if r["benchmark"] == "peak" and r["precision"] == "float32"), None)
    lines = ["### Every backend against the PyTorch peers (CPU, training)", "",
             f"One run, all configurations interleaved epoch by epoch: `{command}`. Machine: {train[0]['cpu']} "
             + f"({train[0]['cpu_cores']} cores); {_versions(train[0])}."
             + (f" Matmul peak in the same run: {peak['peak_gflops_per_s']:.1f} GFLOP/s float32." if peak else ""),
             "", "| model | backend | runtime | config | batch | samples/s | step ms (median / p90) | % peak | "
             + "vs eager peer | vs compiled peer |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in train:
        peers = {p["runtime"]: p for p in train if p["config"] == "peer" and p["model"] == r["model"]
                 and p["requested_batch_size"] == r["requested_batch_size"] and p["precision"] == r["precision"]}
        ratio = {k: r["samples_per_s"] / p["samples_per_s"] for k, p in peers.items()}
        lines.append(f"| {r['model']} | {r['backend']} | {r['runtime']} | {r['config']} | {r['batch_size']} | "
                     + f"{r['samples_per_s']:,.0f} | {r['latency_ms_median']:.1f} / {r['latency_ms_p90']:.1f} | "
                     + f"{_fmt(r['percent_of_peak'])} | {_fmt(ratio.get('pytorch eager'), '.2f', 'x')} | "
                     + f"{_fmt(ratio.get('pytorch compile'), '.2f', 'x')} |")
    lines += ["", "**Targets** (best aezoo backend, batch 256):", ""]
    for model in dict.fromkeys(r["model"] for r in train):
        mine = [r for r in train if r["model"] == model and r["config"] == "aezoo_default"
                and r["requested_batch_size"] == 256]
        peers = {r["runtime"]: r for r in train if r["model"] == model and r["config"] == "peer"
                 and r["requested_batch_size"] == 256}
        if not mine or not peers:
            continue
        best = max(mine, key=lambda r: r["samples_per_s"])
        verdicts = [f"**{best['samples_per_s'] / peers[k]['samples_per_s']:.2f}x** the {k} peer (target {t}x: "
                    + ("met" if best["samples_per_s"] >= t * peers[k]["samples_per_s"] else "missed") + ")"
                    for k, t in AEZOO_TRAIN_TARGETS.items() if k in peers]
        lines.append(f"- `{model}`: best aezoo backend is {best['backend']}, " + "; ".join(verdicts) + ".")
    return "\n".join(lines) + "\n"


def _probe_lines(meta: dict) -> list[str]:
    rows = meta["probe_rows"]
    lines = ["| probe | backend | precision | size | result |", "|---|---|---|---|---|"]
    for r in rows:
        value = (f"{r['bandwidth_gb_per_s']:,.0f} GB/s" if r["benchmark"] == "bandwidth"
                 else f"{r['gflops_per_s']:,.0f} GFLOP/s")
        size = f"{r['batch_size']} MiB" if r["benchmark"] == "bandwidth" else f"{r['batch_size']}²"
        lines.append(f"| {r['model']} | {r['backend']} | {r['precision']} | {size} | {value} |")
    peaks = ", ".join(f"{k} {v:,.0f}" for k, v in meta["peaks_gflops_per_s"].items())
    return lines + ["", f"Roofline inputs: peak GFLOP/s {peaks} (float32 rows use the better of float32 and TF32); "
                    + f"bandwidth {meta['bandwidth_gb_per_s']:,.0f} GB/s."]


def _train_lines(rows: list[dict]) -> list[str]:
    lines = ["| model | precision | series | best batch | samples/s | % roofline | peak mem GiB | vs best peer |",
             "|---|---|---|---|---|---|---|---|"]
    groups = dict.fromkeys((r["model"], r["precision"], _series(r)) for r in rows)
    for model, precision, series in groups:
        best = max((r for r in rows if (r["model"], r["precision"], _series(r)) == (model, precision, series)),
                   key=lambda r: r["samples_per_s"])
        lines.append(f"| {model} | {precision} | {series} | {best['batch_size']} | {best['samples_per_s']:,.0f} | "
                     + f"{_fmt(best['percent_of_roofline'])} | {_fmt(best['peak_memory_gb'], '.2f')} | "
                     + f"{_fmt(best['vs_best_peer'], '.2f', 'x')} |")
    return lines


def _infer_lines(rows: list[dict]) -> list[str]:
    batches = sorted({r["requested_batch_size"] for r in rows})
    top = batches[-1]
    lines = ["| model | part | series | " + " | ".join(f"samples/s @{b}" for b in batches)
             + f" | latency @1 ms (median / p90) | % roofline @{top} | peak mem GiB | vs best peer @{top} |",
             "|---|---|---|" + "---|" * len(batches) + "---|---|---|---|"]
    for key in dict.fromkeys((r["model"], r["part"], _series(r)) for r in rows):
        cells = {r["requested_batch_size"]: r for r in rows if (r["model"], r["part"], _series(r)) == key}
        one, big = cells.get(1), cells.get(top)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | "
                     + " | ".join(_fmt(cells[b]["samples_per_s"] if b in cells else None, ",.0f") for b in batches)
                     + (f" | {one['latency_ms_median']:.3f} / {one['latency_ms_p90']:.3f}" if one else " | -")
                     + f" | {_fmt(big and big['percent_of_roofline'])} | {_fmt(big and big['peak_memory_gb'], '.2f')}"
                     + f" | {_fmt(big and big['vs_best_peer'], '.2f', 'x')} |")
    return lines


def suite_targets(train: list[dict], infer: list[dict]) -> list[str]:
    """The GPU targets of the suite, each met or missed from the rows."""
    lines = []
    for model in ("ae_dense", "ae_conv"):
        mine = [r for r in train if r["model"] == model and r["config"] != "peer"]
        peers = [r for r in train if r["model"] == model and r["config"] == "peer"]
        if mine and peers:
            ratio = max(r["samples_per_s"] for r in mine) / max(r["samples_per_s"] for r in peers)
            lines.append(f"- Training `{model}`, best aezoo row against the best peer row (each at its best batch "
                         + f"and precision): **{ratio:.2f}x** (target 1.0x: {'met' if ratio >= 1 else 'missed'}).")
    dense = [r for r in infer if r["model"] == "ae_dense" and r["config"] != "peer"]
    if dense:
        top = max(r["requested_batch_size"] for r in dense)
        best = max((r for r in dense if r["requested_batch_size"] == top), key=lambda r: r["percent_of_roofline"] or 0)
        lines.append(f"- Inference `ae_dense` {best['part']} at batch {top}: {_series(best)} at "
                     + f"**{_fmt(best['percent_of_roofline'], '.0f')}%** of the roofline (target 50%: "
                     + f"{'met' if (best['percent_of_roofline'] or 0) >= 50 else 'missed'}).")
        ones = [r for r in infer if r["model"] == "ae_dense" and r["requested_batch_size"] == 1]
        mine = [r for r in ones if r["config"] != "peer"]
        peers = [r for r in ones if r["config"] == "peer"]
        if mine and peers:
            a, p = (min(x["latency_ms_median"] for x in rows) for rows in (mine, peers))
            lines.append(f"- Batch-1 latency `ae_dense`: best aezoo {a:.3f} ms against the fastest peer {p:.3f} ms, "
                         + f"**{a / p:.2f}x** (target within 1.5x: {'met' if a <= 1.5 * p else 'missed'}).")
    return lines


def suite_section(folder: Path, images: str) -> str:
    """The section of one suite run: machine, command, probes, targets, training and inference tables, plots."""
    meta = read_json(folder / "suite.json")
    train = [r for r in read_csv(folder / "train.csv") if r["benchmark"] == "train"] if (folder / "train.csv").exists() else []
    infer = ([r for r in read_csv(folder / "inference.csv") if r["benchmark"] == "inference"]
             if (folder / "inference.csv").exists() else [])
    env, link = meta["env"], f"{images}/{folder.name}"
    gpu = env["gpu"] and f"{env['gpu']} ({env['gpu_memory_gb']} GiB)"
    title = (f"### Suite on {gpu}" if meta["device"] == "gpu" else
             "### Suite rehearsal on this CPU (small sizes; NOT the GPU run, which is still to do)")
    parts = [title, "", f"Command: `{meta['command']}` ({meta['elapsed_s']:.0f} s, budget {meta['budget_s']} s). "
             + f"Machine: {gpu or 'no GPU'}; CPU {env['cpu']} ({env['cpu_cores']} cores); {_versions(env)}.", "",
             *_probe_lines(meta), "", "**Targets**" + ("" if meta["device"] == "gpu" else
                                                       " (the GPU targets, judged on this rehearsal only to exercise "
                                                       + "the report: they say nothing about a GPU)"),
             "", *(suite_targets(train, infer) or ["- (no rows)"]), ""]
    if meta.get("skipped"):
        parts += ["Left out for time: " + "; ".join(meta["skipped"]) + ".", ""]
    if meta.get("failed"):
        parts += ["Failed to build (no row): " + "; ".join(meta["failed"]) + ".", ""]
    if train:
        parts += ["**Training** (each series at its best batch size; the sweep went "
                  + ", ".join(map(str, sorted({r['requested_batch_size'] for r in train}))) + ")", "",
                  *_train_lines(train), "", f"![suite training]({link}/train.png)", ""]
    if infer:
        parts += ["**Inference**", "", *_infer_lines(infer), "", f"![suite inference]({link}/inference.png)",
                  f"![suite latency]({link}/latency.png)", ""]
    return "\n".join(parts)


def sections(results: Path, images: str) -> str:
    """Every backend/suite section whose results exist under ``results``."""
    out = []
    backends = results / "train_backends.csv"
    if backends.exists():
        out.append(backends_section(read_csv(backends), BACKENDS_COMMAND))
    for meta in sorted(results.glob("*/suite.json")):
        out.append(suite_section(meta.parent, images))
    return "\n".join(out)


#: The command of the committed CPU backend run (``benchmarks/results/train_backends.*``).
BACKENDS_COMMAND = ("aezoo bench train --backend tensorflow jax torch --threads 1 --models ae_dense ae_conv "
                    + "--batch-sizes 256 --epochs 4 --samples 15360 --device cpu --out benchmarks/results/train_backends")
