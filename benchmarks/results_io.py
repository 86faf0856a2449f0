"""Reading and writing benchmark results: every script's CSV and JSON files go through here.

CSV files hold flat rows (one per measurement, a fixed header); JSON files hold
the same rows plus the run's record (command, environment, probes). Reading a
CSV back restores numbers, booleans and ``None``, so a report computes on the
values a run wrote.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

#: Results land here, relative to the working directory (the repository's copy when run from its root).
RESULTS = Path("benchmarks") / "results"


def write_csv(rows: Iterable[dict], path: str | os.PathLike, keys: Sequence[str], *, extra: str = "raise",
              lineterminator: str = "\r\n") -> Path:
    """Write ``rows`` under the header ``keys`` (``None`` as an empty cell); the path written.

    Args:
        rows: Rows as dicts.
        path: The CSV file (its folder is made).
        keys: The header, in order.
        extra: ``"raise"`` on a row key outside ``keys``, or ``"ignore"`` to drop it.
        lineterminator: Line ending (the csv module's default, ``\\r\\n``, unless a file always had another).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(keys), extrasaction=extra, lineterminator=lineterminator)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(data: dict, path: str | os.PathLike, *, indent: int = 2,
               default: Callable[[object], object] | None = None) -> Path:
    """Write ``data`` as indented JSON (``default`` turns other values into JSON ones); the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent, default=default) + "\n")
    return path


def _restore(value: str):
    """A CSV cell's value: ``None`` for an empty cell, an int or float where it parses, a boolean, else the text."""
    if value in ("", "None"):
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(value, value)


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a results CSV with numbers, booleans and ``None`` restored."""
    with open(path, newline="") as f:
        return [{k: _restore(v) for k, v in row.items()} for row in csv.DictReader(f)]


def read_json(path: str | os.PathLike) -> dict:
    """A results JSON file (rows and the run's record)."""
    return json.loads(Path(path).read_text())
