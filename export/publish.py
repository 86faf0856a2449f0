"""Atomic publishing of an export: staged in a hidden folder beside the target, renamed into place at the end."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from export.registry import FORMATS, ExportFormat
from export.report import ExportReport, report_path
from zoo.utils.checks import check_choice

STAGING = ".{name}.partial-"
#: ``layout`` values of :func:`export.export_model`.
LAYOUTS = ("auto", "folder")


class ExportValidationError(ValueError):
    """An export did not reproduce the Keras model; nothing was left at the target path."""

    def __init__(self, report: ExportReport, target: Path) -> None:
        self.report = report
        super().__init__(
            f"{report.format} export of {report.model_name} ({report.part}"
            + (f", {report.quantize}" if report.quantize else "") + ") failed validation in "
            + f"{report.runtime}: {'; '.join(report.failures)}. Nothing was written to {target}."
        )


def artifact_is_file(fmt: ExportFormat, path: str | os.PathLike, layout: str = "auto") -> bool:
    """Whether an export to ``path`` is the artifact file itself (``path`` ends in the format's suffix).

    Raises:
        ValueError: ``path`` ends in the suffix of another format.
    """
    path = Path(path)
    if check_choice("layout", layout, LAYOUTS) == "folder":
        return False
    if fmt.suffix is not None and path.suffix == fmt.suffix:
        return True
    others = {f.suffix: f.name for f in FORMATS.values() if f.suffix and f is not fmt}
    if path.suffix in others:
        hint = f"a path ending in {fmt.suffix} or" if fmt.suffix else "as"
        raise ValueError(f"{path} ends in {path.suffix}, the suffix of {others[path.suffix]} artifacts; "
                         + f"export to {fmt.name} {hint} a folder name without that suffix.")
    return False


def export_name(name: str, part: str, fmt: ExportFormat, quantize: str | None = None) -> str:
    """The file (or folder) name an export gets in an output folder: ``NAME_PART[-QUANT]`` plus the format's suffix.

    ``tae.flux2_encoder.onnx``, ``ae_conv.mnist_decoder-int8.tflite``: a file Netron and the runtimes
    open directly. A format without a file suffix (SavedModel) gets a folder ``NAME_PART[-QUANT].FORMAT``.
    """
    return f"{name}_{part}" + (f"-{quantize}" if quantize else "") + (fmt.suffix or f".{fmt.name}")


def size_bytes(path: Path) -> int:
    """Size of an artifact: a file, or every file of a folder."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def stage_export(fmt: ExportFormat, target: Path, *, as_file: bool, overwrite: bool,
                 build: Callable[[Path], ExportReport], validation_inputs: str) -> ExportReport:
    """Build an export in a staging folder beside ``target`` and publish it there only if it passed.

    Args:
        fmt: The format.
        target: The artifact file (``as_file``) or the export folder to create.
        as_file: Whether ``target`` is the artifact itself (its report goes beside it).
        overwrite: Replace an existing export at ``target``.
        build: Writes the artifact at the staged path it is given and returns the checked report.
        validation_inputs: What the checks ran on, for the report.

    Raises:
        ExportValidationError: The report did not pass; ``target`` is untouched.
    """
    tmp = staging_folder(target)
    try:
        tmp.mkdir(parents=True)
        artifact = tmp / (target.name if as_file else fmt.artifact)
        start = time.perf_counter()
        report = build(artifact)
        report.path = str(target if as_file else target / fmt.artifact)
        report.export_seconds = round(time.perf_counter() - start, 3)
        report.validation_inputs = validation_inputs
        if not report.passed:
            raise ExportValidationError(report, target)
        if as_file:
            publish([(artifact, target), (report.save(artifact), report_path(target))], overwrite)
        else:
            report.save(tmp)
            publish([(tmp, target)], overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return report


def check_free(paths: list[Path], overwrite: bool) -> None:
    """Raise ``FileExistsError`` if one of ``paths`` exists and ``overwrite`` is False."""
    for path in paths:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it.")


def staging_folder(target: Path) -> Path:
    """A fresh hidden folder name beside ``target`` (``.NAME.partial-PID-XXXXXXXX``), not yet created.

    Folders of the same pattern that a killed export left behind are removed
    first; the process id in the name spares those of exports still running.
    """
    prefix = STAGING.format(name=target.name)
    for leftover in target.parent.glob(prefix + "*"):
        pid = leftover.name[len(prefix):].split("-")[0]
        if not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(leftover, ignore_errors=True)
    return target.with_name(f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return False  # os.kill(pid, 0) would end the process elsewhere
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def publish(moves: list[tuple[Path, Path]], overwrite: bool) -> None:
    """Rename each finished ``(staged, final)`` path into place.

    Existing finals (allowed only with ``overwrite``) are set aside first and
    removed once every new path is in; if a rename fails, they are put back.
    """
    check_free([final for _, final in moves], overwrite)
    old: list[tuple[Path, Path]] = []
    for _, final in moves:
        if final.exists() or final.is_symlink():
            old.append((final, final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")))
            final.rename(old[-1][1])
    done: list[Path] = []
    try:
        for staged, final in moves:
            staged.rename(final)
            done.append(final)
    except OSError:
        for final in done:
            _remove(final)
        for final, backup in old:
            backup.rename(final)
        raise
    for _, backup in old:
        _remove(backup)
