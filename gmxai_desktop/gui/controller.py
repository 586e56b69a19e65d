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

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.base.errors import GmxaiError
from ..core.base.jobs import JobControl
from .cache import ByteLRU
from .state import ImageStatus, JobKey, OverlaySettings, PanelSpec, PrepareKey, ViewState, target_count
from .worker import (
    PRIORITY_COMPARE,
    PRIORITY_EXPLAIN,
    PRIORITY_MODEL,
    PRIORITY_PREFETCH,
    PRIORITY_PREPARE,
    ComputeWorker,
)

if TYPE_CHECKING:  # the model stack imports torch; the window must open before that loads
    from ..core.models.base import ModelAdapter

PRIMARY = "primary"
COMPARE = "compare"
MAX_PREFETCH = 48


@dataclass
class PreparedEntry:
    """One image prepared for one model, kept small for the cache.

    The full-size photo is not kept: ``face_view`` is the (aligned) face resized to the model
    input's aspect at up to 4x its resolution, which is what panels draw under the maps. The
    alignment facts (status, landmarks, matrix from original pixels to the aligned crop and that
    crop's shape) stay for annotation tools.
    """

    x: Any  # torch.Tensor (1, C, H, W) on the model's device
    display: np.ndarray  # uint8 RGB at model input size: exactly what the model sees
    face_view: np.ndarray  # uint8 RGB, colour face on the map grid's aspect
    prediction: Any  # gmxai_desktop.core.attribution.engine.Prediction
    alignment: str
    alignment_message: str
    aligned: bool
    landmarks: np.ndarray | None
    matrix: np.ndarray | None
    face_shape: tuple[int, int]
    seconds: float = 0.0

    @property
    def grid_size(self) -> tuple[int, int]:
        return (int(self.display.shape[0]), int(self.display.shape[1]))


def face_view_for(face_rgb: np.ndarray, grid_hw: tuple[int, int], max_factor: int = 4) -> np.ndarray:
    """Resize the face onto the map grid's aspect, keeping up to ``max_factor`` x its detail."""
    import cv2

    h, w = grid_hw
    fh, fw = face_rgb.shape[:2]
    factor = int(max(1, min(max_factor, fh // max(h, 1), fw // max(w, 1))))
    size = (w * factor, h * factor)
    if (fw, fh) == size:
        return np.ascontiguousarray(face_rgb[:, :, :3])
    interp = cv2.INTER_AREA if fw > size[0] else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(face_rgb[:, :, :3]), size, interpolation=interp)


@dataclass(frozen=True)
class LoadKey:
    role: str
    spec: str
    token: int


@dataclass(frozen=True)
class ModelRequest:
    """How a model was asked for; kept for the recent list and for reloading."""

    spec: str
    arch: str | None = None
    classes: str | None = None
    device: str | None = None
    trust_pickle: bool = False

    def label(self) -> str:
        return self.spec if self.spec.startswith("demo") else Path(self.spec).name


def _prepare(adapter: ModelAdapter, path: Path, align: str, job: JobControl) -> PreparedEntry:
    from ..core.attribution.engine import predict
    from ..core.inputs.pipeline import prepare_file

    t0 = time.perf_counter()
    job.check()
    prep = prepare_file(adapter, path, align=align)
    job.check()
    prediction = predict(adapter, prep.x, top=5)
    face = prep.face
    display = np.ascontiguousarray(prep.display)
    return PreparedEntry(
        x=prep.x,
        display=display,
        face_view=face_view_for(face.image, display.shape[:2]),
        prediction=prediction,
        alignment=face.status,
        alignment_message=face.message,
        aligned=bool(face.aligned),
        landmarks=face.landmarks,
        matrix=face.matrix,
        face_shape=(int(face.image.shape[0]), int(face.image.shape[1])),
        seconds=time.perf_counter() - t0,
    )


def _explain(adapter: ModelAdapter, entry: PreparedEntry, key: JobKey, shared: dict, job: JobControl) -> list:
    from ..core.attribution.engine import explain

    params = {key.method: dict(key.params)}
    return explain(adapter, entry.x, [key.method], target=key.target, params=params, job=job, shared=shared)


class Controller(QObject):
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

    # ---- intents: models and folders ----------------------------------------------------------
    def open_model(self, request: ModelRequest, role: str = PRIMARY) -> None:
        """Load a checkpoint (or a bundled demo) on the worker, ahead of everything else."""
        from ..core.models import load_model

        self._load_tokens[role] += 1
        key = LoadKey(role, request.spec, self._load_tokens[role])
        self.worker.cancel_where(lambda k: isinstance(k, LoadKey) and k.role == role)

        def run(job: JobControl) -> ModelAdapter:
            job.report(0.0, "loading model")
            return load_model(
                request.spec,
                arch=request.arch,
                classes=request.classes,
                device=request.device,
                trust_pickle=request.trust_pickle,
            )

        self.requests[role] = request
        self._cancel_model_work(role)
        self.model_loading.emit(role, request.label())
        self.worker.submit(key, run, PRIORITY_MODEL, "loading model")

    def _cancel_model_work(self, role: str) -> None:
        """A model is being replaced: its running job would only delay the new one (single worker)."""
        old = self.adapters[role]
        if old is not None:
            self.worker.cancel_where(lambda k: getattr(k, "model_id", None) == old.model_id)

    def open_demo(self, name: str = "demo", device: str | None = None) -> None:
        """Load a bundled demo model as the primary model, and open its demo image folder."""
        from ..core.demo import load_demo

        role = PRIMARY
        self._load_tokens[role] += 1
        key = LoadKey(role, name, self._load_tokens[role])
        self.worker.cancel_where(lambda k: isinstance(k, LoadKey) and k.role == role)

        def run(job: JobControl) -> Any:
            job.report(0.0, "loading demo")
            return load_demo(name, device=device)

        self.requests[role] = ModelRequest(name, device=device)
        self._cancel_model_work(role)
        self.model_loading.emit(role, name)
        self.worker.submit(key, run, PRIORITY_MODEL, "loading demo")

    def set_model(self, adapter: ModelAdapter, role: str = PRIMARY) -> None:
        """Install an already loaded adapter (used after loading and by embedding applications)."""
        old = self.adapters[role]
        self.adapters[role] = adapter
        self._installed_requests[role] = self.requests[role]
        if old is not None and old.model_id != adapter.model_id:
            self.worker.cancel_where(lambda k: getattr(k, "model_id", None) == old.model_id)
        self._shared = {k: v for k, v in self._shared.items() if k.model_id != getattr(old, "model_id", None)}
        if role == PRIMARY:
            self.statuses.clear()
            self._prefetch.clear()
            self.statuses_reset.emit()
            t = self.state.target
            if t.startswith("name:") and t[5:] not in adapter.class_names:
                self.state.target = "predicted"
        self.model_loaded.emit(role, adapter)
        if role == PRIMARY:
            self.panels_changed.emit(self.state.panels())
            self._refresh_current()
        else:
            self._schedule_compare()

    def unload_compare(self) -> None:
        old = self.adapters[COMPARE]
        self.adapters[COMPARE] = None
        self.requests[COMPARE] = None
        if old is not None:
            self.worker.cancel_where(lambda k: getattr(k, "model_id", None) == old.model_id)
        self.model_loaded.emit(COMPARE, None)

    def open_folder(self, folder: Path, labels_csv: Path | None = None) -> None:
        """List a folder (recursively) and read its labels off the GUI thread.

        Listing 10,000 files takes a noticeable fraction of a second on a slow disk, so it runs
        on a short-lived thread (not the compute worker, which may be busy with a long job);
        ``folder_loaded`` follows. Thumbnails and predictions then come lazily. Labels come from
        ``labels_csv``, a ``labels.csv`` in or beside the folder, or class subfolders; unusable
        label rows are summarised in a notice and never block the images.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise GmxaiError(f"{folder.name or folder}: is not a folder")
        self._folder_token += 1
        token = self._folder_token
        thread = threading.Thread(target=self._list_folder, args=(folder, labels_csv, token),
                                  name="gmxai-folder", daemon=True)
        thread.start()

    def _list_folder(self, folder: Path, labels_csv: Path | None, token: int) -> None:
        from ..core.inputs.imageio import iter_image_paths
        from ..core.inputs.labels import read_label_table

        try:
            paths = iter_image_paths([folder])
        except GmxaiError as exc:
            self._folder_listed.emit(token, folder, [], {}, str(exc), "")
            return
        labels: dict[Path, str] = {}
        label_error, notice = "", ""
        try:
            table = read_label_table(folder, labels_csv)
        except GmxaiError as exc:
            label_error = f"The images are open, but the labels could not be read: {exc}"
        else:
            if table.labels:
                by_resolved = {p.resolve(): lab for p, lab in table.labels.items()}
                labels = {p: by_resolved[r] for p in paths if (r := p.resolve()) in by_resolved}
            if table.source == "csv" and table.problems:
                more = f" (and {len(table.problems) - 1} more)" if len(table.problems) > 1 else ""
                notice = f"labels: {table.problems[0]}{more}"
        self._folder_listed.emit(token, folder, paths, labels, label_error, notice)

    def _on_folder_listed(self, token: int, folder: Path, paths: list, labels: dict, error: str,
                          notice: str) -> None:
        if token != self._folder_token:
            return  # another folder was opened meanwhile
        self.paths = paths
        self.labels = labels
        self.folder = folder
        self.folder_loaded.emit(paths, labels)
        if notice:
            self.notice.emit(notice)
        if error:
            self.folder_failed.emit(error)

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

    # ---- internals ----------------------------------------------------------------------------
    def _cancel_unwanted(self) -> None:
        wanted = self._wanted_keys()
        self.worker.cancel_where(lambda k: isinstance(k, JobKey) and k not in wanted)

    def _selection_changed(self, relayout: bool) -> None:
        self._cancel_unwanted()
        if relayout:
            self.panels_changed.emit(self.state.panels())
        self._schedule_explains()
        self._schedule_compare()

    def _wanted_keys(self) -> set[JobKey]:
        keys: set[JobKey] = set()
        if self.state.image is None:
            return keys
        for role, methods in ((PRIMARY, self.state.methods), (COMPARE, self.compare_methods)):
            adapter = self.adapters[role]
            if adapter is None:
                continue
            for m in methods:
                try:
                    keys.add(self._job_key(role, m))
                except GmxaiError:
                    continue
        return keys

    def _job_key(self, role: str, method: str) -> JobKey:
        adapter = self.adapters[role]
        assert adapter is not None
        key = self.state.job_key(adapter.model_id, method)
        if role == COMPARE:
            key = replace(key, target=self.compare_target())
        return key

    def compare_target(self) -> str:
        """The comparison model explains the class the primary model's panels explain.

        "Why does model B see Noonan syndrome here, compared with model A?" is the useful
        question; each model explaining its own prediction would compare different classes.
        Falls back to the selected target when the comparison model lacks that class.
        """
        cmp_adapter, target = self.compare_adapter, self.state.target
        if cmp_adapter is None:
            return target
        name: str | None = None
        if target == "predicted" or target.startswith("top:"):
            entry = self._current_entry(PRIMARY)
            top = getattr(getattr(entry, "prediction", None), "top", None)
            name = top[0][1] if top else None
        else:
            name = target.removeprefix("name:")
        return f"name:{name}" if name is not None and name in cmp_adapter.class_names else target

    def _current_entry(self, role: str) -> PreparedEntry | None:
        adapter = self.adapters[role]
        if adapter is None or self.state.image is None:
            return None
        return self.prepared_cache.get(self.state.prepare_key(adapter.model_id))

    def _is_wanted(self, key: Hashable) -> bool:
        return isinstance(key, JobKey) and key in self._wanted_keys()

    def _refresh_current(self) -> None:
        """Show what the cache has for the current image and queue the rest."""
        self.current = {}
        path, adapter = self.state.image, self.adapter
        if path is None or adapter is None:
            return
        pkey = self.state.prepare_key(adapter.model_id)
        entry = self.prepared_cache.get(pkey)
        if entry is not None:
            self.prepared.emit(path, entry)
            self._schedule_explains()
        else:
            for spec in self.state.panels():
                self.panel_pending.emit(spec.panel_id)
            self._prefetch.pop(pkey, None)
            self._submit_prepare(adapter, pkey, PRIORITY_PREPARE, "preparing image")
        self._schedule_compare()
        self._emit_overall()

    def _schedule_explains(self) -> None:
        adapter, path = self.adapter, self.state.image
        if adapter is None or path is None:
            return
        entry = self.prepared_cache.get(self.state.prepare_key(adapter.model_id))
        if entry is None:
            return
        self.current = {}
        for i, method in enumerate(self.state.methods):
            key = self._job_key(PRIMARY, method)
            cached = self.results.get(key)
            if cached is not None:
                self._show_method_results(method, cached)
                continue
            for spec in self._method_panels(method):
                self.panel_pending.emit(spec.panel_id)
            self._submit_explain(adapter, entry, key, PRIORITY_EXPLAIN + min(i, 9))
        self._emit_overall()

    def _show_method_results(self, method: str, results: list) -> None:
        for pid, res in self._panel_results(method, results):
            self.current[pid] = res
            self.panel_result.emit(pid, res)
        for spec in self._method_panels(method)[len(results) :]:
            self.panel_failed.emit(spec.panel_id, f"the model has only {len(results)} classes")

    def _schedule_compare(self) -> None:
        adapter, path = self.compare_adapter, self.state.image
        if adapter is None or path is None or not self.compare_methods:
            return
        pkey = self.state.prepare_key(adapter.model_id)
        entry = self.prepared_cache.get(pkey)
        if entry is None:
            self._submit_prepare(adapter, pkey, PRIORITY_COMPARE, "preparing image for the comparison model")
            return
        if self.adapter is not None and self._current_entry(PRIMARY) is None:
            return  # the target depends on the primary model's prediction: wait for it
        for method in self.compare_methods:
            key = self._job_key(COMPARE, method)
            cached = self.results.get(key)
            if cached is not None:
                self.compare_result.emit(method, self._first_for_target(cached))
            else:
                self.compare_result.emit(method, None)
                self._submit_explain(adapter, entry, key, PRIORITY_COMPARE)

    def _submit_prepare(self, adapter: ModelAdapter, key: PrepareKey, priority: int, label: str) -> None:
        def run(job: JobControl) -> PreparedEntry:
            return _prepare(adapter, Path(key.image), key.align, job)

        self.worker.submit(key, run, priority, label)

    def _submit_explain(
        self, adapter: ModelAdapter, entry: PreparedEntry, key: JobKey, priority: int
    ) -> None:
        shared = self._shared.setdefault(key.prepare_key, {})
        self.worker.submit(key, lambda job: _explain(adapter, entry, key, shared, job), priority, key.method)

    def _method_panels(self, method: str) -> list[PanelSpec]:
        return [s for s in self.state.panels() if s.method == method]

    def _panel_results(self, method: str, results: list) -> list[tuple[str, Any]]:
        specs = self._method_panels(method)
        return [(spec.panel_id, res) for spec, res in zip(specs, results, strict=False)]

    @staticmethod
    def _first_for_target(results: list) -> Any:
        return results[0] if results else None

    def _set_status(self, path: Path, entry: PreparedEntry) -> None:
        pred = entry.prediction
        top = pred.top[0] if getattr(pred, "top", None) else None
        status = ImageStatus(
            predicted=top[1] if top else None,
            score=float(top[2]) if top else None,
            alignment=entry.alignment,
            alignment_message=entry.alignment_message,
            aligned=entry.aligned,
        )
        self.statuses[path] = status
        self.image_status.emit(path, status)

    def _emit_overall(self) -> None:
        total = len(self.state.panels()) if self.state.image is not None and self.adapter is not None else 0
        done = sum(1 for s in self.state.panels() if s.panel_id in self.current)
        self.overall_progress.emit(done, total)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    # ---- worker signals -----------------------------------------------------------------------
    def _on_finished(self, key: Hashable, result: Any, seconds: float) -> None:
        if isinstance(key, LoadKey):
            self._on_model_loaded(key, result)
        elif isinstance(key, PrepareKey):
            self._on_prepared(key, result)
        elif isinstance(key, JobKey):
            self._on_explained(key, result, seconds)

    def _on_model_loaded(self, key: LoadKey, result: Any) -> None:
        if key.token != self._load_tokens[key.role]:
            return
        if hasattr(result, "adapter"):  # a DemoBundle
            bundle = result
            self.set_model(bundle.adapter, key.role)
            if key.role == PRIMARY and getattr(bundle, "images_dir", None):
                try:
                    self.open_folder(Path(bundle.images_dir), getattr(bundle, "labels_csv", None))
                except GmxaiError as exc:
                    self.model_failed.emit(key.role, str(exc))
        else:
            self.set_model(result, key.role)

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
