"""The one file-hash helper: annotations identify images, embedding caches key records and
checkpoints are fingerprinted by the SHA-256 of the file's bytes."""

from __future__ import annotations

import hashlib
import os

CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (checkpoints can be gigabytes and must
    not be held in memory twice). Raises ``OSError``; callers turn it into their own user error."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
