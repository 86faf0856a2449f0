"""Where an export goes, and publishing it atomically: staged in a hidden folder beside it, renamed into place.

``destination`` checks the path before anything is built; ``staging`` gives the staged artifact path
and removes the staging folder however the export ends; ``publish_export`` renames a passed export
into place (and raises :class:`ExportValidationError` for a failed one).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Destination:
    """Where an export goes, checked before anything is built.

    Attributes:
        fmt: The format.
        path: The artifact file (``as_file``) or the export folder to create.
        as_file: Whether ``path`` is the artifact itself (its report goes beside it).
        overwrite: Replace an existing export at ``path``.
    """

    fmt: ExportFormat
    path: Path
    as_file: bool
    overwrite: bool = False

    @property
    def artifact(self) -> Path:
        """Where the artifact lands: ``path`` itself, or the format's artifact inside the folder ``path``."""
        return self.path if self.as_file else self.path / self.fmt.artifact


def destination(fmt: ExportFormat, path: str | os.PathLike, *, layout: str = "auto",
                overwrite: bool = False) -> Destination:
    """The :class:`Destination` of an export to ``path``: a file or a folder (:func:`artifact_is_file`).

    Raises:
        ValueError: ``path`` ends in another format's suffix, or ``layout`` is unknown.
        FileExistsError: Something is there (or, for a file, at its report's path) and not ``overwrite``.
    """
    path = Path(path)
    as_file = artifact_is_file(fmt, path, layout)
    check_free([path, report_path(path)] if as_file else [path], overwrite)
    return Destination(fmt, path, as_file, overwrite)


@contextmanager
def staging(dest: Destination) -> Iterator[Path]:
    """A staged artifact path in a fresh hidden folder beside ``dest.path``, removed on the way out.

    Whatever happens inside (a failed check, an error, Ctrl-C), nothing but a published export is
    left: :func:`publish_export` renames the staged files into place, and the folder goes at exit.
    """
    tmp = staging_folder(dest.path)
    try:
        tmp.mkdir(parents=True)
        yield tmp / (dest.path.name if dest.as_file else dest.fmt.artifact)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def publish_export(dest: Destination, artifact: Path, report: ExportReport) -> ExportReport:
    """Put a staged, checked artifact and its report at ``dest``, if the report passed.

    Args:
        dest: Where it goes.
        artifact: The staged artifact (from :func:`staging`).
        report: Its validation report; its ``path`` becomes the published artifact's.

    Raises:
        ExportValidationError: The report did not pass; ``dest.path`` is untouched.
    """
    report.path = str(dest.artifact)
    if not report.passed:
        raise ExportValidationError(report, dest.path)
    if dest.as_file:
        publish([(artifact, dest.path), (report.save(artifact), report_path(dest.path))], dest.overwrite)
    else:
        report.save(artifact.parent)
        publish([(artifact.parent, dest.path)], dest.overwrite)
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
