"""``aezoo quickstart`` (what ``make demo`` runs): a pretrained encoder from load to validated exports.

Offline, on embedded defaults, in about a minute on a 2-core CPU:

1. load a pretrained encoder (SHA-256 checked);
2. encode the bundled 1k MNIST sample;
3. export the encoder to every runtime variant of the format registry
   (``export.runtime_variants()``: SavedModel, ONNX, TFLite and int8 TFLite),
   and the decoder to ONNX, each validated in its own runtime;
4. time each runtime briefly (median batch-1 latency, batch-256 throughput);
5. write ``aezoo-out/``: the exports (ONNX and TFLite files with their reports beside them,
   SavedModel folders), ``codes.npy``, a
   reconstruction grid (Keras vs the chained ONNX encoder -> decoder) and
   ``summary.md``;
6. print the table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

DEFAULT_ENTRY = "ae_conv.mnist"
#: The format of the chained encoder -> decoder demonstration (step 5).
CHAIN_FORMAT = "onnx"


def planned_exports() -> list[tuple[str, str, str | None]]:
    """``(part, format, quantize)`` of every export the tour makes, in order.

    The encoder goes to each of ``export.runtime_variants()``; the decoder to
    :data:`CHAIN_FORMAT`, for the chained reconstruction.
    """
    from export import FORMATS, runtime_variants

    exports = [("encoder", v.format, v.quantize) for v in runtime_variants()]
    return exports + ([("decoder", CHAIN_FORMAT, None)] if CHAIN_FORMAT in FORMATS else [])


def time_runtime(fn: Callable[[np.ndarray], object], x: np.ndarray, repeats: int = 30) -> dict:
    """Median batch-1 latency (µs) and batch-``len(x)`` throughput (samples/s) after a warm-up call each."""
    from zoo.utils.timing import time_calls

    lat = time_calls(lambda: fn(x[:1]), warmup=1, min_iters=repeats, max_iters=repeats, min_seconds=0.0)
    big = max(3, repeats // 5)
    full = time_calls(lambda: fn(x), warmup=1, min_iters=big, max_iters=big, min_seconds=0.0)
    return {"batch1_latency_us": 1e6 * float(np.median(lat)), "samples_per_s": len(x) / float(np.median(full))}


def run(entry: str = DEFAULT_ENTRY, out: str | Path = "aezoo-out") -> list[dict]:
    """Run the quickstart tour for ``entry``, writing into ``out``; return the runtime timings."""
    import zoo
    from export import FORMATS, ExportValidationError, export_model, format_table, load_artifact
    from export.publish import export_name
    from zoo.data import datasets as data
    from zoo.evaluation.plots import reconstruction_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"== 1. load {entry} (weights checked against the card's SHA-256)")
    model = zoo.load_pretrained(entry)
    card = zoo.get_card(entry)
    x = data.to_unit_range(data.load_sample(card.dataset)[0])

    print(f"== 2. encode the bundled {card.dataset} sample: {x.shape}")
    codes = model.encode(x)
    np.save(out / "codes.npy", codes)
    print(f"codes {codes.shape} -> {out / 'codes.npy'}")

    print("== 3. export and validate in each runtime")
    reports = []
    for part, fmt, quantize in planned_exports():
        path = out / export_name(entry, part, FORMATS[fmt], quantize)
        try:
            # int8 keeps its most sensitive layers in float where one int8 scale cannot hold them.
            fallback = "auto" if quantize in FORMATS[fmt].fallback else None
            reports.append(export_model(model, fmt, path, part=part, quantize=quantize, overwrite=True,
                                        fallback=fallback))
        except ExportValidationError as err:  # shown in the table; the rest of the tour goes on
            reports.append(err.report)
    print(format_table(reports))
    failed = [r for r in reports if not r.passed]
    if failed:
        print(f"{len(failed)} export(s) failed validation and were not written: "
              + "; ".join(f"{r.format} {r.part}: {', '.join(r.failures)}" for r in failed))
    reports = [r for r in reports if r.passed]

    print("== 4. time each runtime (encoder)")
    x256 = x[:256]
    runtimes = {"keras predict_on_batch": model.get_part("encoder").predict_on_batch}
    for report in reports:
        if report.part == "encoder":
            label = report.format + (f" {report.quantize}" if report.quantize else "")
            runtimes[f"{label} ({report.runtime.split(' (')[0]})"] = load_artifact(report.path)
    timings = [{"runtime": label, **time_runtime(fn, x256)} for label, fn in runtimes.items()]
    for t in timings:
        print(f"  {t['runtime']:<40} batch 1: {t['batch1_latency_us']:9.1f} µs   "
              + f"batch 256: {t['samples_per_s']:10.0f} samples/s")

    print("== 5. reconstructions through the chained ONNX encoder -> decoder")
    chain_err, extra = None, {}
    if {("encoder", CHAIN_FORMAT), ("decoder", CHAIN_FORMAT)} <= {(r.part, r.format) for r in reports
                                                                   if r.quantize is None}:
        onnx_enc = load_artifact(out / export_name(entry, "encoder", FORMATS[CHAIN_FORMAT]))
        onnx_dec = load_artifact(out / export_name(entry, "decoder", FORMATS[CHAIN_FORMAT]))
        chain_err = float(np.abs(onnx_dec(onnx_enc(x[:64])) - model.predict(x[:64], verbose=0)).max())
        print(f"max |ONNX decoder(ONNX encoder(x)) - Keras model(x)| = {chain_err:.2e}")
        extra = {"ONNX": onnx_dec(onnx_enc(x[:10]))}
    grid = reconstruction_grid(model, x, out / "reconstructions.png", title=f"{entry}: input / Keras / ONNX",
                               extra_rows=extra)
    summary = _summary(entry, card, reports, timings, chain_err, codes.shape)
    (out / "summary.md").write_text(summary)
    print(f"== 6. wrote {out}/: {grid.split('/')[-1]}, summary.md, codes.npy and {len(reports)} exports")
    return timings


def _summary(entry, card, reports, timings, chain_err, codes_shape) -> str:
    lines = [f"# aezoo quickstart: {entry}", "",
             f"{card.model} trained on {card.dataset}; card metrics (full test split): "
             + ", ".join(f"{k} {v:.4g}" for k, v in card.metrics.items() if isinstance(v, float) and k in
                         ("bce", "mse", "psnr")) + ".",
             f"Encoded the bundled sample to codes of shape {codes_shape}.", "",
             "| part | format | quantize | size (KiB) | runtime | max abs err | recon. MSE change |",
             "|---|---|---|---|---|---|---|"]
    for r in reports:
        lines.append(f"| {r.part} | {r.format} | {r.quantize or '-'} | {r.size_bytes / 1024:.0f} | {r.runtime} | "
                     + f"{r.max_abs_error:.2e} | {100 * r.mse_delta_rel:+.3f}% |")
    chained = "not run (an ONNX export failed)" if chain_err is None else f"max abs error {chain_err:.2e}"
    lines += ["", f"Chained ONNX decoder(encoder(x)) vs Keras: {chained}.", "",
              "| encoder runtime | batch-1 latency (µs, median) | batch-256 samples/s (median) |", "|---|---|---|"]
    lines += [f"| {t['runtime']} | {t['batch1_latency_us']:.1f} | {t['samples_per_s']:.0f} |" for t in timings]
    lines += ["", "Timings are a brief look on this machine; `aezoo bench` measures properly.", ""]
    return "\n".join(lines)


def cmd_quickstart(args: argparse.Namespace) -> int:
    """``aezoo quickstart``."""
    run(args.entry, args.out)
    return 0


def add_commands(sub) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``quickstart`` to the ``aezoo`` parser."""
    p = sub.add_parser("quickstart", help="load a pretrained encoder, export it everywhere, time it (make demo)")
    p.add_argument("--entry", default=DEFAULT_ENTRY, help="pretrained entry (default %(default)s)")
    p.add_argument("--out", default="aezoo-out", help="output folder (default %(default)s)")
    return {"quickstart": cmd_quickstart}
