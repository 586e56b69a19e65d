"""The Annotate menu, the annotation entries in File and View, and the dialogs they open.

A mixin of :class:`~gmxai_desktop.gui.annotations_integration.AnnotationsFeature`; it only builds
actions and asks for files and names, then calls the feature.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from ...core.annotations import FILE_SUFFIX, export_csv, export_document, import_document
from ...core.base.errors import GmxaiError
from .layer import AnnotationLayer


class AnnotationMenus:
    """Menus and file dialogs of the annotations feature (state and document work are the feature's)."""

    window: Any
    layer: AnnotationLayer

    def build_menus(self) -> None:
        w = self.window
        add = w.add_action
        m = w.menu("&Annotate")
        for act in self.toolbar.tool_actions.values():
            m.addAction(act)
        m.addSeparator()
        self.undo_action = add(
            m, "&Undo", self.layer.undo, QKeySequence.StandardKey.Undo, "Undo the last annotation edit"
        )
        self.redo_action = add(
            m, "&Redo", self.layer.redo, QKeySequence.StandardKey.Redo, "Redo the annotation edit"
        )
        self.delete_action = add(
            m, "&Delete region", self.layer.delete_selected, QKeySequence.StandardKey.Delete,
            "Delete the selected region (Undo brings it back)",
        )
        self.undo_action.setIconText("Undo")  # the toolbar stays short; the menu says what is undone
        self.redo_action.setIconText("Redo")
        self.delete_action.setIconText("Delete")
        for act in (self.undo_action, self.redo_action, self.delete_action):
            self.toolbar.addAction(act)
        m.addSeparator()
        self.show_action = add(
            m, "&Show annotations", self.layer.set_visible, "H", "Show or hide the regions on every panel",
            checkable=True,
        )
        self.show_action.setChecked(True)
        self.labels_action = add(
            m, "Show region &labels", self.layer.set_labels_visible, None,
            "Write each region's HPO term or note beside it", checkable=True,
        )
        self.labels_action.setChecked(True)
        m.addSeparator()
        self.save_action = add(
            m, "&Save annotations", self.save_now, QKeySequence.StandardKey.Save,
            "Save this image's regions now (they are also saved when you change image or close)",
        )
        self.export_doc_action = add(
            m, "&Export annotations…", self.export_annotations_dialog, None,
            "Save a copy to share, without the image's file name",
        )
        self.import_action = add(
            m, "&Import annotations…", self.import_annotations_dialog, None,
            "Add the regions of another annotation file of this same image",
        )
        self.csv_action = add(
            m, "Export regions as &CSV…", self.export_regions_csv_dialog, None,
            "One row per region: term, note, confidence, author, position and size",
        )
        m.addSeparator()
        add(m, "Store annotations &next to the images", lambda: self.set_annotation_folder(None), None,
            "Save <image>.gmxai-annotations.json beside each image")
        add(m, "Store annotations in a &folder…", self.choose_folder_dialog, None,
            "Keep all annotation files in one folder (for read-only image folders)")
        add(m, "Your &name for new regions…", self.author_dialog, None,
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
