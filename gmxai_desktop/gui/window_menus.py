"""The main window's menus and the dialogs and toggles they open.

A mixin of :class:`~gmxai_desktop.gui.main_window.MainWindow`; features add their own menus
through ``MainWindow.menu(name)`` instead of editing this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMenu,
    QMessageBox,
)

from ..core.base.errors import GmxaiError
from .controller import COMPARE, PRIMARY, ModelRequest
from .help_text import ABOUT_HTML, READING_MAPS_HTML
from .model_dialog import ModelDialog


class WindowMenus:
    """File / Image / Methods / View / Help menus, file dialogs, recent models, help boxes."""

    def add_action(
        self, menu: QMenu, text: str, slot: Any, shortcut: Any = None, tip: str = "", checkable: bool = False
    ) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                act.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        f = self.menu("&File")
        self.add_action(
            f,
            "Open &model…",
            self.open_model_dialog,
            QKeySequence.StandardKey.Open,
            "Choose a trained classifier checkpoint",
        )
        self.recent_menu = f.addMenu("Open &recent model")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.add_action(
            f,
            "Open &demo",
            lambda: self.controller.open_demo("demo"),
            None,
            "Open the bundled demo model and its synthetic example faces",
        )
        f.addSeparator()
        self.add_action(
            f,
            "Open image &folder…",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            "Browse a folder of face photos (sub-folders included)",
        )
        self.add_action(
            f,
            "Open &labels file…",
            self.open_labels_dialog,
            None,
            "A CSV with the known diagnosis per image, shown beside the prediction",
        )
        f.addSeparator()
        self.add_action(
            f,
            "Load &comparison model…",
            self.open_compare_dialog,
            None,
            "A second model for the Difference tab: the same method on two models",
        )
        self.add_action(f, "Remove comparison model", self.controller.unload_compare)
        f.addSeparator()
        self.add_action(
            f, "Save window &image…", self.save_window_image, "Ctrl+Shift+S", "Save a PNG of this window"
        )
        f.addSeparator()
        self.add_action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        img = self.menu("&Image")
        self.add_action(
            img,
            "&Next image",
            lambda: self.browser.step(1),
            ["N", "PgDown"],
            "Show the next image in the list",
        )
        self.add_action(
            img,
            "&Previous image",
            lambda: self.browser.step(-1),
            ["P", "PgUp"],
            "Show the previous image in the list",
        )
        img.addSeparator()
        self.add_action(
            img,
            "&Compute again",
            self.controller.recompute,
            "F5",
            "Compute the maps that are missing (after a cancel or an error)",
        )
        self.add_action(img, "C&ancel", self.controller.cancel, "Esc", "Stop computing maps for this image")

        m = self.menu("&Methods")
        self.method_actions: dict[str, QAction] = {}
        for i, (name, cls) in enumerate(self._method_classes.items()):
            shortcut = f"Ctrl+{(i + 1) % 10}" if i < 10 else None
            act = self.add_action(
                m,
                cls.label,
                lambda on, n=name: self.controller.toggle_method(n, on),
                shortcut,
                cls.description,
                checkable=True,
            )
            self.method_actions[name] = act

        v = self.menu("&View")
        self.add_action(v, "&Reset zoom", self.grid.reset_zoom, "Home", "Show the whole face in every panel")
        self.crosshair_action = self.add_action(
            v,
            "&Crosshair and values",
            self._toggle_crosshair,
            "X",
            "Show the same pixel in every panel with its value",
            checkable=True,
        )
        self.crosshair_action.setChecked(True)
        self.model_view_action = self.add_action(
            v,
            "Show the &model's input under the maps",
            self._toggle_model_view,
            "M",
            "Draw maps over exactly what the model sees (e.g. greyscale 100×100) instead of the colour photo",
            checkable=True,
        )
        v.addSeparator()
        v.addAction(self.browser_dock.toggleViewAction())
        v.addAction(self.analysis_dock.toggleViewAction())
        v.addAction(self.display_dock.toggleViewAction())

        h = self.menu("&Help")
        self.add_action(h, "&How to read the maps", self.show_reading_help, "F1")
        self.add_action(h, "&About gmxai-desktop", self.show_about)

    # ---- dialogs ------------------------------------------------------------------------------
    def open_model_dialog(self) -> None:
        dlg = ModelDialog(self, start_dir=self.settings.last_folder())
        if dlg.exec():
            self.open_model(dlg.request())

    def open_compare_dialog(self) -> None:
        dlg = ModelDialog(self, start_dir=self.settings.last_folder(), title="Load comparison model")
        dlg.path.setText("demo-imbalanced")
        if dlg.exec():
            self.open_model(dlg.request(), COMPARE)

    def open_model(self, request: ModelRequest, role: str = PRIMARY) -> None:
        self.controller.open_model(request, role)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open image folder", self.settings.last_folder())
        if folder:
            self.open_folder(Path(folder))

    def open_folder(self, folder: Path, labels: Path | None = None) -> None:
        try:
            self.controller.open_folder(folder, labels)
            self.settings.save_last_folder(str(folder))
        except GmxaiError as exc:
            self.show_error("Cannot open the folder", str(exc))

    def open_labels_dialog(self) -> None:
        folder = getattr(self.controller, "folder", None)
        if folder is None:
            self.show_error("No folder open", "Open an image folder first, then its labels file.")
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open labels file", str(folder), "CSV files (*.csv);;All (*)"
        )
        if path:
            self.open_folder(folder, Path(path))

    def save_window_image(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save window image", "gmxai-window.png", "PNG (*.png)")
        if path and not self.grab().save(path, "PNG"):
            self.show_error("Cannot save", f"{Path(path).name} could not be written.")

    def show_error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)

    def show_reading_help(self) -> None:
        QMessageBox.information(self, "How to read the maps", READING_MAPS_HTML)

    def show_about(self) -> None:
        from .. import __version__

        QMessageBox.about(self, "About gmxai-desktop", ABOUT_HTML.format(version=__version__))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = self.settings.recent_models()
        if not items:
            act = self.recent_menu.addAction("(none yet)")
            act.setEnabled(False)
            return
        for entry in items:
            req = ModelRequest(
                entry["spec"],
                entry.get("arch"),
                entry.get("classes"),
                entry.get("device"),
                bool(entry.get("trust_pickle", False)),
            )
            act = self.recent_menu.addAction(req.label() + (f"  [{req.arch}]" if req.arch else ""))
            act.setToolTip(req.spec)
            act.triggered.connect(lambda _c=False, r=req: self.open_model(r))
        self.recent_menu.addSeparator()
        self.recent_menu.addAction("Clear list", self.settings.clear_recent_models)

    def _toggle_crosshair(self, on: bool) -> None:
        self.grid.crosshair_enabled = on
        if not on:
            self.grid.show_crosshair(None)

    def _toggle_model_view(self, on: bool) -> None:
        self._use_model_view = on
        if self._entry is not None:
            self._show_face(self._entry)

