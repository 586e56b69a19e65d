"""A folder figure export in flight: one compute-worker job per image, progress over all of them,
cancel, and a summary of what was written and what failed.

Kept apart from the dialog so the dialog only validates the request and shows the outcome; the
jobs themselves come from the figure host (they prepare, explain and save one figure each).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..core.base.jobs import JobControl
from .worker import ComputeWorker

PRIORITY_FIGURE_BATCH = 40  # after the current image's maps (20-30), before thumbnail predictions (50)

_batch_ids = itertools.count(1)


@dataclass(frozen=True)
class FigureBatchKey:
    """Worker key of one image of a folder export (never equal to the controller's keys)."""

    batch: int
    index: int
    image: str


class FigureBatch(QObject):
    """Runs one folder export; ``finished`` fires exactly once (also on cancel)."""

    progress = Signal(int, int, float)  # images done, images in total, overall fraction
    finished = Signal(int, int, list, bool)  # written, total, [(image name, message)], cancelled

    def __init__(self, worker: ComputeWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = worker
        self._id = next(_batch_ids)
        self._total = 0
        self._done = 0
        self._written = 0
        self._failed: list[tuple[str, str]] = []
        self._fractions: dict[int, float] = {}
        self._cancelled = False
        self._running = False

    def start(self, paths: Sequence[Path], jobs: Sequence[Callable[[JobControl], Any]]) -> None:
        self._total, self._running = len(paths), True
        w = self._worker
        w.listen(self)
        for i, (path, fn) in enumerate(zip(paths, jobs, strict=True)):
            key = FigureBatchKey(self._id, i, str(path))
            w.submit(key, fn, PRIORITY_FIGURE_BATCH, f"figure {i + 1} of {len(paths)}")

    def cancel(self) -> None:
        """Queued jobs are dropped and the running one stops before it writes its file, so the
        batch ends now; late signals of this batch are ignored."""
        if not self._running:
            return
        self._cancelled = True
        batch_id = self._id
        self._worker.cancel_where(lambda k: isinstance(k, FigureBatchKey) and k.batch == batch_id)
        self._end()

    def _mine(self, key: Hashable) -> bool:
        return self._running and isinstance(key, FigureBatchKey) and key.batch == self._id

    def _on_progress(self, key: Hashable, fraction: float, _message: str) -> None:
        if self._mine(key):
            self._fractions[key.index] = fraction  # type: ignore[attr-defined]
            self._emit_progress()

    def _emit_progress(self) -> None:
        frac = (self._done + sum(self._fractions.values())) / max(self._total, 1)
        self.progress.emit(self._done, self._total, frac)

    def _step_done(self, key: FigureBatchKey) -> None:
        self._fractions.pop(key.index, None)
        self._done += 1
        self._emit_progress()
        if self._done >= self._total:
            self._end()

    def _on_finished(self, key: Hashable, _result: Any, _seconds: float) -> None:
        if self._mine(key):
            self._written += 1
            self._step_done(key)  # type: ignore[arg-type]

    def _on_failed(self, key: Hashable, message: str) -> None:
        if self._mine(key):
            self._failed.append((Path(key.image).name, message))  # type: ignore[attr-defined]
            self._step_done(key)  # type: ignore[arg-type]

    def _on_cancelled(self, key: Hashable) -> None:
        if self._mine(key):
            self._cancelled = True
            self._step_done(key)  # type: ignore[arg-type]

    def _end(self) -> None:
        self._running = False
        w = self._worker
        w.progress.disconnect(self._on_progress)
        w.finished.disconnect(self._on_finished)
        w.failed.disconnect(self._on_failed)
        w.cancelled.disconnect(self._on_cancelled)
        self.finished.emit(self._written, self._total, list(self._failed), self._cancelled)


__all__ = ["PRIORITY_FIGURE_BATCH", "FigureBatch", "FigureBatchKey"]
