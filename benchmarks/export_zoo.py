"""Export every pretrained entry to every format (and quantization) and tabulate the checks.

Formats and their quantize options come from the export registry
(``export.FORMATS``). Each export runs the same validation as ``aezoo export``
at the default tolerances; a failed check is recorded (with its reason) rather
than stopping the sweep. Writes ``benchmarks/results/export_zoo.{csv,json,md}``.

    python -m benchmarks.export_zoo [--entries ae_conv.mnist ...] [--parts encoder decoder]
        [--formats tflite] [--quantize float32 int8] [--fallback auto] [--calibration-methods minmax percentile]

With several variants of one format (``--quantize dynamic_int8 int8``, or
several ``--calibration-methods``), the Markdown puts them side by side:
MSE change and batch-1 latency of each, per entry and part.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.results_io import RESULTS, write_csv, write_json
from zoo.utils.cliargs import script_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
#: What ``--quantize`` calls the unquantized export.
FLOAT32 = "float32"

COLUMNS = ["entry", "part", "format", "quantize", "variant", "size_bytes", "max_abs_error", "mean_abs_error", "atol",
           "mse_keras", "mse_export", "mse_delta_rel", "mse_rtol", "passed", "failures", "runtime", "export_seconds",
           "calibration_method", "fallback", "float_layers", "float_layer_names", "latency_ms_b1", "latency_ms_b256"]


def quantization_columns(report) -> dict:
    """The quantization report's columns: layers kept in float and latency (empty for other exports)."""
    q = report.quantization or {}
    floats = q.get("float_layers", [])
    latency = q.get("latency_ms", {})
    return {"calibration_method": report.details.get("calibration_method"), "fallback": q.get("fallback"),
            "float_layers": len(floats) if "layers" in q else None,
            "float_layer_names": "; ".join(f"{f['op']} {f['name']}" for f in floats),
            "latency_ms_b1": latency.get("1"), "latency_ms_b256": latency.get("256")}


def sweep(entries: list[str], parts: list[str], workdir: Path, formats: list[str] | None = None,
          quantize: list[str] | None = None, fallback: str | None = None,
          calibration_methods: list[str] | None = None) -> list[dict]:
    """Export every entry x part x format (x quantization); one row per export, failures included.

    ``fallback`` applies to the options that offer it; ``calibration_methods`` to ONNX ``int8``.
    """
    import zoo
    from export import FORMATS, ExportValidationError, export_model

    rows = []
    for entry in entries:
        model = zoo.load_pretrained(entry)
        for part in parts:
            for name, fmt in FORMATS.items():
                if formats and name not in formats:
                    continue
                for q in (None, *fmt.quantize):
                    if quantize and (q or FLOAT32) not in quantize:
                        continue
                    methods = ((calibration_methods or [None]) if q in fmt.calibrated
                               and "calibration_method" in fmt.options else [None])
                    for method in methods:
                        options = {"calibration_method": method} if method else {}
                        variant = " ".join(filter(None, [name, q, method]))
                        target = workdir / f"{entry}.{part}.{variant.replace(' ', '.')}"
                        try:
                            report = export_model(model, name, target, part=part, quantize=q,
                                                  fallback=fallback if q in fmt.fallback else None, **options)
                        except ExportValidationError as err:
                            report = err.report
                        row = {k: getattr(report, k, None) for k in COLUMNS if hasattr(report, k)}
                        row.update(entry=entry, part=part, variant=variant, failures="; ".join(report.failures),
                                   **quantization_columns(report))
                        rows.append(row)
                        print(f"{entry:<24} {part:<8} {variant:<26} max|err| {report.max_abs_error:.2e}  "
                              + f"MSE {100 * report.mse_delta_rel:+.2f}%  float layers {row['float_layers']}  "
                              + ("ok" if report.passed else "FAILED " + row["failures"]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """One row per export; with several variants per format, a side-by-side table of them follows."""
    lines = ["| entry | part | variant | size | max abs err | recon. MSE change | float layers | batch-1 ms | check |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        delta = f"{100 * r['mse_delta_rel']:+.2f}%" if r["quantize"] else "-"
        size = f"{r['size_bytes'] / 1024:.0f} KiB"
        floats = "-" if r.get("float_layers") is None else (r["float_layer_names"] or "0")
        b1 = "-" if r.get("latency_ms_b1") is None else f"{r['latency_ms_b1']:.3f}"
        lines.append(f"| {r['entry']} | {r['part']} | {r.get('variant') or r['format']} | {size} | "
                     + f"{r['max_abs_error']:.1e} | {delta} | {floats} | {b1} | "
                     + ("ok" if r["passed"] else "**fail**: " + r["failures"]) + " |")
    passed = sum(r["passed"] for r in rows)
    lines.append(f"\n{passed} of {len(rows)} exports passed.")
    variants = list(dict.fromkeys(r.get("variant") or r["format"] for r in rows if r["quantize"]))
    if len(variants) > 1:
        lines += ["", "Side by side (reconstruction MSE change / batch-1 latency in its runtime, ms):", "",
                  "| entry | part | " + " | ".join(variants) + " |", "|---|---|" + "---|" * len(variants)]
        cells: dict[tuple, dict] = {}
        for r in rows:
            cells.setdefault((r["entry"], r["part"]), {})[r.get("variant") or r["format"]] = r
        for (entry, part), by in cells.items():
            out = []
            for v in variants:
                r = by.get(v)
                if r is None or r["mse_delta_rel"] is None:
                    out.append("-")
                    continue
                b1 = "" if r.get("latency_ms_b1") is None else f" / {r['latency_ms_b1']:.3f}"
                out.append(f"{100 * r['mse_delta_rel']:+.2f}%{b1}" + ("" if r["passed"] else " ✗"))
            lines.append(f"| {entry} | {part} | " + " | ".join(out) + " |")
        for v in variants:
            sel = [r for r in rows if (r.get("variant") or r["format"]) == v]
            lines.append(f"\n{v}: {sum(r['passed'] for r in sel)} of {len(sel)} within their bound; median MSE "
                         + f"change {100 * _median([r['mse_delta_rel'] for r in sel]):+.2f}%")
    return "\n".join(lines) + "\n"


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the sweep; the format and quantize choices are the registry's."""
    from export import FORMATS, PARTS, quantize_choices

    parser.add_argument("--entries", nargs="*", help="pretrained names (default: every trained entry; ported ones: docs/tae.md)")
    parser.add_argument("--parts", nargs="*", default=["encoder", "decoder"],
                        help=f"of {', '.join(PARTS)}, or an entry's own (VQ-VAE: encoder_indices, index_decoder)")
    parser.add_argument("--formats", nargs="*", choices=list(FORMATS), help="only these formats (default: all)")
    parser.add_argument("--quantize", nargs="*", choices=[FLOAT32, *quantize_choices()],
                        help=f"only these options; {FLOAT32} names the unquantized export (default: all)")
    parser.add_argument("--fallback", choices=["auto"], help="keep int8 layers in float until the bound holds "
                        + "(options that offer it)")
    parser.add_argument("--calibration-methods", nargs="*", help="ONNX int8: one export per calibration method")
    parser.add_argument("--out", default=str(RESULTS / "export_zoo"), help="output path without suffix")


def run(args: argparse.Namespace) -> int:
    """Sweep, then write the CSV, JSON (with the environment) and Markdown table."""
    import zoo
    from zoo.utils.environment import environment

    workdir = Path(tempfile.mkdtemp(prefix="aezoo-export-zoo-"))
    try:
        rows = sweep(args.entries or zoo.list_pretrained(kind="trained"), args.parts, workdir, args.formats, args.quantize,
                     args.fallback, args.calibration_methods)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = Path(args.out)
    write_csv(rows, out.with_suffix(".csv"), COLUMNS)
    command = "python -m benchmarks.export_zoo " + shlex.join(sys.argv[1:])
    write_json({"environment": environment(), "command": command.strip(), "rows": rows}, out.with_suffix(".json"))
    out.with_suffix(".md").write_text(markdown(rows))
    failed = [r for r in rows if not r["passed"]]
    print(f"{len(rows) - len(failed)} of {len(rows)} exports passed; results in {out}.csv/.json/.md")
    return 0


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry point."""
    return script_main(add_arguments, run, argv, prog=prog, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
