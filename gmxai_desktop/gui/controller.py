"""The controller: owns the state, the models, the caches and the worker; views send it intents.

Every view change goes through here: ``set_image``, ``set_methods``, ``set_param``,
``set_target``, ``set_align``, ``set_overlay``, ``open_model``, ``open_folder``. The controller
turns the state into job keys, serves what it can from the caches, queues the rest on the
:class:`~gmxai_desktop.gui.worker.ComputeWorker` and forwards only results whose key the current
state still asks for. That single check (``_is_wanted``) is what guarantees that a map never lands
in a panel for another image, model, method, parameter set, target or alignment mode.

Work order on the worker: model loading, then the current image's preparation (load, align,
preprocess, predict), then its attribution maps in panel order, then comparison-model maps, and
last the predictions that annotate browser thumbnails.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..core.models.base import ModelAdapter
from .cache import ByteLRU
from .controller_compute import ComputeScheduling
from .controller_jobs import (
    COMPARE,
    MAX_PREFETCH,
    PRIMARY,
    LoadKey,
    ModelRequest,
    PreparedEntry,
    face_view_for,
)
from .controller_models import ModelsAndFolders
from .state import ImageStatus, JobKey, OverlaySettings, PrepareKey, ViewState, target_count
from .worker import PRIORITY_PREFETCH, ComputeWorker


class Controller(ModelsAndFolders, ComputeScheduling, QObject):
    """Application logic between the views and the Qt-free core."""

    model_loading = Signal(str, str)  # role, label
    model_loaded = Signal(str, object)  # role, ModelAdapter
    model_failed = Signal(str, str)  # role, message
    folder_loaded = Signal(list, object)  # paths, {path: label}
    image_changed = Signal(object)  # Path | None
    prepared = Signal(object, object)  # path, PreparedEntry (current image, primary model)
    prepare_failed = Signal(object, str)  # path, message
    image_status = Signal(object, object)  # path, ImageStatus
    panels_changed = Signal(list)  # list[PanelSpec]
    panel_pending = Signal(str)  # panel id
    panel_result = Signal(str, object)  # panel id, AttributionResult
    panel_progress = Signal(str, float, str)  # panel id, fraction, message
    panel_failed = Signal(str, str)  # panel id, message
    overall_progress = Signal(int, int)  # maps done, maps wanted for the current image
    overlay_changed = Signal(object)  # OverlaySettings
    compare_result = Signal(str, object)  # method, AttributionResult | None (None: pending/failed)
    compare_failed = Signal(str, str)  # method, message
    timing = Signal(str, float)  # what ("prepare" or a method name), seconds
    busy_changed = Signal(bool)
    notice = Signal(str)  # a one-line message for the status bar
    folder_failed = Signal(str)  # the folder or its labels could not be read
    statuses_reset = Signal()  # browser statuses are void (new model or alignment mode)
    _folder_listed = Signal(int, object, list, object, str, str)  # from the listing thread

    def __init__(self, parent: QObject | None = None, cache_mb: int = 512) -> None:
        super().__init__(parent)
        self.state = ViewState()
        self.adapters: dict[str, ModelAdapter | None] = {PRIMARY: None, COMPARE: None}
        self.requests: dict[str, ModelRequest | None] = {PRIMARY: None, COMPARE: None}
        self._installed_requests: dict[str, ModelRequest | None] = {PRIMARY: None, COMPARE: None}
        self.paths: list[Path] = []
        self.folder: Path | None = None
        self.labels: dict[Path, str] = {}
        self.statuses: dict[Path, ImageStatus] = {}
        self.results = ByteLRU(cache_mb * 1024 * 1024 * 3 // 4)
        self.prepared_cache = ByteLRU(cache_mb * 1024 * 1024 // 4)
        self.current: dict[str, Any] = {}  # panel id -> AttributionResult shown now
        self.compare_methods: list[str] = []
        self._shared: dict[PrepareKey, dict] = {}
        self._load_tokens = {PRIMARY: 0, COMPARE: 0}
        self._folder_token = 0
        self._folder_listed.connect(self._on_folder_listed)
        self._prefetch: OrderedDict[PrepareKey, None] = OrderedDict()
        self._busy = False
        self.worker = ComputeWorker(self)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.progress.connect(self._on_progress)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.started.connect(lambda *_: self._set_busy(True))
        self.worker.idle.connect(lambda: self._set_busy(False))

    # ---- lifecycle ----------------------------------------------------------------------------
    def shutdown(self) -> None:
        self.worker.shutdown()

    @property
    def adapter(self) -> ModelAdapter | None:
        return self.adapters[PRIMARY]

    @property
    def compare_adapter(self) -> ModelAdapter | None:
        return self.adapters[COMPARE]

    # ---- intents: selection -------------------------------------------------------------------
    def set_image(self, path: Path | None) -> None:
        if path == self.state.image:
            return
        self.state.image = path
        # The previous image's maps are stale: cancel them. Its preparation still serves the
        # browser status, so it is only demoted behind the new image's work.
        self._cancel_unwanted()
        self.worker.reprioritise(
            lambda k: isinstance(k, PrepareKey) and k.image != str(path), PRIORITY_PREFETCH
        )
        self._shared = {k: v for k, v in self._shared.items() if k.image == str(path)}
        self.image_changed.emit(path)
        self._refresh_current()

    def set_methods(self, methods: list[str]) -> None:
        methods = list(dict.fromkeys(methods))
        if methods == self.state.methods:
            return
        self.state.methods = methods
        self._selection_changed(relayout=True)

    def toggle_method(self, method: str, on: bool) -> None:
        from ..core.attribution.methods import list_methods

        chosen = set(self.state.methods)
        if on:
            chosen.add(method)
        else:
            chosen.discard(method)
        order = [m.name for m in list_methods()]
        self.set_methods([m for m in order if m in chosen])

    def set_param(self, method: str, name: str, value: Any) -> None:
        overrides = dict(self.state.param_overrides.get(method, {}))
        overrides[name] = value
        self.set_params(method, overrides)

    def set_params(self, method: str, overrides: dict[str, Any]) -> None:
        """Replace a method's parameter overrides; invalid values raise ParameterError first."""
        from ..core.attribution.methods import get_method

        resolved = get_method(method).resolve_params(overrides)
        defaults = get_method(method).resolve_params({})
        minimal = {k: v for k, v in resolved.items() if defaults.get(k) != v}
        if minimal == self.state.param_overrides.get(method, {}):
            return
        if minimal:
            self.state.param_overrides[method] = minimal
        else:
            self.state.param_overrides.pop(method, None)
        self._selection_changed(relayout=False)

    def set_target(self, target: str) -> None:
        if target == self.state.target:
            return
        relayout = target_count(target) != target_count(self.state.target)
        self.state.target = target
        self._selection_changed(relayout=relayout)

    def set_align(self, align: str) -> None:
        if align == self.state.align:
            return
        self.state.align = align
        self.statuses.clear()
        self._prefetch.clear()
        self.statuses_reset.emit()
        self.worker.cancel_where(lambda k: isinstance(k, (JobKey, PrepareKey)) and k.align != align)
        self._refresh_current()

    def set_overlay(self, overlay: OverlaySettings) -> None:
        if overlay == self.state.overlay:
            return
        self.state.overlay = overlay
        self.overlay_changed.emit(overlay)

    def set_compare_methods(self, methods: list[str]) -> None:
        """Which methods the difference view needs on the comparison model."""
        self.compare_methods = list(dict.fromkeys(methods))
        self._cancel_unwanted()
        self._schedule_compare()

    def request_status(self, path: Path) -> None:
        """Ask (lazily, lowest priority) for the prediction and alignment shown on a thumbnail."""
        adapter = self.adapter
        if adapter is None or path in self.statuses:
            return
        key = PrepareKey(str(path), adapter.model_id, self.state.align)
        entry = self.prepared_cache.get(key)
        if entry is not None:
            self._set_status(path, entry)
            return
        if key in self._prefetch:
            self._prefetch.move_to_end(key)
            return
        self._prefetch[key] = None
        self._submit_prepare(adapter, key, PRIORITY_PREFETCH, "predicting")
        while len(self._prefetch) > MAX_PREFETCH:
            stale, _ = self._prefetch.popitem(last=False)
            if stale.image != str(self.state.image):
                self.worker.cancel_where(lambda k, s=stale: k == s)

    def cancel(self) -> None:
        """The user pressed Cancel: stop the current image's maps (they can be recomputed)."""
        self.worker.cancel_where(lambda k: isinstance(k, (JobKey, PrepareKey)))
        self._prefetch.clear()
        for spec in self.state.panels():
            if spec.panel_id not in self.current:
                self.panel_failed.emit(spec.panel_id, "cancelled — press F5 to compute again")
        self._emit_overall()

    def recompute(self) -> None:
        """Compute missing maps again (after a cancel or an error)."""
        self._refresh_current()

    # ---- worker signals -----------------------------------------------------------------------
    def _on_finished(self, key: Hashable, result: Any, seconds: float) -> None:
        if isinstance(key, LoadKey):
            self._on_model_loaded(key, result)
        elif isinstance(key, PrepareKey):
            self._on_prepared(key, result)
        elif isinstance(key, JobKey):
            self._on_explained(key, result, seconds)

    def _on_prepared(self, key: PrepareKey, entry: PreparedEntry) -> None:
        self.prepared_cache.put(key, entry)
        self._prefetch.pop(key, None)
        path = Path(key.image)
        primary = self.adapter
        if primary is not None and key.model_id == primary.model_id and key.align == self.state.align:
            self._set_status(path, entry)
            if path == self.state.image:
                self.timing.emit("prepare", entry.seconds)
                self.prepared.emit(path, entry)
                self._schedule_explains()
        cmp_adapter = self.compare_adapter
        if cmp_adapter is not None and key.model_id == cmp_adapter.model_id and path == self.state.image:
            self._schedule_compare()

    def _on_explained(self, key: JobKey, results: list, seconds: float) -> None:
        self.results.put(key, results)
        if not self._is_wanted(key):
            return  # stale: a newer selection replaced it while it ran
        primary = self.adapter
        if key.method in self.state.methods and primary is not None and key.model_id == primary.model_id:
            self._show_method_results(key.method, results)
            self.timing.emit(key.method, seconds)
            self._emit_overall()
        cmp_adapter = self.compare_adapter
        if (
            cmp_adapter is not None
            and key.model_id == cmp_adapter.model_id
            and key.method in self.compare_methods
        ):
            self.compare_result.emit(key.method, self._first_for_target(results))

    def _on_failed(self, key: Hashable, message: str) -> None:
        if isinstance(key, LoadKey):
            if key.token != self._load_tokens[key.role]:
                return
            self.requests[key.role] = self._installed_requests.get(key.role)
            self.model_failed.emit(key.role, message)
            # the previous model stays; redo the work that was cancelled for the failed load
            if key.role == PRIMARY and self.adapter is not None:
                self._refresh_current()
            elif key.role == COMPARE:
                self._schedule_compare()
            return
        if isinstance(key, PrepareKey):
            self._prefetch.pop(key, None)
            path = Path(key.image)
            primary = self.adapter
            if primary is not None and key.model_id == primary.model_id:
                status = ImageStatus(error=message)
                self.statuses[path] = status
                self.image_status.emit(path, status)
                if path == self.state.image and key.align == self.state.align:
                    self.prepare_failed.emit(path, message)
                    for spec in self.state.panels():
                        self.panel_failed.emit(spec.panel_id, message)
            return
        if isinstance(key, JobKey) and self._is_wanted(key):
            if self.adapter is not None and key.model_id == self.adapter.model_id:
                for spec in self._method_panels(key.method):
                    self.panel_failed.emit(spec.panel_id, message)
            if self.compare_adapter is not None and key.model_id == self.compare_adapter.model_id:
                self.compare_failed.emit(key.method, message)

    def _on_progress(self, key: Hashable, fraction: float, message: str) -> None:
        if (
            isinstance(key, JobKey)
            and self._is_wanted(key)
            and self.adapter is not None
            and key.model_id == self.adapter.model_id
        ):
            for spec in self._method_panels(key.method):
                self.panel_progress.emit(spec.panel_id, fraction, message)

    def _on_cancelled(self, key: Hashable) -> None:
        if isinstance(key, PrepareKey):
            self._prefetch.pop(key, None)


__all__ = ["COMPARE", "PRIMARY", "Controller", "ModelRequest", "PreparedEntry", "face_view_for"]
