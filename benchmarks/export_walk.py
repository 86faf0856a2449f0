"""How far one ``export.export_model`` call walks through the repository: steps, files, entries and climbs.

Traces (``sys.settrace``) one call of ``export.export_model(<a small ae_dense>, "onnx", ...)`` after an
untraced warm-up call (so lazy imports are not counted) and follows which repository file holds control.

Definitions, for a set of watched files (``export/`` and ``zoo/``; and ``export/`` alone):

- **Watched frame**: a Python frame whose code lives in a watched file. Frames of other code
  (Keras, TensorFlow, tf2onnx, numpy) are invisible: ``export/graph.py -> keras -> zoo/layers.py``
  is one step from ``graph.py`` to ``layers.py``.
- **Current file**: the file of the innermost watched frame on the call stack.
- **Walk**: the sequence of current files, each change appended once (consecutive repeats collapse).
- **Steps**: changes of the current file (``len(walk) - 1``); **files**: distinct files in the walk.
- **Entries** of a file: steps into it made by a call (not by a return).
- **Climb**: a call into a file that already has a frame further down the stack, from a frame of another
  file: a module lower in the call chain calling back up into a module that is waiting on it (a callback
  such as a ``build`` or ``check`` closure handed down, or a helper module importing its caller's helpers).
  Calls within one file never count, and neither do returns (every call returns).

Run it against another checkout with ``PYTHONPATH=/path/to/checkout``: the watched folders are those of the
``export`` package that gets imported.

    python -m benchmarks.export_walk [--show] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zoo.utils.cliargs import script_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class Walk:
    """The walk of one traced call through the watched files (see the module docstring)."""

    watched: tuple[str, ...]
    walk: list[str] = field(default_factory=list)
    entries: Counter = field(default_factory=Counter)
    climbs: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """Fixed keys: watched folders, steps, files, climbs, entries per file (most first)."""
        return {"watched": "+".join(self.watched), "steps": max(len(self.walk) - 1, 0),
                "files": len(set(self.walk)), "climbs": len(self.climbs),
                "entries": dict(self.entries.most_common()), "climb_calls": self.climbs}


class Tracer:
    """Follows the watched frames of several folder sets at once, with one ``sys.settrace`` hook."""

    def __init__(self, root: Path, folder_sets: list[tuple[str, ...]]) -> None:
        self.root = str(root) + os.sep
        self.walks = [Walk(folders) for folders in folder_sets]
        self.stacks: list[list[str]] = [[] for _ in folder_sets]
        self._names: dict[str, str | None] = {}

    def _relative(self, filename: str) -> str | None:
        if filename not in self._names:
            rel = filename[len(self.root):] if filename.startswith(self.root) else None
            self._names[filename] = rel if rel and rel.split(os.sep)[0] in {"export", "zoo"} else None
        return self._names[filename]

    def _move(self, i: int, called: str | None = None, caller: str | None = None) -> None:
        walk, stack = self.walks[i], self.stacks[i]
        current = stack[-1] if stack else None
        if current is None or (walk.walk and walk.walk[-1] == current):
            return
        walk.walk.append(current)
        if called is not None:
            walk.entries[current] += 1
            if caller is not None and current in stack[:-1]:
                walk.climbs.append(f"{caller} -> {current}")

    def __call__(self, frame, event, arg):
        if event != "call":
            return None
        rel = self._relative(frame.f_code.co_filename)
        if rel is None:
            return None
        watching = [i for i, w in enumerate(self.walks) if rel.split(os.sep)[0] in w.watched]
        if not watching:
            return None
        for i in watching:
            caller = self.stacks[i][-1] if self.stacks[i] else None
            self.stacks[i].append(rel)
            self._move(i, called=rel, caller=caller)
        frame.f_trace_lines = False

        def local(frame, event, arg):
            if event == "return":
                for i in watching:
                    self.stacks[i].pop()
                    self._move(i)
            return local

        return local


def small_model():
    """A small dense autoencoder on 28x28x1 (validated on the bundled MNIST sample as it is)."""
    import zoo

    return zoo.create_model("ae_dense", input_shape=(28, 28, 1), latent_dim=4, hidden_units=(32,))


def trace_export(fmt: str = "onnx", part: str = "encoder", warmup: bool = True) -> list[Walk]:
    """Walks (``export/`` + ``zoo/``, then ``export/`` alone) of one ``export_model`` call."""
    import export

    root = Path(export.__file__).resolve().parent.parent
    model = small_model()
    with tempfile.TemporaryDirectory(prefix="aezoo-walk-") as tmp:
        if warmup:
            export.export_model(model, fmt, Path(tmp) / "warmup", part=part)
        tracer = Tracer(root, [("export", "zoo"), ("export",)])
        sys.settrace(tracer)
        try:
            export.export_model(model, fmt, Path(tmp) / "traced", part=part)
        finally:
            sys.settrace(None)
    return tracer.walks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the script."""
    parser.add_argument("--format", default="onnx", help="export format (default onnx)")
    parser.add_argument("--part", default="encoder", help="part to export (default encoder)")
    parser.add_argument("--no-warmup", action="store_true", help="trace the first call (lazy imports included)")
    parser.add_argument("--show", action="store_true", help="print the walk of export/ file by file")
    parser.add_argument("--json", help="also write the summaries to this JSON file")


def run(args: argparse.Namespace) -> int:
    """Trace one export and print steps, files, climbs and entries per file."""
    walks = trace_export(args.format, args.part, warmup=not args.no_warmup)
    rows = [w.summary() for w in walks]
    for row in rows:
        print(f"{row['watched']:<12} steps {row['steps']:>5}  files {row['files']:>3}  climbs {row['climbs']:>3}")
    export_only = rows[-1]
    print("export/ entries: " + ", ".join(f"{k} {v}" for k, v in export_only["entries"].items()))
    if export_only["climb_calls"]:
        print("export/ climbs: " + ", ".join(f"{c} x{n}" for c, n in Counter(export_only["climb_calls"]).items()))
    if args.show:
        print(" -> ".join(walks[-1].walk))
    if args.json:
        Path(args.json).write_text(json.dumps([{**asdict(w), **w.summary()} for w in walks], indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    return script_main(add_arguments, run, argv, prog="python -m benchmarks.export_walk", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
