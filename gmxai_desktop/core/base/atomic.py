"""Atomic file writes: a reader (or a crash) only ever sees the old file or the complete new one.

Annotation files are hours of a clinician's work; a figure or manifest half-written by a killed
process is silently wrong. Every writer of user data goes through :func:`atomic_write_bytes`:
the data goes to a temporary file *in the same directory* (``os.replace`` is only atomic within
one file system), is flushed and fsynced, then renamed over the target, and the directory entry is
fsynced so the rename itself survives a power cut. If the process dies at any moment, the target
still holds its previous complete content; at worst a hidden ``.<name>.*.tmp`` file is left
behind, which :func:`remove_stale_temps` clears.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import GmxaiError

TEMP_SUFFIX = ".tmp"


class SaveError(GmxaiError):
    """A file could not be written (no permission, disk full, folder missing...)."""


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."


def _create_temp(directory: Path, target: Path) -> tuple[int, Path]:
    """Create a fresh hidden temp file beside ``target``.

    It is created with ``os.open(..., 0o666)``, so the kernel applies the process umask (and any
    default ACL of the folder) exactly as for a plain ``open(path, 'w')``. Reading the umask with
    ``os.umask`` would briefly change it for every thread of the process, which is not safe in
    the GUI (the worker thread writes caches while the main thread saves annotations).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = directory / f"{_temp_prefix(target)}{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {target.name}")


def _fsync_dir(directory: Path) -> None:
    """Persist the rename; not possible (nor needed) on Windows, where directories cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (e.g. certain network mounts) refuse fsync on directories
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None, newline: str | None = None
) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` atomically when the ``with`` block succeeds.

    If the block raises, the temporary file is removed and ``path`` is untouched. An existing
    target keeps its permission bits; a new one gets the usual ``0o666 & ~umask``.
    """
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open supports only 'w' and 'wb'")
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise SaveError(f"cannot save {target.name}: the folder {directory} does not exist")
    try:
        perms: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        perms = None  # the temp file was created with the usual default mode already
    except OSError as exc:
        raise SaveError(f"cannot save {target.name}: {exc.strerror or exc}") from exc
    try:
        fd, tmp = _create_temp(directory, target)
    except OSError as exc:
        raise SaveError(f"cannot save {target.name} in {directory}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if perms is not None:
            os.chmod(tmp, perms)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise SaveError(f"cannot save {target.name}: {exc.strerror or exc}") from exc
        raise
    _fsync_dir(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` never holds a partial file."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Text variant of :func:`atomic_write_bytes`; newlines are written as given (no translation)."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_save_npy(path: str | os.PathLike[str], array: Any) -> None:
    """``numpy.save`` through :func:`atomic_open`: a map file is complete or absent."""
    import numpy as np

    with atomic_open(path, "wb") as fh:
        np.save(fh, array)


def stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files that writers of ``path`` left behind (only a killed writer leaves one)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    prefix = _temp_prefix(target)
    try:
        return sorted(
            p
            for p in directory.iterdir()
            if p.name.startswith(prefix) and p.name.endswith(TEMP_SUFFIX) and p.is_file()
        )
    except OSError:
        return []


def remove_stale_temps(path: str | os.PathLike[str], older_than_s: float = 60.0) -> list[Path]:
    """Delete leftovers of killed saves of ``path``; returns what was removed.

    Leftovers can hold patient data, so they should not linger. Files younger than
    ``older_than_s`` are kept: they may belong to a save in progress in another process.
    """
    removed = []
    now = time.time()
    for p in stale_temps(path):
        try:
            if now - p.stat().st_mtime >= older_than_s:
                p.unlink()
                removed.append(p)
        except OSError:
            continue
    return removed
