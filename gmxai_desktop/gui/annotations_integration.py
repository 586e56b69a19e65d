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

import contextlib
import getpass
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QInputDialog, QMenu, QMessageBox

from ..core.annotations import (
    FILE_SUFFIX,
    Alignment,
    AnnotationDocument,
    AnnotationError,
    Autosaver,
    ImageRef,
    Recovery,
    default_path_for,
    export_csv,
    export_document,
    find_recovery,
    import_document,
    load_document,
    save_document,
    untitled_autosave_path,
    write_autosave,
)
from ..core.base.errors import GmxaiError
from ..core.base.jobs import JobControl
from ..core.output.figure import PanelSpec, save_figure
from ..core.output.figure_spec import figure_for_file
from .annotation_layer import AnnotationLayer, AnnotationToolbar, PanelFrame, region_color
from .figure_dialog import ExtraPanel, FigureDialog, FigureInputs, FigureOptions, PanelProvider
from .region_inspector import RegionInspector, warm_hpo_index
from .region_metrics_view import RegionMetricsView

AUTOSAVE_TICK_MS = 2000
AUTOSAVE_INTERVAL_S = 8.0
MAX_CACHED_DOCUMENTS = 64
SETTING_AUTHOR = "annotations/author"
SETTING_FOLDER = "annotations/folder"


# --------------------------------------------------------------------------------------------
# Where files live (Qt-free, also used by folder figure export on the worker thread)
# --------------------------------------------------------------------------------------------


@dataclass
class Located:
    """Where an image's annotations are saved, what was found there, and any problem to report."""

    path: Path
    document: AnnotationDocument | None
    problem: str | None = None


class AnnotationStore:
    """Maps an image to its annotation file: next to the image, or in one chosen folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder

    def base_path(self, image: Path) -> Path:
        if self.folder is None:
            return default_path_for(image)
        return self.folder / (image.stem + FILE_SUFFIX)

    def candidates(self, image: Path, ref: ImageRef) -> list[Path]:
        base = self.base_path(image)
        return [base, base.with_name(f"{image.stem}-{ref.sha256[:8]}{FILE_SUFFIX}")]

    def locate(self, image: Path, ref: ImageRef) -> Located:
        """The file for this image: the first candidate that is free or holds this image's regions."""
        problems = []
        free: Path | None = None
        for cand in self.candidates(image, ref):
            if not cand.exists():
                free = free or cand
                continue
            try:
                doc = load_document(cand)
            except AnnotationError as exc:
                problems.append(f"{cand.name} cannot be read ({exc}); it is left untouched")
                continue
            if doc.image.matches(ref):
                return Located(cand, doc, "; ".join(problems) or None)
            problems.append(f"{cand.name} belongs to a different image (the content differs)")
        path = free or self.candidates(image, ref)[-1]
        return Located(path, None, "; ".join(problems) or None)


def recovery_dir() -> Path:
    """Autosaves of annotations that could not be saved where they belong."""
    from .settings import config_dir

    return config_dir() / "recovery"


def identify_image(path: Path) -> tuple[ImageRef, np.ndarray]:
    """Load the photo (EXIF-rotated) and hash it; runs in the thread pool."""
    from ..core.inputs.imageio import load_image

    rgb = load_image(path)
    return ImageRef.from_file(path, rgb), rgb


def alignment_of(entry: Any, template: str) -> Alignment:
    """The document's alignment from a prepared image (its crop and the crop's matrix)."""
    h, w = entry.face_shape
    matrix = entry.matrix if entry.matrix is not None else np.array([[1.0, 0, 0], [0, 1.0, 0]])
    return Alignment(tuple(map(tuple, np.asarray(matrix, dtype=np.float64))), (int(w), int(h)), template)


# --------------------------------------------------------------------------------------------
# Background tasks
# --------------------------------------------------------------------------------------------


class _Signals(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class _Task(QRunnable):
    def __init__(self, token: int, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.token, self.fn, self.signals = token, fn, signals

    def run(self) -> None:
        try:
            result = self.fn()
        except GmxaiError as exc:
            self.signals.failed.emit(self.token, str(exc))
        except OSError as exc:
            self.signals.failed.emit(self.token, exc.strerror or str(exc))
        else:
            self.signals.done.emit(self.token, result)


# --------------------------------------------------------------------------------------------
# The feature
# --------------------------------------------------------------------------------------------


class AnnotationsFeature(QObject):
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
        self._token = 0
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_identified)
        self._signals.failed.connect(self._on_identify_failed)
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
    def _q(self) -> Any:
        return self.window.settings.q

    def author(self) -> str:
        """The clinician's name for new regions: chosen in Annotate > Your name, else the login name."""
        value = self._q().value(SETTING_AUTHOR)
        if isinstance(value, str) and value.strip():
            return value.strip()
        try:
            return getpass.getuser()
        except (OSError, KeyError, ImportError):
            return ""

    def set_author(self, name: str) -> None:
        self._q().setValue(SETTING_AUTHOR, name.strip())
        if self.doc is not None:
            self.doc.author = self.author()

    def _folder_setting(self) -> Path | None:
        value = self._q().value(SETTING_FOLDER)
        return Path(value) if isinstance(value, str) and value else None

    def set_annotation_folder(self, folder: Path | None) -> None:
        """Store annotation files in ``folder`` (None: next to the images) from now on."""
        self.save_current()
        self._q().setValue(SETTING_FOLDER, str(folder) if folder else "")
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
        self._token += 1
        if self.path is not None:
            p, token = self.path, self._token
            QThreadPool.globalInstance().start(_Task(token, lambda: identify_image(p), self._signals))
        self.schedule_metrics()

    def on_prepared(self, path: Path, entry: Any) -> None:
        if self.path is None or Path(path) != self.path:
            return
        self.entry = entry
        self._open_document()

    def _on_identified(self, token: int, result: Any) -> None:
        if token != self._token:
            return  # the user has moved on
        self.ref, self.original = result
        self._open_document()

    def _on_identify_failed(self, token: int, message: str) -> None:
        if token == self._token:
            self._notice(f"Annotations are not available for this image: {message}")

    def _alignment(self) -> Alignment | None:
        adapter = self.controller.adapter
        if self.entry is None or adapter is None:
            return None
        return alignment_of(self.entry, adapter.template)

    def _open_document(self) -> None:
        """Show the current image's document once both its identity and its alignment are known."""
        alignment = self._alignment()
        if self.path is None or self.ref is None or alignment is None:
            return
        if self.doc is None:
            doc, doc_path = self._find_document(self.path, self.ref, alignment)
            self.doc, self.doc_path = doc, doc_path
            self._docs[self.path] = (doc, doc_path)
            self._docs.move_to_end(self.path)
            while len(self._docs) > MAX_CACHED_DOCUMENTS:
                self._docs.popitem(last=False)
            self.autosaver = Autosaver(doc, doc_path, interval_s=AUTOSAVE_INTERVAL_S)
        assert self.doc is not None and self.entry is not None
        self.doc.author = self.author()
        if self.doc.alignment != alignment:
            self.doc.set_alignment(alignment)  # another model or alignment mode: regions stay on the photo
        frame = PanelFrame(tuple(self.entry.grid_size), alignment.size)
        if self.layer.document is self.doc:
            self.layer.set_frame(frame)
        else:
            self.layer.set_document(self.doc, frame)
            self.document_opened.emit(self.doc)
        self._update_actions()
        self.schedule_metrics()

    def _find_document(
        self, image: Path, ref: ImageRef, alignment: Alignment
    ) -> tuple[AnnotationDocument, Path]:
        cached = self._docs.get(image)
        if cached is not None and cached[0].image.matches(ref):
            return cached
        located = self.store.locate(image, ref)
        if located.problem:
            self._notice(f"Annotations: {located.problem}; new regions are saved in {located.path.name}")
        doc = located.document
        for auto in (located.path, untitled_autosave_path(recovery_dir(), ref)):
            rec = find_recovery(auto)
            if rec is None or not rec.document.image.matches(ref):
                continue
            if self.confirm_recovery(rec):
                doc = rec.restore()
                if auto != located.path:
                    rec.discard()  # it now lives in the open document (unsaved), saved where it belongs
                break
            rec.discard()
        if doc is None:
            doc = AnnotationDocument(ref, alignment, author=self.author(), hpo_release=self._hpo_release())
        return doc, located.path

    @staticmethod
    def _hpo_release() -> str | None:
        from ..core.phenotype.hpo import face_index

        try:
            return face_index().version
        except GmxaiError:
            return None

    def _ask_recovery(self, rec: Recovery) -> bool:
        from datetime import datetime

        when = datetime.fromtimestamp(rec.autosave_time).strftime("%Y-%m-%d %H:%M")
        saved = (
            f"The saved file has {rec.regions_in_saved} region(s)."
            if rec.regions_in_saved is not None
            else "These regions were never saved to a file."
        )
        answer = QMessageBox.question(
            self.window,
            "Recover unsaved annotations?",
            f"Annotations of this image were not saved when gmxai-desktop last closed "
            f"(autosaved {when}, {rec.regions_in_autosave} region(s)). {saved}\n\n"
            "Recover them? If you choose No, the unsaved version is deleted.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _close_document(self) -> None:
        self.doc = None
        self.doc_path = None
        self.autosaver = None
        self.layer.set_document(None, None)
        self._update_actions()

    # -- saving ------------------------------------------------------------------------------
    def save_current(self) -> bool:
        """Save the open document if it has unsaved edits; True when nothing is left unsaved."""
        self.inspector.commit_pending()
        doc, path = self.doc, self.doc_path
        if doc is None or path is None or not doc.is_modified:
            return True
        try:
            save_document(doc, path)
        except GmxaiError as exc:
            self._save_failed(doc, str(exc))
            return False
        self._discard_untitled(doc)
        self.saved.emit(path)
        self._notice(f"Annotations saved to {path.name}")
        return True

    def _discard_untitled(self, doc: AnnotationDocument) -> None:
        target = untitled_autosave_path(recovery_dir(), doc.image)
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)

    def _save_failed(self, doc: AnnotationDocument, message: str) -> None:
        """Keep the regions in the recovery folder and tell the user how to store them."""
        kept = ""
        try:
            target = untitled_autosave_path(recovery_dir(), doc.image)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_autosave(doc, target)
            kept = (
                " They are kept in gmxai-desktop's recovery folder and offered again when you reopen "
                "the image."
            )
        except (GmxaiError, OSError):
            kept = " They could not be kept either: export them (Annotate > Export annotations…) now."
        text = (
            f"The annotations could not be saved: {message}.{kept}\n\nTo store annotations of "
            "images in a read-only folder, choose Annotate > Store annotations in a folder…"
        )
        self._notice(f"Annotations not saved: {message}")
        if not self._warned_unsaved:
            self._warned_unsaved = True
            QMessageBox.warning(self.window, "Annotations not saved", text)

    def autosave_tick(self, force: bool = False) -> Path | None:
        saver = self.autosaver
        if saver is None:
            return None
        try:
            return saver.tick(force=force)
        except GmxaiError:
            # The folder is not writable: keep autosaving in the recovery folder instead.
            if self.doc is None:
                return None
            fallback = untitled_autosave_path(recovery_dir(), self.doc.image)
            fallback.parent.mkdir(parents=True, exist_ok=True)
            saver.target = fallback
            try:
                return saver.tick(force=True)
            except GmxaiError as exc:
                self._notice(f"Autosave failed: {exc}")
                return None

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
        self.window.statusBar().showMessage(text, 12000)

    def _action(
        self, menu: QMenu, text: str, slot: Callable[..., Any], shortcut: Any = None, tip: str = ""
    ) -> QAction:
        act = QAction(text, self.window)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setToolTip(tip)
            act.setStatusTip(tip)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def build_menus(self) -> None:
        w = self.window
        m = w.menu("&Annotate")
        for act in self.toolbar.tool_actions.values():
            m.addAction(act)
        m.addSeparator()
        self.undo_action = self._action(
            m, "&Undo", self.layer.undo, QKeySequence.StandardKey.Undo, "Undo the last annotation edit"
        )
        self.redo_action = self._action(
            m, "&Redo", self.layer.redo, QKeySequence.StandardKey.Redo, "Redo the annotation edit"
        )
        self.delete_action = self._action(
            m, "&Delete region", self.layer.delete_selected, QKeySequence.StandardKey.Delete,
            "Delete the selected region (Undo brings it back)",
        )
        self.undo_action.setIconText("Undo")  # the toolbar stays short; the menu says what is undone
        self.redo_action.setIconText("Redo")
        self.delete_action.setIconText("Delete")
        for act in (self.undo_action, self.redo_action, self.delete_action):
            self.toolbar.addAction(act)
        m.addSeparator()
        self.show_action = self._action(m, "&Show annotations", self.layer.set_visible, "H",
                                        "Show or hide the regions on every panel")
        self.show_action.setCheckable(True)
        self.show_action.setChecked(True)
        self.labels_action = self._action(m, "Show region &labels", self.layer.set_labels_visible, None,
                                          "Write each region's HPO term or note beside it")
        self.labels_action.setCheckable(True)
        self.labels_action.setChecked(True)
        m.addSeparator()
        self.save_action = self._action(
            m, "&Save annotations", self.save_now, QKeySequence.StandardKey.Save,
            "Save this image's regions now (they are also saved when you change image or close)",
        )
        self.export_doc_action = self._action(
            m, "&Export annotations…", self.export_annotations_dialog, None,
            "Save a copy to share, without the image's file name",
        )
        self.import_action = self._action(
            m, "&Import annotations…", self.import_annotations_dialog, None,
            "Add the regions of another annotation file of this same image",
        )
        self.csv_action = self._action(
            m, "Export regions as &CSV…", self.export_regions_csv_dialog, None,
            "One row per region: term, note, confidence, author, position and size",
        )
        m.addSeparator()
        self._action(m, "Store annotations &next to the images", lambda: self.set_annotation_folder(None),
                     None, "Save <image>.gmxai-annotations.json beside each image")
        self._action(m, "Store annotations in a &folder…", self.choose_folder_dialog, None,
                     "Keep all annotation files in one folder (for read-only image folders)")
        self._action(m, "Your &name for new regions…", self.author_dialog, None,
                     "The author written into each new region")

        f = w.menu("&File")
        self.figure_action = QAction("Export &figure…", w)
        self.figure_action.setShortcut(QKeySequence("Ctrl+E"))
        self.figure_action.setStatusTip("Save a publication figure (PNG, SVG or PDF) of this image or of all")
        self.figure_action.triggered.connect(self.open_figure_dialog)
        before = next((a for a in f.actions() if a.text().replace("&", "").startswith("Save window")), None)
        if before is not None:
            f.insertAction(before, self.figure_action)
        else:
            f.addAction(self.figure_action)

        v = w.menu("&View")
        v.addSeparator()
        v.addAction(self.toolbar.toggleViewAction())
        for dock in (self.regions_dock, self.metrics_dock):
            v.addAction(dock.toggleViewAction())

    def show_regions_dock(self, reason: Any = None) -> None:
        """Bring the Regions tab forward when the user starts drawing or selects a region."""
        if reason is None or reason == "select":
            return
        dock = getattr(self, "regions_dock", None)
        if dock is not None:
            dock.raise_()

    def save_now(self) -> None:
        if self.doc is not None and self.doc_path is not None and not self.doc.is_modified:
            self._notice(f"Annotations are saved in {self.doc_path.name}")
            return
        self.save_current()

    # -- dialogs -----------------------------------------------------------------------------
    def _start_folder(self) -> str:
        if self.doc_path is not None:
            return str(self.doc_path.parent)
        return str(self.path.parent) if self.path is not None else ""

    def export_annotations_dialog(self) -> None:
        if self.doc is None:
            return
        start = str(Path(self._start_folder()) / f"annotations{FILE_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Export annotations", start, "Annotations (*.json)"
        )
        if path:
            self._guard(lambda: export_document(self.doc, path), f"Exported {Path(path).name}")

    def import_annotations_dialog(self) -> None:
        if self.doc is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import annotations", self._start_folder(), "Annotations (*.json)"
        )
        if path:
            self._guard(lambda: import_document(self.doc, path), f"Imported regions from {Path(path).name}")

    def export_regions_csv_dialog(self) -> None:
        if self.doc is None:
            return
        start = str(Path(self._start_folder()) / "regions.csv")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export regions as CSV", start, "CSV (*.csv)")
        if path:
            self._guard(lambda: export_csv(self.doc, path), f"Exported {Path(path).name}")

    def _guard(self, fn: Callable[[], Any], done: str) -> None:
        try:
            fn()
        except GmxaiError as exc:
            QMessageBox.warning(self.window, "Annotations", str(exc))
        else:
            self._notice(done)

    def choose_folder_dialog(self) -> None:
        start = str(self.store.folder) if self.store.folder else self._start_folder()
        folder = QFileDialog.getExistingDirectory(self.window, "Folder for annotation files", start)
        if folder:
            self.set_annotation_folder(Path(folder))

    def author_dialog(self) -> None:
        name, ok = QInputDialog.getText(
            self.window,
            "Your name",
            "Name written as the author of the regions you draw\n(stored in the annotation files):",
            text=self.author(),
        )
        if ok:
            self.set_author(name)

    # -- figure export (FigureHost) ----------------------------------------------------------
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

        diff, entry = getattr(self.window, "diff", None), self.entry
        if diff is None or entry is None:
            return []
        sid_a, sid_b = diff.a.currentData(), diff.b.currentData()
        res_a, res_b = self._source_result(sid_a), self._source_result(sid_b)
        if res_a is None or res_b is None or res_a.map.shape != res_b.map.shape or sid_a == sid_b:
            return []
        d, _na, _nb = difference(res_a.map, res_b.map, diff.norm.currentData(), diff.sign.currentData())
        ov = self.controller.state.overlay
        title = f"{diff.a.currentText()} − {diff.b.currentText()}"
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
    window.grid.add_overlay_factory(layer.attach)
    diff = getattr(window, "diff", None)
    if diff is not None:  # the Difference tab's panels show the regions too
        for panel in (diff.panel_a, diff.panel_b, diff.panel_d):
            layer.attach(panel)

    # Regions share the right column with Analysis (a tab each); drawing or selecting a region brings
    # the Regions tab forward. The metrics table runs along the bottom, a few rows high.
    right = Qt.DockWidgetArea.RightDockWidgetArea
    feature.regions_dock = window.add_dock(feature.inspector, "Regions", right)
    analysis = getattr(window, "analysis_dock", None)
    if analysis is not None:
        window.tabifyDockWidget(analysis, feature.regions_dock)
        analysis.raise_()
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

    _geometry, state = window.settings.window_state()
    if state is not None:
        window.restoreState(state)
    else:
        window.resizeDocks([feature.metrics_dock], [170], Qt.Orientation.Vertical)
    layer.selection_changed.connect(feature.show_regions_dock)
    layer.tool_changed.connect(feature.show_regions_dock)
    warm_hpo_index()
    if c.state.image is not None:  # installed after an image was opened
        feature.on_image_changed(c.state.image)
        entry = c.prepared_cache.get(c.state.prepare_key(c.adapter.model_id)) if c.adapter else None
        if entry is not None:
            feature.on_prepared(c.state.image, entry)
    window.annotations = feature
    return feature


__all__ = ["AnnotationStore", "AnnotationsFeature", "Located", "install_annotations", "recovery_dir"]
