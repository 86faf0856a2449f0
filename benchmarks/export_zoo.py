"""Export every pretrained entry to every format (and quantization) and tabulate the checks.

Formats and their quantize options come from the export registry
(``export.FORMATS``). Each export runs the same validation as ``aezoo export``
at the default tolerances; a failed check is recorded (with its reason) rather
than stopping the sweep. Writes ``benchmarks/results/export_zoo.{csv,json,md}``.

    python -m benchmarks.export_zoo [--entries ae_conv.mnist ...] [--parts encoder decoder]
        [--formats tflite] [--quantize float32 int8]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import RESULTS
from zoo.cliargs import script_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
#: What ``--quantize`` calls the unquantized export.
FLOAT32 = "float32"

COLUMNS = ["entry", "part", "format", "quantize", "size_bytes", "max_abs_error", "mean_abs_error", "atol",
           "mse_keras", "mse_export", "mse_delta_rel", "mse_rtol", "passed", "failures", "runtime", "export_seconds"]


def sweep(entries: list[str], parts: list[str], workdir: Path, formats: list[str] | None = None,
          quantize: list[str] | None = None) -> list[dict]:
    """Export every entry x part x format (x quantization); one row per export, failures included."""
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
                    target = workdir / f"{entry}.{part}.{name}.{q or FLOAT32}"
                    try:
                        report = export_model(model, name, target, part=part, quantize=q)
                    except ExportValidationError as err:
                        report = err.report
                    row = {k: getattr(report, k, None) for k in COLUMNS[2:]}
                    row.update(entry=entry, part=part, failures="; ".join(report.failures))
                    rows.append(row)
                    print(f"{entry:<24} {part:<8} {name:<12} {q or '-':<13} "
                          + f"max|err| {report.max_abs_error:.2e}  MSE {100 * report.mse_delta_rel:+.2f}%  "
                          + ("ok" if report.passed else "FAILED " + row["failures"]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """Entry x format table: size, max abs error and, for quantized TFLite, the MSE change."""
    lines = ["| entry | part | format | size | max abs err | recon. MSE change | check |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        fmt = r["format"] + (f" {r['quantize']}" if r["quantize"] else "")
        delta = f"{100 * r['mse_delta_rel']:+.2f}%" if r["quantize"] else "-"
        size = f"{r['size_bytes'] / 1024:.0f} KiB"
        lines.append(f"| {r['entry']} | {r['part']} | {fmt} | {size} | {r['max_abs_error']:.1e} | {delta} | "
                     + ("ok" if r["passed"] else "**fail**: " + r["failures"]) + " |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the sweep; the format and quantize choices are the registry's."""
    from export import FORMATS, PARTS, quantize_choices

    parser.add_argument("--entries", nargs="*", help="pretrained names (default: all)")
    parser.add_argument("--parts", nargs="*", default=["encoder", "decoder"], choices=list(PARTS))
    parser.add_argument("--formats", nargs="*", choices=list(FORMATS), help="only these formats (default: all)")
    parser.add_argument("--quantize", nargs="*", choices=[FLOAT32, *quantize_choices()],
                        help=f"only these options; {FLOAT32} names the unquantized export (default: all)")
    parser.add_argument("--out", default=str(RESULTS / "export_zoo"), help="output path without suffix")


def run(args: argparse.Namespace) -> int:
    """Sweep, then write the CSV, JSON (with the environment) and Markdown table."""
    import zoo
    from zoo.environment import environment

    workdir = Path(tempfile.mkdtemp(prefix="aezoo-export-zoo-"))
    try:
        rows = sweep(args.entries or zoo.list_pretrained(), args.parts, workdir, args.formats, args.quantize)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    out.with_suffix(".json").write_text(json.dumps({"environment": environment(), "rows": rows}, indent=2))
    out.with_suffix(".md").write_text(markdown(rows))
    failed = [r for r in rows if not r["passed"]]
    print(f"{len(rows) - len(failed)} of {len(rows)} exports passed; results in {out}.csv/.json/.md")
    return 0


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry point."""
    return script_main(add_arguments, run, argv, prog=prog, doc=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
