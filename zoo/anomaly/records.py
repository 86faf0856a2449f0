"""Saved detector records: JSON that carries its own SHA-256, checked before anything is loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from zoo.utils.atomic import write_text_atomic
from zoo.utils.integrity import ChecksumError

FORMAT_VERSION = 1


class DetectorIntegrityError(ChecksumError):
    """A saved detector's files do not match their recorded SHA-256; nothing was loaded."""


def write_record(path: Path, record: dict) -> None:
    """Write ``record`` as JSON with its own SHA-256 (``record_sha256``), which :func:`read_record` checks."""
    record["record_sha256"] = _record_digest(record)
    write_text_atomic(path, json.dumps(record, indent=1) + "\n")


def read_record(path: Path, what: str) -> dict:
    """A saved JSON record after checking its own ``record_sha256``; :class:`DetectorIntegrityError` if it fails."""
    if not path.is_file():
        raise FileNotFoundError(f"No {what} at {path.parent}: {path.name} is missing.")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DetectorIntegrityError(f"{path} is not valid JSON ({err}); nothing was loaded.") from err
    if not isinstance(record, dict) or record.get("record_sha256") != _record_digest(record):
        raise DetectorIntegrityError(f"{path} was edited after it was saved (its SHA-256 does not match); "
                                     + "nothing was loaded.")
    return record


def _record_digest(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
