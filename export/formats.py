"""The export-format registry: one module per format registers one :class:`ExportFormat`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from zoo.registry import unknown_name_error

METADATA_KEY = "aezoo_metadata"


@dataclass
class Runner:
    """An exported artifact loaded in its own runtime: ``runner(x) -> outputs`` as numpy."""

    fn: Callable[[np.ndarray], np.ndarray]
    input_name: str
    output_name: str
    runtime: str
    input_shape: tuple  # per example, without the batch axis

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.fn(np.ascontiguousarray(x, dtype=np.float32)))


class ExportFormat:
    """Base class of a format: how to write an artifact and how to run it.

    Subclasses set ``name``, ``artifact`` (file or folder name inside the export
    folder), ``runtime``, ``quantize`` (the options the format accepts) and
    ``calibrated`` (those that need representative inputs), and implement
    :meth:`write`, :meth:`load` and :meth:`read_metadata`.
    """

    name: str = ""
    artifact: str = ""
    runtime: str = ""
    quantize: tuple[str, ...] = ()
    calibrated: tuple[str, ...] = ()

    def write(self, graph: keras.Model, path: Path, *, metadata: dict, quantize: str | None = None,
              calibration: np.ndarray | None = None, opset: int | None = None) -> dict:
        """Write ``graph`` to ``path``; return format-specific facts for the report."""
        raise NotImplementedError

    def load(self, path: Path) -> Runner:
        raise NotImplementedError

    def read_metadata(self, path: Path) -> dict:
        raise NotImplementedError

    def option_details(self, quantize: str | None) -> str:
        """One line on what ``quantize`` means in this format (shown in reports and docs)."""
        return "float32"


FORMATS: dict[str, ExportFormat] = {}


def register_format(cls: type[ExportFormat]) -> type[ExportFormat]:
    """Class decorator: add a format to :data:`FORMATS` under ``cls.name`` (names are unique)."""
    if cls.name in FORMATS:
        raise ValueError(f"Export format {cls.name!r} is already registered.")
    FORMATS[cls.name] = cls()
    return cls


def get_format(name: str) -> ExportFormat:
    """The registered :class:`ExportFormat` called ``name`` (close matches suggested otherwise)."""
    if name not in FORMATS:
        raise unknown_name_error("export format", name, sorted(FORMATS))
    return FORMATS[name]


def check_quantize(fmt: ExportFormat, quantize: str | None) -> str | None:
    """Return ``quantize`` if ``fmt`` offers it (or it is None), else raise listing what it offers."""
    if quantize is not None and quantize not in fmt.quantize:
        offered = ", ".join(fmt.quantize) if fmt.quantize else "none (float32 only)"
        raise ValueError(f"Format {fmt.name!r} has no quantize={quantize!r} option; it offers: {offered}.")
    return quantize


def single_key(mapping: Iterable[str], what: str) -> str:
    """The only key of ``mapping``; models here have exactly one input and one output."""
    keys = list(mapping)
    if len(keys) != 1:
        raise ValueError(f"Expected one {what}, found {keys}.")
    return keys[0]
