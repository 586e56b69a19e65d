"""One background thread that runs every core computation, in priority order.

Torch, face detection and image decoding for model input never run on the GUI thread: the GUI
submits :class:`Job` objects (a key, a priority and a function of a
:class:`~gmxai_desktop.core.base.jobs.JobControl`) and receives Qt signals back, delivered queued on
the GUI thread. A single thread keeps the model single-user (no locking around torch modules) and
leaves the other cores to the GUI on small machines; on a GPU the model runs on the device.

Stale work is cancelled, not just ignored: :meth:`ComputeWorker.cancel_where` removes queued jobs
and sets the running job's cancel flag, and the core raises ``Cancelled`` within one forward pass.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from ..core.base.errors import Cancelled, GmxaiError
from ..core.base.jobs import JobControl

# Lower runs first.
PRIORITY_MODEL = 0
PRIORITY_PREPARE = 10
PRIORITY_VIEW = 15  # short GUI-side jobs (identify a photo, figure preview/export): before the maps
PRIORITY_EXPLAIN = 20
PRIORITY_COMPARE = 30
PRIORITY_PREFETCH = 50


@dataclass(order=True)
class Job:
    priority: int
    seq: int
    key: Hashable = field(compare=False)
    fn: Callable[[JobControl], Any] = field(compare=False)
    label: str = field(compare=False, default="")
    control: JobControl = field(compare=False, default_factory=JobControl)


class _Thread(QThread):
    def __init__(self, worker: ComputeWorker) -> None:
        super().__init__()
        self._worker = worker
        self.setObjectName("gmxai-compute")

    def run(self) -> None:
        self._worker._loop()


class ComputeWorker(QObject):
    """Priority queue + one thread. All signals carry the job key first."""

    started = Signal(object, str)  # key, label
    progress = Signal(object, float, str)  # key, fraction, message
    finished = Signal(object, object, float)  # key, result, seconds
    failed = Signal(object, str)  # key, user-readable message
    cancelled = Signal(object)  # key
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._heap: list[Job] = []
        self._queued: dict[Hashable, Job] = {}
        self._running: Job | None = None
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._stop = False
        self._thread = _Thread(self)
        self._thread.start()

    # ---- GUI-thread API -------------------------------------------------------------------------
    def submit(self, key: Hashable, fn: Callable[[JobControl], Any], priority: int, label: str = "") -> bool:
        """Queue ``fn``; a job with an equal key already queued or running is kept (returns False).

        Re-submitting a queued key with a better (lower) priority promotes it.
        """
        with self._cond:
            if self._running is not None and self._running.key == key and not self._running.control.cancelled:
                return False
            old = self._queued.get(key)
            if old is not None:
                if priority < old.priority:
                    old.control.cancel()  # the heap entry is skipped when popped
                    self._queued.pop(key)
                else:
                    return False
            job = Job(priority, next(self._seq), key, fn, label)
            self._queued[key] = job
            heapq.heappush(self._heap, job)
            self._cond.notify()
            return True

    def listen(self, owner: Any) -> None:
        """Connect ``owner``'s ``_on_progress``, ``_on_finished``, ``_on_failed`` and
        ``_on_cancelled`` slots to the job signals: the four handlers every view that runs jobs on
        this worker has (each filters the keys it owns)."""
        self.progress.connect(owner._on_progress)
        self.finished.connect(owner._on_finished)
        self.failed.connect(owner._on_failed)
        self.cancelled.connect(owner._on_cancelled)

    def cancel_where(self, predicate: Callable[[Hashable], bool]) -> int:
        """Cancel queued and running jobs whose key matches; returns how many."""
        n = 0
        with self._cond:
            for key in [k for k in self._queued if predicate(k)]:
                self._queued.pop(key).control.cancel()
                n += 1
            if self._running is not None and predicate(self._running.key):
                self._running.control.cancel()
                n += 1
        return n

    def reprioritise(self, predicate: Callable[[Hashable], bool], priority: int) -> int:
        """Move matching queued jobs to ``priority`` (e.g. demote the previous image's work)."""
        n = 0
        with self._cond:
            for key in [k for k in self._queued if predicate(k)]:
                old = self._queued[key]
                if old.priority == priority:
                    continue
                old.control.cancel()
                job = Job(priority, next(self._seq), key, old.fn, old.label)
                self._queued[key] = job
                heapq.heappush(self._heap, job)
                n += 1
            if n:
                self._cond.notify()
        return n

    def pending_count(self) -> int:
        with self._cond:
            return len(self._queued) + (1 if self._running is not None else 0)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel everything and wait for the thread (a running job stops within one forward pass)."""
        with self._cond:
            self._stop = True
            for job in self._queued.values():
                job.control.cancel()
            self._queued.clear()
            if self._running is not None:
                self._running.control.cancel()
            self._cond.notify_all()
        self._thread.wait(timeout_ms)

    # ---- worker thread --------------------------------------------------------------------------
    def _next(self) -> Job | None:
        with self._cond:
            while True:
                if self._stop:
                    return None
                while self._heap:
                    job = heapq.heappop(self._heap)
                    if self._queued.get(job.key) is job:
                        del self._queued[job.key]
                        self._running = job
                        return job
                self._running = None
                self.idle.emit()
                self._cond.wait()

    def _loop(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            key = job.key
            job.control.on_progress = lambda f, m, _k=key: self.progress.emit(_k, f, m)
            t0 = time.perf_counter()
            try:
                job.control.check()
                self.started.emit(key, job.label)
                result = job.fn(job.control)
                job.control.check()
            except Cancelled:
                self.cancelled.emit(key)
            except GmxaiError as exc:
                self.failed.emit(key, str(exc))
            except Exception as exc:  # a bug: say so clearly and keep the app alive
                traceback.print_exc()
                self.failed.emit(key, f"internal error ({type(exc).__name__}: {exc})")
            else:
                self.finished.emit(key, result, time.perf_counter() - t0)
            finally:
                with self._cond:
                    self._running = None


@dataclass(frozen=True)
class _CallKey:
    owner: int
    name: str
    seq: int


class WorkerCalls(QObject):
    """One-off jobs on the worker with callbacks, for features that are not the controller.

    ``submit(name, fn, ...)`` runs ``fn(job)`` on the compute thread with the worker's error
    handling (a ``GmxaiError`` becomes its message, a bug an "internal error" line), progress and
    cancel; ``done(result)`` or ``failed(message)`` is then called on the GUI thread. With
    ``latest_only`` an earlier job of the same name is cancelled first, so a preview that is out of
    date never runs. Each instance sees only its own jobs; destroying it (e.g. with its dialog)
    drops the callbacks.
    """

    def __init__(self, worker: ComputeWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = worker
        self._seq = itertools.count(1)
        self._calls: dict[_CallKey, tuple[Callable[[Any], None], Callable[[str], None] | None]] = {}
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)

    def submit(
        self,
        name: str,
        fn: Callable[[JobControl], Any],
        done: Callable[[Any], None],
        failed: Callable[[str], None] | None = None,
        priority: int = PRIORITY_VIEW,
        latest_only: bool = False,
    ) -> None:
        if latest_only:
            self.cancel(name)
        key = _CallKey(id(self), name, next(self._seq))
        self._calls[key] = (done, failed)
        self._worker.submit(key, fn, priority, name)

    def cancel(self, name: str) -> None:
        """Cancel this object's queued or running jobs called ``name``; their callbacks never run."""
        for key in [k for k in self._calls if k.name == name]:
            del self._calls[key]
        me = id(self)
        self._worker.cancel_where(lambda k: isinstance(k, _CallKey) and k.owner == me and k.name == name)

    def _on_finished(self, key: Hashable, result: Any, _seconds: float) -> None:
        call = self._calls.pop(key, None) if isinstance(key, _CallKey) else None
        if call is not None:
            call[0](result)

    def _on_failed(self, key: Hashable, message: str) -> None:
        call = self._calls.pop(key, None) if isinstance(key, _CallKey) else None
        if call is not None and call[1] is not None:
            call[1](message)

    def _on_cancelled(self, key: Hashable) -> None:
        if isinstance(key, _CallKey):
            self._calls.pop(key, None)
