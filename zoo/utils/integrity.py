"""File integrity: SHA-256 of a file, a check against an expected hash, and the error it raises.

One module for every hash check of the zoo: pretrained cards and weights
(:mod:`zoo.pretrained`), saved anomaly detectors (:mod:`zoo.anomaly`), data
packs (:mod:`zoo.data.pack`) and training backups (:mod:`zoo.training.run`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Bytes read at a time while hashing (files can be larger than memory).
CHUNK_BYTES = 1 << 20


class ChecksumError(ValueError):
    """A file's (or a record's) SHA-256 differs from the expected one; nothing was loaded."""


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks.

    Args:
        path: The file.

    Returns:
        64 lowercase hex digits.

    Example:
        >>> sha256("zoo/pretrained/ae_conv.mnist.json")[:8]
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike, expected: str, what: str = "Weights file") -> Path:
    """Return ``path`` if it exists and its SHA-256 is ``expected``, else raise.

    Args:
        path: The file to check.
        expected: Its expected hex SHA-256 (either case).
        what: What the file is, for the message of a missing file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ChecksumError: Its SHA-256 differs; the message gives the received and the expected hash.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} missing: {path}")
    actual = sha256(path)
    if actual != str(expected).lower():
        raise ChecksumError(
            f"SHA-256 mismatch for {path}: expected {expected}, got {actual}. "
            + "The file is corrupted or not the one recorded; nothing was loaded."
        )
    return path


__all__ = ["ChecksumError", "sha256", "verify_file"]
