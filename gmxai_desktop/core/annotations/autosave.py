"""Autosave beside the file (or in a recovery folder for untitled documents) and recovery after
a crash."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..base.atomic import atomic_write_text
from .document import AnnotationDocument
from .fileformat import AUTOSAVE_SUFFIX, FILE_SUFFIX, autosave_path, discard_autosave, dumps, load_document
from .geometry import AnnotationError
from .image import ImageRef


def untitled_autosave_path(recovery_dir: str | os.PathLike[str], image: ImageRef) -> Path:
    """Autosave location for a document never saved: keyed by the image hash, not its name."""
    return Path(recovery_dir) / f"{image.sha256[:32]}{FILE_SUFFIX}{AUTOSAVE_SUFFIX}"


def write_autosave(doc: AnnotationDocument, path: str | os.PathLike[str]) -> Path:
    """Atomically write the autosave for a document saved (or to be saved) at ``path``.

    ``path`` may already be an autosave path (see :func:`untitled_autosave_path`).
    """
    p = Path(path)
    target = p if p.name.endswith(AUTOSAVE_SUFFIX) else autosave_path(p)
    atomic_write_text(target, dumps(doc))
    return target


@dataclass
class Recovery:
    """An autosave that holds work the saved file does not: offer it to the user.

    Accept with :meth:`restore` (the document comes back marked unsaved, so closing it asks to
    save; the autosave stays until then), decline with :meth:`discard`.
    """

    autosave: Path
    document: AnnotationDocument
    autosave_time: float
    saved_time: float | None
    regions_in_autosave: int
    regions_in_saved: int | None

    def restore(self) -> AnnotationDocument:
        self.document.mark_unsaved()
        return self.document

    def discard(self) -> None:
        discard_autosave(self.autosave)


def find_recovery(path: str | os.PathLike[str]) -> Recovery | None:
    """Check for unsaved work after a crash, before opening ``path``.

    An autosave is offered when it exists, parses, is not older than the saved file, and differs
    from it. (A normal save or a user's "discard" deletes the autosave, so one that survives
    means the session ended without either.) An unreadable autosave is not offered.
    """
    p = Path(path)
    auto = p if p.name.endswith(AUTOSAVE_SUFFIX) else autosave_path(p)
    saved = p.with_name(p.name[: -len(AUTOSAVE_SUFFIX)]) if p.name.endswith(AUTOSAVE_SUFFIX) else p
    try:
        a_stat = auto.stat()
    except OSError:
        return None
    try:
        recovered = load_document(auto)
    except AnnotationError:
        return None
    saved_time = None
    saved_regions = None
    try:
        s_stat = saved.stat()
    except OSError:
        s_stat = None
    if s_stat is not None:
        saved_time = s_stat.st_mtime
        if a_stat.st_mtime_ns < s_stat.st_mtime_ns:
            return None
        try:
            saved_doc = load_document(saved)
            saved_regions = len(saved_doc)
            if saved_doc.content_equal(recovered):
                return None
        except AnnotationError:
            pass  # a damaged saved file: the autosave is all the more worth offering
    return Recovery(auto, recovered, a_stat.st_mtime, saved_time, len(recovered), saved_regions)


def list_untitled_recoveries(recovery_dir: str | os.PathLike[str]) -> list[Recovery]:
    """Autosaves of never-saved documents in ``recovery_dir`` (to offer at start-up)."""
    d = Path(recovery_dir)
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob(f"*{FILE_SUFFIX}{AUTOSAVE_SUFFIX}")):
        rec = find_recovery(p)
        if rec is not None:
            out.append(rec)
    return out


class Autosaver:
    """Writes the autosave when the document changed and ``interval_s`` passed since the last one.

    Qt-free: the GUI calls :meth:`tick` from a timer (and on focus-out); the CLI never needs it.
    ``target`` is the saved file's path (autosave goes beside it) or an untitled autosave path.
    """

    def __init__(
        self,
        doc: AnnotationDocument,
        target: str | os.PathLike[str],
        interval_s: float = 20.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.doc = doc
        self.target = Path(target)
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._last_revision = doc.revision
        self._last_time = -math.inf

    def due(self) -> bool:
        return (
            self.doc.revision != self._last_revision
            and self._monotonic() - self._last_time >= self.interval_s
        )

    def tick(self, force: bool = False) -> Path | None:
        """Autosave if due (or now, with ``force``); returns the file written, if any.

        When the user undid back to the saved state, the autosave is deleted instead: offering
        to "recover" edits the user took back would be wrong.
        """
        if self.doc.revision == self._last_revision or not (force or self.due()):
            return None
        self._last_revision = self.doc.revision
        self._last_time = self._monotonic()
        if not self.doc.is_modified:
            discard_autosave(self.target)
            return None
        return write_autosave(self.doc, self.target)
