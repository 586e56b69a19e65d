"""Annotations, region metrics and figure export, wired into the main window.

:func:`install_annotations` uses only the window's extension points (``menu``, ``add_dock``,
``grid.add_overlay_factory``, ``controller`` and its signals) plus plain ``QMainWindow`` API (a
toolbar, an event filter for closing). Nothing in the window needs to know about annotations.

Where annotation files live (docs/annotation_format.md): one file per image,
``<image stem>.gmxai-annotations.json`` next to the image, or, when the image folder must stay
untouched (a read-only share, a PACS export), in one annotation folder the user chooses. If that
name is taken by annotations of a *different* image (the content hashes differ) or by an unreadable
file, the regions go to ``<stem>-<hash prefix>.gmxai-annotations.json`` instead, so nothing is ever
overwritten. Files are matched to images by content hash, never by name alone.

Safety of the clinician's work:

* the document is saved when the user moves to another image and when the window closes
  (and with Ctrl+S);
* while there are unsaved edits an autosave is written every few seconds beside the file;
* on opening an image, an autosave newer than the file (left by a crash) is offered for recovery;
* when the file cannot be written (read-only folder), the regions go to an autosave in the user's
  recovery folder, keyed by the image hash, and are offered again the next time the image opens.
"""

from __future__ import annotations

import getpass
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDockWidget

from ..core.annotations import (
    AnnotationDocument,
    Autosaver,
    ImageRef,
    Recovery,
)
from ..core.base.errors import GmxaiError
from ..core.base.jobs import JobControl
from ..core.output.figure import PanelSpec, save_figure
from ..core.output.figure_spec import figure_for_file
from .annotation_layer import AnnotationLayer, AnnotationToolbar, region_color
from .annotations.documents import DocumentLifecycle
from .annotations.feature_menus import AnnotationMenus
from .annotations.store import AnnotationStore, Located, identify_image, recovery_dir
from .figure_dialog import ExtraPanel, FigureDialog, FigureInputs, FigureOptions, PanelProvider
from .region_inspector import RegionInspector, warm_hpo_index
from .region_metrics_view import RegionMetricsView
from .worker import WorkerCalls

AUTOSAVE_TICK_MS = 2000
SETTING_AUTHOR = "annotations/author"
SETTING_FOLDER = "annotations/folder"


# --------------------------------------------------------------------------------------------
# The feature
# --------------------------------------------------------------------------------------------


class AnnotationsFeature(DocumentLifecycle, AnnotationMenus, QObject):
    """Owns the current image's document and connects it to panels, docks, menus and files."""

    document_opened = Signal(object)  # AnnotationDocument | None, after an image's document is shown
    saved = Signal(object)  # Path

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.layer = AnnotationLayer(self)
        self.path: Path | None = None
        self.entry: Any = None
        self.ref: ImageRef | None = None
        self.original: np.ndarray | None = None
        self.doc: AnnotationDocument | None = None
        self.doc_path: Path | None = None
        self.autosaver: Autosaver | None = None
        self._docs: OrderedDict[Path, tuple[AnnotationDocument, Path]] = OrderedDict()
        self._calls = WorkerCalls(window.controller.worker, self)
        self._providers: list[PanelProvider] = []
        self._compare_maps: dict[str, Any] = {}
        self._warned_unsaved = False
        self.figure_dialog: FigureDialog | None = None
        # Replaceable in tests: ask the user whether to recover an autosave.
        self.confirm_recovery: Callable[[Recovery], bool] = self._ask_recovery
        self.store = AnnotationStore(self._folder_setting())

        self.toolbar = AnnotationToolbar(self.layer, window)
        self.inspector = RegionInspector(self.layer)
        self.metrics = RegionMetricsView()
        self._metrics_timer = QTimer(self)
        self._metrics_timer.setSingleShot(True)
        self._metrics_timer.setInterval(80)
        self._metrics_timer.timeout.connect(self.update_metrics)
        self._figure_timer = QTimer(self)
        self._figure_timer.setSingleShot(True)
        self._figure_timer.setInterval(300)
        self._figure_timer.timeout.connect(
            lambda: self.figure_dialog.refresh() if self.figure_dialog is not None else None
        )
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setInterval(AUTOSAVE_TICK_MS)
        self._autosave_timer.timeout.connect(self.autosave_tick)
        self._autosave_timer.start()

    # -- settings ----------------------------------------------------------------------------
    def author(self) -> str:
        """The clinician's name for new regions: chosen in Annotate > Your name, else the login name."""
        value = self.window.settings.value(SETTING_AUTHOR)
        if isinstance(value, str) and value.strip():
            return value.strip()
        try:
            return getpass.getuser()
        except (OSError, KeyError, ImportError):
            return ""

    def set_author(self, name: str) -> None:
        self.window.settings.set_value(SETTING_AUTHOR, name.strip())
        if self.doc is not None:
            self.doc.author = self.author()

    def _folder_setting(self) -> Path | None:
        value = self.window.settings.value(SETTING_FOLDER)
        return Path(value) if isinstance(value, str) and value else None

    def set_annotation_folder(self, folder: Path | None) -> None:
        """Store annotation files in ``folder`` (None: next to the images) from now on."""
        self.save_current()
        self.window.settings.set_value(SETTING_FOLDER, str(folder) if folder else "")
        self.store = AnnotationStore(folder)
        self._docs.clear()
        path = self.path
        self._close_document()
        if path is not None and self.ref is not None:
            self._open_document()

    # -- image lifecycle ---------------------------------------------------------------------
    def on_image_changed(self, path: Path | None) -> None:
        self.save_current()
        self._close_document()
        self.path = Path(path) if path is not None else None
        self.entry = None
        self.ref = None
        self.original = None
        self._compare_maps.clear()
        self._calls.cancel("identify")  # the user has moved on
        if self.path is not None:
            p = self.path
            self._calls.submit("identify", lambda _job: identify_image(p), self._on_identified,
                               self._on_identify_failed, latest_only=True)
        self.schedule_metrics()

    def on_prepared(self, path: Path, entry: Any) -> None:
        if self.path is None or Path(path) != self.path:
            return
        self.entry = entry
        self._open_document()

    def _on_identified(self, result: Any) -> None:
        self.ref, self.original = result
        self._open_document()

    def _on_identify_failed(self, message: str) -> None:
        self._notice(f"Annotations are not available for this image: {message}")

    def shutdown(self) -> None:
        """The window closes: save, stop timers (idempotent)."""
        self._autosave_timer.stop()
        self.save_current()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    # -- metrics -----------------------------------------------------------------------------
    def current_results(self) -> list:
        """The maps shown now, in panel order."""
        c = self.controller
        return [c.current[s.panel_id] for s in c.state.panels() if s.panel_id in c.current]

    def schedule_metrics(self, *_args: Any) -> None:
        self._metrics_timer.start()

    def update_metrics(self) -> None:
        from ..core.attribution.methods import list_methods

        doc = self.layer.document
        colors = {}
        if doc is not None:
            colors = {r.id: region_color(r, k) for k, r in enumerate(doc.regions)}
        labels = {m.name: m.label for m in list_methods()}
        self.metrics.update_from(doc, self.current_results() if doc is not None else [], colors=colors,
                                 method_labels=labels)

    # -- actions -----------------------------------------------------------------------------
    def _update_actions(self, *_args: Any) -> None:
        doc = self.layer.document
        can = self.layer.can_draw()
        self.toolbar.set_tools_enabled(can)
        if not hasattr(self, "undo_action"):
            return
        self.undo_action.setEnabled(doc is not None and doc.can_undo)
        self.redo_action.setEnabled(doc is not None and doc.can_redo)
        can_undo = doc is not None and doc.can_undo
        can_redo = doc is not None and doc.can_redo
        self.undo_action.setText(f"&Undo {doc.undo_text.lower()}" if can_undo else "&Undo")  # type: ignore[union-attr]
        self.redo_action.setText(f"&Redo {doc.redo_text.lower()}" if can_redo else "&Redo")  # type: ignore[union-attr]
        self.undo_action.setIconText("Undo")
        self.redo_action.setIconText("Redo")
        self.undo_action.setToolTip(self.undo_action.text().replace("&", "") + " (Ctrl+Z)")
        self.redo_action.setToolTip(self.redo_action.text().replace("&", ""))
        self.delete_action.setEnabled(self.layer.selected is not None)
        for act in (self.save_action, self.export_doc_action, self.import_action, self.csv_action):
            act.setEnabled(doc is not None)

    def _notice(self, text: str) -> None:
        self.window.notify(text)

    def add_figure_panel_provider(self, provider: PanelProvider) -> None:
        """Offer more panels in the figure dialog (composites, similarity maps...)."""
        self._providers.append(provider)

    def open_figure_dialog(self) -> FigureDialog:
        if self.figure_dialog is None:
            self.figure_dialog = FigureDialog(self, self.window)
            self.figure_dialog.batch_finished.connect(self._on_batch_finished)
        else:
            self.figure_dialog.refresh()
        self.figure_dialog.show()
        self.figure_dialog.raise_()
        self.figure_dialog.activateWindow()
        return self.figure_dialog

    def _on_batch_finished(self, *_args: Any) -> None:
        if self.figure_dialog is not None:
            self._notice(self.figure_dialog.batch_summary)

    def refresh_figure_dialog(self, *_args: Any) -> None:
        """Keep an open export dialog on the current image (new maps, regions, image)."""
        dlg = self.figure_dialog
        if dlg is not None and dlg.isVisible():
            self._figure_timer.start()

    def figure_methods(self) -> list[tuple[str, str]]:
        from ..core.attribution.methods import list_methods

        labels = {m.name: m.label for m in list_methods()}
        names = list(dict.fromkeys(r.method for r in self.current_results()))
        return [(n, labels.get(n, n)) for n in names]

    def figure_inputs(self, base: str) -> FigureInputs | None:
        entry, adapter = self.entry, self.controller.adapter
        if entry is None or adapter is None or self.path is None:
            return None
        return FigureInputs(
            results=self.current_results(),
            base_image=entry.face_view if base == "face" else entry.display,
            original=self.original,
            status=entry.alignment,
            adapter=adapter,
            doc=self.layer.document,
            file_name=self.path.name,
        )

    def figure_extras(self) -> list[ExtraPanel]:
        extras = self._difference_panel()
        for provider in self._providers:
            try:
                extras += list(provider())
            except GmxaiError as exc:
                self._notice(str(exc))
        return extras

    def _difference_panel(self) -> list[ExtraPanel]:
        """The Difference tab's A − B, recomputed from the raw maps (never a stale picture)."""
        from .display import difference

        entry = self.entry
        if entry is None:
            return []
        choice = self.window.difference_view().choice()
        res_a, res_b = self._source_result(choice.a), self._source_result(choice.b)
        if res_a is None or res_b is None or res_a.map.shape != res_b.map.shape or choice.a == choice.b:
            return []
        d, _na, _nb = difference(res_a.map, res_b.map, choice.norm, choice.sign)
        ov = self.controller.state.overlay
        title = f"{choice.label_a} − {choice.label_b}"
        panel = PanelSpec(
            kind="difference",
            image=entry.face_view,
            map=d,
            title=title,
            sign="signed",
            cmap=ov.diverging_cmap,
            alpha=ov.opacity,
            clip_percentile=ov.clip_percentile,
            magnitude_alpha=ov.fade_weak,
            colorbar_label="difference of normalised maps",
        )
        return [ExtraPanel("difference", f"Difference: {title}", panel, "aligned")]

    def _source_result(self, sid: Any) -> Any:
        if not isinstance(sid, str):
            return None
        if sid.startswith("cmp:"):
            return self._compare_maps.get(sid[4:])
        return self.controller.current.get(sid)

    def on_compare_result(self, method: str, result: Any) -> None:
        if result is None:
            self._compare_maps.pop(method, None)
        else:
            self._compare_maps[method] = result

    def figure_display(self) -> dict[str, Any]:
        ov = self.controller.state.overlay
        return {
            "sign": ov.sign_mode,
            "cmap": ov.colormap,
            "alpha": ov.opacity,
            "clip_percentile": ov.clip_percentile,
            "fade_weak": ov.fade_weak,
            "shared_scale": ov.shared_scale,
        }

    def figure_has_photo(self) -> bool:
        return self.original is not None

    def figure_batch_paths(self) -> list[Path]:
        return list(self.controller.paths)

    def figure_worker(self) -> Any:
        return self.controller.worker

    def figure_before_batch(self) -> None:
        self.save_current()  # the jobs read annotation files: they must hold the latest regions

    def figure_batch_job(self, opts: FigureOptions, path: Path, out: Path) -> Callable[[JobControl], Path]:
        """A worker job: prepare, explain, find the annotations, build and save one figure."""
        adapter = self.controller.adapter
        if adapter is None:
            raise GmxaiError("Open a model first.")
        state = self.controller.state
        align, target = state.align, state.target
        params = {m: state.resolved_params(m) for m in opts.methods}
        store = AnnotationStore(self.store.folder)

        def run(job: JobControl) -> Path:
            fig = figure_for_file(
                adapter,
                path,
                opts,
                align=align,
                target=target,
                params=params,
                find_annotations=(lambda p, ref: store.locate(p, ref).document) if opts.annotations else None,
                job=job,
            )
            save_figure(fig.spec, out, fmt=opts.fmt)
            return out

        return run


def install_annotations(window: Any) -> AnnotationsFeature:
    """Add annotation tools, the Regions and Region metrics docks, and figure export to ``window``.

    Call once, after the window is built (it restores the saved dock layout again so the new docks
    take their saved places).
    """
    existing = getattr(window, "annotations", None)
    if isinstance(existing, AnnotationsFeature):
        return existing  # installed already (the window may do it itself)
    feature = AnnotationsFeature(window)
    layer = feature.layer
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, feature.toolbar)
    window.add_panel_overlay(layer.attach)  # every panel, the Difference tab's included

    # Regions share the right column with Analysis (a tab each); drawing or selecting a region brings
    # the Regions tab forward. The metrics table runs along the bottom, a few rows high.
    right = Qt.DockWidgetArea.RightDockWidgetArea
    feature.regions_dock = window.add_dock(feature.inspector, "Regions", right, tab_with=window.analysis_dock)
    feature.metrics_dock = window.add_dock(
        feature.metrics, "Region metrics", Qt.DockWidgetArea.BottomDockWidgetArea
    )
    feature.metrics_dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetClosable
        | QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    )
    feature.build_menus()

    c = window.controller
    c.image_changed.connect(feature.on_image_changed)
    c.prepared.connect(feature.on_prepared)
    c.panel_result.connect(feature.schedule_metrics)
    c.panels_changed.connect(feature.schedule_metrics)
    c.panel_pending.connect(feature.schedule_metrics)
    c.compare_result.connect(feature.on_compare_result)
    layer.regions_changed.connect(feature.schedule_metrics)
    for sig in (c.image_changed, c.prepared, c.panel_result, c.overlay_changed, layer.regions_changed):
        sig.connect(feature.refresh_figure_dialog)
    layer.regions_changed.connect(feature._update_actions)
    layer.selection_changed.connect(feature._update_actions)
    layer.document_replaced.connect(feature._update_actions)
    layer.edit_failed.connect(feature._notice)
    feature.inspector.error.connect(feature._notice)
    window.installEventFilter(feature)
    app = QApplication.instance()
    if app is not None:  # quitting without closing the window (e.g. --screenshot) saves too
        app.aboutToQuit.connect(feature.shutdown)
    feature._update_actions()

    if not window.restore_dock_layout():
        window.resizeDocks([feature.metrics_dock], [170], Qt.Orientation.Vertical)
    layer.selection_changed.connect(feature.show_regions_dock)
    layer.tool_changed.connect(feature.show_regions_dock)
    window.after_results_shown(lambda: warm_hpo_index(feature._calls))  # after the first maps
    if c.state.image is not None:  # installed after an image was opened
        feature.on_image_changed(c.state.image)
        entry = c.prepared_cache.get(c.state.prepare_key(c.adapter.model_id)) if c.adapter else None
        if entry is not None:
            feature.on_prepared(c.state.image, entry)
    window.annotations = feature
    return feature


__all__ = ["AnnotationStore", "AnnotationsFeature", "Located", "install_annotations", "recovery_dir"]
