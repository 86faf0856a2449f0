"""The export-format registry: each module of ``export/formats/`` registers one :class:`ExportFormat`.

A format declares everything the rest of the code asks about it: its artifact's
name and file suffix, how to recognise one on disk, its quantize options with
their default tolerances, its extra write options, and the runtime label the
benchmarks use. The CLI, ``load_artifact``, the benchmarks and the quickstart
read those declarations, so adding a format is adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from zoo.utils.checks import unknown_name_error

METADATA_KEY = "aezoo_metadata"


@dataclass
class Runner:
    """An exported artifact loaded in its own runtime: ``runner(x) -> outputs`` as numpy.

    An artifact with one output (every model part) returns its array; one with
    several (an exported detector: ``scores`` and ``error_maps``) returns a dict
    name -> array. :meth:`outputs` always returns the dict.

    Attributes:
        fn: The runtime call on a contiguous float32 batch: an array, or a dict of arrays.
        input_name: The input tensor's name.
        output_name: The output tensor's name; with several outputs, their names joined by ``", "``.
        runtime: The runtime and its version, for reports.
        input_shape: Per-example input shape, without the batch axis.
        output_names: Every output's name (filled from ``output_name`` for one output).
        input_dtype: The input's dtype: ``"float32"``, or ``"int32"`` for a VQ-VAE's index decoder.
    """

    fn: Callable[[np.ndarray], np.ndarray | dict[str, np.ndarray]]
    input_name: str
    output_name: str
    runtime: str
    input_shape: tuple  # per example, without the batch axis
    output_names: tuple[str, ...] = ()
    input_dtype: str = "float32"

    def __post_init__(self) -> None:
        self.output_names = tuple(self.output_names) or (self.output_name,)

    @classmethod
    def of(cls, fn: Callable[[np.ndarray], dict[str, np.ndarray]], input_name: str, output_names: Iterable[str],
           runtime: str, input_shape: tuple, input_dtype: str = "float32") -> Runner:
        """A runner over ``fn``, which returns every output by name; a single output comes back as its array."""
        names = tuple(output_names)
        if len(names) == 1:
            return cls(lambda x: fn(x)[names[0]], input_name, names[0], runtime, input_shape, (), input_dtype)
        return cls(fn, input_name, ", ".join(names), runtime, input_shape, names, input_dtype)

    def __call__(self, x: np.ndarray) -> np.ndarray | dict[str, np.ndarray]:
        x = np.asarray(x)
        if np.issubdtype(np.dtype(self.input_dtype), np.integer) and not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"This artifact's input {self.input_name!r} takes {self.input_dtype} values. "
                             + f"Received: dtype={x.dtype}")
        out = self.fn(np.ascontiguousarray(x, dtype=self.input_dtype))
        if isinstance(out, dict):
            return {name: np.asarray(value) for name, value in out.items()}
        return np.asarray(out)

    def outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of ``x`` by name (also for a one-output artifact)."""
        out = self(x)
        return out if isinstance(out, dict) else {self.output_name: out}


@dataclass(frozen=True)
class QuantizeOption:
    """One ``quantize=`` choice of a format.

    Attributes:
        description: What it does to weights, activations and I/O (shown in reports as ``precision``).
        mse_rtol: Default bound on the relative growth of the sample's reconstruction MSE.
        calibrated: Whether it needs representative inputs (``calibration_data``).
        fallback: Whether layers can be kept in float (``fallback="auto"``); the format
            then implements :meth:`ExportFormat.calibrate`.
    """

    description: str
    mse_rtol: float
    calibrated: bool = False
    fallback: bool = False


class Calibrated:
    """A part calibrated once for a quantize option, ready to be written with chosen layers kept in float.

    :meth:`ExportFormat.calibrate` returns one; ``export_model`` asks it for the
    per-layer errors and writes as many artifacts as the float fallback needs
    without calibrating again.
    """

    def layer_errors(self) -> list:
        """Per-layer error of int8 against float activations on the calibration data
        (:class:`export.quantization.LayerError`, worst first)."""
        raise NotImplementedError

    def write(self, path: Path, *, metadata: dict, float_layers: tuple[str, ...] = ()) -> dict:
        """Write the artifact with the layers named in ``float_layers`` (``LayerError.name``) left in float."""
        raise NotImplementedError


@dataclass(frozen=True)
class FormatOption:
    """An extra keyword a format's :meth:`ExportFormat.write` takes (the CLI adds ``--NAME`` for it).

    Attributes:
        type: Converts the command-line text (``int``, ``float``, ``str``).
        help: One line for ``--help``.
    """

    type: Callable[[str], Any]
    help: str


class ExportFormat:
    """Base class of a format: what it is called, how to write an artifact and how to run it.

    Subclasses set the class attributes below and implement :meth:`write`,
    :meth:`load` and :meth:`read_metadata`; decorating the class with
    :func:`register_format` in a module of ``export/formats/`` is all the
    wiring there is.

    Attributes:
        name: Registry key and ``--format`` choice, e.g. ``"onnx"``.
        title: Name for people, e.g. ``"ONNX"``.
        artifact: The artifact's name inside an export folder, e.g. ``"model.onnx"``.
        suffix: File suffix of a single-file artifact (``".onnx"``); None for folder artifacts.
        label: Runtime label of benchmark rows and ``runtime_variants`` (``"onnxruntime"``).
        order: Position in listings (CLI choices, benchmarks, quickstart); ties go by name.
        quantize_options: ``quantize`` name -> :class:`QuantizeOption`.
        featured_quantize: Variants benchmarked and shown in the quickstart (None is float32).
        options: Extra ``write`` keywords -> :class:`FormatOption` (e.g. ONNX's ``opset``).
    """

    name: str = ""
    title: str = ""
    artifact: str = ""
    suffix: str | None = None
    label: str = ""
    order: int = 100
    quantize_options: dict[str, QuantizeOption] = {}
    featured_quantize: tuple[str | None, ...] = (None,)
    options: dict[str, FormatOption] = {}

    @property
    def quantize(self) -> tuple[str, ...]:
        """The quantize options this format offers, in declaration order."""
        return tuple(self.quantize_options)

    @property
    def calibrated(self) -> tuple[str, ...]:
        """The quantize options that need representative inputs."""
        return tuple(q for q, opt in self.quantize_options.items() if opt.calibrated)

    @property
    def kind(self) -> str:
        """What its artifacts look like on disk, for messages ("a .onnx file")."""
        return f"a {self.suffix} file" if self.suffix else f"a {self.title or self.name} folder"

    def matches(self, path: Path) -> bool:
        """Whether ``path`` is an artifact of this format (default: a file with :attr:`suffix`)."""
        return self.suffix is not None and path.is_file() and path.suffix == self.suffix

    def write(self, graph: keras.Model, path: Path, *, metadata: dict, quantize: str | None = None,
              calibration: np.ndarray | None = None, **options: Any) -> dict:
        """Write ``graph`` to ``path``; return format-specific facts for the report.

        Args:
            graph: The part, with one named input and a dict output (one key for a part;
                ``scores`` and ``error_maps`` for a detector).
            path: Where the artifact goes (a file or a folder; its parent exists).
            metadata: JSON-ready facts to embed in the artifact.
            quantize: One of :attr:`quantize_options`, or None for float32.
            calibration: Representative inputs, for calibrated options.
            **options: Values of the declared :attr:`options` that were given.

        Returns:
            Extra facts recorded under the report's ``details``.
        """
        raise NotImplementedError

    def load(self, path: Path) -> Runner:
        """The artifact at ``path`` as a :class:`Runner` in this format's runtime (every output of it)."""
        raise NotImplementedError

    def read_metadata(self, path: Path) -> dict:
        """The metadata :meth:`write` embedded."""
        raise NotImplementedError

    def calibrate(self, graph: keras.Model, workdir: Path, *, quantize: str, calibration: np.ndarray,
                  **options: Any) -> Calibrated:
        """Calibrate ``graph`` for a quantize option declared with ``fallback=True``.

        Args:
            graph: The part, as for :meth:`write`.
            workdir: A scratch folder (the export's staging folder).
            quantize: The option.
            calibration: Representative inputs of the part.
            **options: Values of the declared :attr:`options` that were given.
        """
        raise NotImplementedError(f"{self.name} offers no float fallback.")

    @property
    def fallback(self) -> tuple[str, ...]:
        """The quantize options whose layers can be kept in float (``fallback="auto"``)."""
        return tuple(q for q, opt in self.quantize_options.items() if opt.fallback)

    def option_details(self, quantize: str | None) -> str:
        """One line on what ``quantize`` means in this format (shown in reports and docs)."""
        return "float32" if quantize is None else self.quantize_options[quantize].description


FORMATS: dict[str, ExportFormat] = {}


def _sort() -> None:
    ordered = sorted(FORMATS.values(), key=lambda f: (f.order, f.name))
    FORMATS.clear()
    FORMATS.update((f.name, f) for f in ordered)


def register_format(cls: type[ExportFormat]) -> type[ExportFormat]:
    """Class decorator: add a format to :data:`FORMATS` under ``cls.name`` (names are unique)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no `name`.")
    if cls.name in FORMATS:
        raise ValueError(f"Export format {cls.name!r} is already registered.")
    FORMATS[cls.name] = cls()
    _sort()
    return cls


def unregister_format(name: str) -> ExportFormat:
    """Remove a format from :data:`FORMATS` (for tests and plug-ins); returns it."""
    return FORMATS.pop(get_format(name).name)


def get_format(name: str) -> ExportFormat:
    """The registered :class:`ExportFormat` called ``name`` (close matches suggested otherwise)."""
    if name not in FORMATS:
        raise unknown_name_error("export format", name, list(FORMATS))
    return FORMATS[name]


def import_formats(package: str = "export.formats") -> list[str]:
    """Import every module of ``package`` so that each registers its format; returns their names."""
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names


def check_quantize(fmt: ExportFormat, quantize: str | None) -> str | None:
    """Return ``quantize`` if ``fmt`` offers it (or it is None), else raise listing what it offers."""
    if quantize is not None and quantize not in fmt.quantize_options:
        offered = ", ".join(fmt.quantize) if fmt.quantize else "none (float32 only)"
        raise ValueError(f"Format {fmt.name!r} has no quantize={quantize!r} option; it offers: {offered}.")
    return quantize


def check_options(fmt: ExportFormat, options: dict[str, Any]) -> dict[str, Any]:
    """The given (not None) ``options``, if ``fmt`` declares each; else raise naming what it takes."""
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(fmt.options))
    if unknown:
        takes = ", ".join(fmt.options) or "no extra options"
        owners = sorted(f.name for f in FORMATS.values() if unknown[0] in f.options)
        hint = f" ({unknown[0]!r} is an option of {', '.join(owners)})" if owners else ""
        raise ValueError(f"Format {fmt.name!r} has no option {unknown[0]!r}{hint}; it takes: {takes}.")
    return given


def quantize_choices(calibrated_only: bool = False) -> list[str]:
    """Every quantize option of the registered formats (or only the calibrated ones), without repeats."""
    return list(dict.fromkeys(q for fmt in FORMATS.values()
                              for q in (fmt.calibrated if calibrated_only else fmt.quantize)))


def default_mse_rtol(format: str, quantize: str) -> float:  # noqa: A002 - as in export_model
    """The default bound on reconstruction-MSE growth of ``format`` quantized with ``quantize``."""
    fmt = get_format(format)
    return fmt.quantize_options[check_quantize(fmt, quantize)].mse_rtol


class RuntimeVariant(NamedTuple):
    """A runtime to benchmark: its row label, and the export that runs in it."""

    label: str
    format: str
    quantize: str | None


def runtime_variants() -> list[RuntimeVariant]:
    """The featured export variants of every format, in :data:`FORMATS` order.

    Labels are the format's :attr:`~ExportFormat.label`, with ``_QUANTIZE``
    appended for quantized variants: today ``saved_model``, ``onnxruntime``,
    ``litert`` and ``litert_int8``.

    Example:
        >>> [v.label for v in runtime_variants()]
        ['saved_model', 'onnxruntime', 'litert', 'litert_int8']
    """
    return [RuntimeVariant(fmt.label + (f"_{q}" if q else ""), fmt.name, q)
            for fmt in FORMATS.values() for q in fmt.featured_quantize]


def single_key(mapping: Iterable[str], what: str) -> str:
    """The only key of ``mapping``; every exported graph has exactly one input."""
    keys = list(mapping)
    if len(keys) != 1:
        raise ValueError(f"Expected one {what}, found {keys}.")
    return keys[0]


def output_keys(mapping: Iterable[str], what: str) -> list[str]:
    """The keys of ``mapping``, at least one: a part has one output, a detector two (``scores``, ``error_maps``)."""
    keys = list(mapping)
    if not keys:
        raise ValueError(f"Expected at least one {what}, found none.")
    return keys
