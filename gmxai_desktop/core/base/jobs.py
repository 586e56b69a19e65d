"""Progress reporting and cooperative cancellation shared by every long computation.

Workers (GUI thread pool, CLI loops) pass a :class:`JobControl` down into the core. Methods call
:meth:`JobControl.check` often (at least once per model forward, see
:func:`gmxai_desktop.core.attribution.methods.base.watch_forwards`), so a cancel takes effect within one
forward pass, a fraction of a second on the CPU for the supported models.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import Cancelled

ProgressCallback = Callable[[float, str], None]
"""Called with (fraction done in [0, 1], short human-readable message)."""


@dataclass
class JobControl:
    """Cancel flag plus progress sink for one job (or one step of a larger job)."""

    on_progress: ProgressCallback | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _last_report: float = 0.0
    min_interval_s: float = 0.03

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled."""
        if self._cancel.is_set():
            raise Cancelled()

    def report(self, fraction: float, message: str = "", force: bool = False) -> None:
        """Report progress, rate-limited so hot loops can call it freely."""
        self.check()
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or fraction >= 1.0 or now - self._last_report >= self.min_interval_s:
            self._last_report = now
            self.on_progress(min(max(fraction, 0.0), 1.0), message)

    def sub(self, start: float, end: float, prefix: str = "") -> JobControl:
        """A child control that maps its [0, 1] progress onto [start, end] of this one.

        The child shares this job's cancel flag, so cancelling the parent cancels every step.
        """
        parent = self

        def forward(frac: float, msg: str) -> None:
            if parent.on_progress is not None:
                parent.on_progress(start + (end - start) * frac, f"{prefix}{msg}")

        child = JobControl(on_progress=forward if self.on_progress else None)
        child._cancel = self._cancel
        return child

