"""The main window: browser on the left, synchronised panels in the centre, analysis on the right.

The window only renders controller state and forwards user intents to the
:class:`~gmxai_desktop.gui.controller.Controller`; it never calls torch.

Extension points for later features:

* ``MainWindow.add_tab(widget, title)`` adds a page to the central tab widget (e.g. composites).
* ``MainWindow.menu(name)`` returns (creating if needed) a top-level menu to add actions to.
* ``MainWindow.add_dock(widget, title, area)`` adds a dock that is saved with the layout.
* ``MainWindow.grid`` is the :class:`~gmxai_desktop.gui.panels.PanelGrid`; its
  ``add_overlay_factory`` puts graphics items on every synced panel (annotations).
* ``MainWindow.controller`` exposes the state (``controller.state``), the models
  (``controller.adapter``), the current results (``controller.current``) and signals
  (``panel_result``, ``prepared``, ``image_changed``...).
* ``MainWindow.all_results_shown`` fires when every panel for the current image has a result or a
  final error (``--screenshot`` waits for it).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.base.errors import GmxaiError
from .browser import ImageBrowser
from .controller import COMPARE, PRIMARY, Controller, ModelRequest, PreparedEntry
from .difference_view import CMP_PREFIX, DifferenceView
from .display import render_maps
from .help_text import ABOUT_HTML, READING_MAPS_HTML
from .method_panel import MethodSelector
from .model_dialog import ModelDialog
from .overlay_controls import OverlayControls
from .panels import FACE_PANEL, PanelGrid
from .settings import Settings
from .state import ALIGN_LABELS, ALIGN_MODES, ALIGN_TIPS, PanelSpec
from .target_selector import TargetSelector
from .theme import status_color

PANEL_STATE_PENDING, PANEL_STATE_DONE, PANEL_STATE_FAILED = "pending", "done", "failed"


class MainWindow(QMainWindow):
    all_results_shown = Signal()

    def __init__(self, controller: Controller | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        from ..core.attribution.methods import list_methods

        self.setWindowTitle("gmxai-desktop")
        self.setObjectName("gmxai-main-window")
        self.controller = controller or Controller(self)
        self.settings = settings or Settings()
        self._method_classes = {m.name: m for m in list_methods()}
        self._panel_state: dict[str, str] = {}
        self._specs: dict[str, PanelSpec] = {}
        self._timings: dict[str, float] = {}
        self._entry: PreparedEntry | None = None
        self._use_model_view = False
        self._menus: dict[str, QMenu] = {}

        self._overlay_timer = QTimer(self)
        self._overlay_timer.setSingleShot(True)
        self._overlay_timer.setInterval(0)
        self._overlay_timer.timeout.connect(self._render_overlays)
        self._build_central()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_settings()

    # ---- construction -------------------------------------------------------------------------
    def _build_central(self) -> None:
        self.tabs = QTabWidget()
        self.tabs.setObjectName("central-tabs")
        self.grid = PanelGrid()
        self.grid.setToolTip("")
        self.tabs.addTab(self.grid, "Explanations")
        self.tabs.setTabToolTip(
            0, "The aligned face and one map per selected method; zoom and pan are linked"
        )
        self.diff = DifferenceView()
        self.tabs.addTab(self.diff, "Difference")
        self.tabs.setTabToolTip(1, "Subtract two maps and measure how much they agree")
        self.setCentralWidget(self.tabs)
        self.grid.face_panel.set_title("<b>Face</b><br>open a model and an image folder")

    def _build_docks(self) -> None:
        self.browser = ImageBrowser()
        self.browser_dock = self.add_dock(self.browser, "Images", Qt.DockWidgetArea.LeftDockWidgetArea)
        self.browser_dock.setMinimumWidth(230)

        side = QWidget()
        col = QVBoxLayout(side)
        col.setContentsMargins(4, 4, 4, 4)
        model_box = QGroupBox("Model and image")
        mform = QFormLayout(model_box)
        self.model_label = QLabel("no model")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_model = QPushButton("Open model…")
        open_model.setToolTip("Choose a trained classifier checkpoint (Ctrl+O)")
        open_model.clicked.connect(self.open_model_dialog)
        mform.addRow("Model", self.model_label)
        mform.addRow("", open_model)
        self.prediction_label = QLabel("—")
        self.prediction_label.setObjectName("prediction")
        self.prediction_label.setWordWrap(True)
        self.prediction_label.setTextFormat(Qt.TextFormat.RichText)
        self.prediction_label.setToolTip("The model's five most probable classes for this image")
        mform.addRow("Prediction", self.prediction_label)
        self.alignment_label = QLabel("—")
        self.alignment_label.setWordWrap(True)
        self.alignment_label.setToolTip("How the face was found and aligned before the model saw it")
        mform.addRow("Face", self.alignment_label)
        col.addWidget(model_box)

        target_box = QGroupBox("What to explain")
        tlay = QVBoxLayout(target_box)
        self.target = TargetSelector()
        tlay.addWidget(self.target)
        aform = QFormLayout()
        aform.setContentsMargins(0, 0, 0, 0)
        self.align = QComboBox()
        self.align.setObjectName("align-mode")
        for mode in ALIGN_MODES:
            self.align.addItem(ALIGN_LABELS[mode], mode)
            self.align.setItemData(self.align.count() - 1, ALIGN_TIPS[mode], Qt.ItemDataRole.ToolTipRole)
        self.align.setToolTip("How faces are located and aligned to the model's template before analysis")
        aform.addRow("Alignment", self.align)
        tlay.addLayout(aform)
        col.addWidget(target_box)

        methods_box = QGroupBox("Methods")
        mlay = QVBoxLayout(methods_box)
        self.methods = MethodSelector()
        mlay.addWidget(self.methods)
        col.addWidget(methods_box, 1)

        # Display settings get their own dock (below the images), always in view: they are changed
        # often and never recompute anything.
        display = QWidget()
        dlay = QVBoxLayout(display)
        dlay.setContentsMargins(8, 4, 8, 4)
        self.overlay_controls = OverlayControls()
        dlay.addWidget(self.overlay_controls)
        dlay.addStretch(1)

        for host in (side, display):
            for combo in host.findChildren(QComboBox):
                combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
                combo.setMinimumContentsLength(10)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(side)
        scroll.setMinimumWidth(300)
        self.analysis_dock = self.add_dock(scroll, "Analysis", Qt.DockWidgetArea.RightDockWidgetArea)
        self.display_dock = self.add_dock(display, "Display", Qt.DockWidgetArea.LeftDockWidgetArea)
        self.splitDockWidget(self.browser_dock, self.display_dock, Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel("device: —")
        self.device_label.setToolTip("Where the model runs")
        self.timing_label = QLabel("")
        self.timing_label.setMinimumWidth(50)  # long timing lines are cut, never widen the window
        self.timing_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.timing_label.setToolTip("Time taken by the last steps")
        self.progress = QProgressBar()
        self.progress.setObjectName("overall-progress")
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%v of %m maps")
        self.progress.setToolTip("Maps ready for this image")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop computing maps for this image (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.controller.cancel)
        bar.addWidget(self.timing_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)

    def _action(
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
        self._action(
            f,
            "Open &model…",
            self.open_model_dialog,
            QKeySequence.StandardKey.Open,
            "Choose a trained classifier checkpoint",
        )
        self.recent_menu = f.addMenu("Open &recent model")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._action(
            f,
            "Open &demo",
            lambda: self.controller.open_demo("demo"),
            None,
            "Open the bundled demo model and its synthetic example faces",
        )
        f.addSeparator()
        self._action(
            f,
            "Open image &folder…",
            self.open_folder_dialog,
            "Ctrl+Shift+O",
            "Browse a folder of face photos (sub-folders included)",
        )
        self._action(
            f,
            "Open &labels file…",
            self.open_labels_dialog,
            None,
            "A CSV with the known diagnosis per image, shown beside the prediction",
        )
        f.addSeparator()
        self._action(
            f,
            "Load &comparison model…",
            self.open_compare_dialog,
            None,
            "A second model for the Difference tab: the same method on two models",
        )
        self._action(f, "Remove comparison model", self.controller.unload_compare)
        f.addSeparator()
        self._action(
            f, "Save window &image…", self.save_window_image, "Ctrl+Shift+S", "Save a PNG of this window"
        )
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        img = self.menu("&Image")
        self._action(
            img,
            "&Next image",
            lambda: self.browser.step(1),
            ["N", "PgDown"],
            "Show the next image in the list",
        )
        self._action(
            img,
            "&Previous image",
            lambda: self.browser.step(-1),
            ["P", "PgUp"],
            "Show the previous image in the list",
        )
        img.addSeparator()
        self._action(
            img,
            "&Compute again",
            self.controller.recompute,
            "F5",
            "Compute the maps that are missing (after a cancel or an error)",
        )
        self._action(img, "C&ancel", self.controller.cancel, "Esc", "Stop computing maps for this image")

        m = self.menu("&Methods")
        self.method_actions: dict[str, QAction] = {}
        for i, (name, cls) in enumerate(self._method_classes.items()):
            shortcut = f"Ctrl+{(i + 1) % 10}" if i < 10 else None
            act = self._action(
                m,
                cls.label,
                lambda on, n=name: self.controller.toggle_method(n, on),
                shortcut,
                cls.description,
                checkable=True,
            )
            self.method_actions[name] = act

        v = self.menu("&View")
        self._action(v, "&Reset zoom", self.grid.reset_zoom, "Home", "Show the whole face in every panel")
        self.crosshair_action = self._action(
            v,
            "&Crosshair and values",
            self._toggle_crosshair,
            "X",
            "Show the same pixel in every panel with its value",
            checkable=True,
        )
        self.crosshair_action.setChecked(True)
        self.model_view_action = self._action(
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
        self._action(h, "&How to read the maps", self.show_reading_help, "F1")
        self._action(h, "&About gmxai-desktop", self.show_about)

    def _connect(self) -> None:
        c = self.controller
        c.model_loading.connect(self._on_model_loading)
        c.model_loaded.connect(self._on_model_loaded)
        c.model_failed.connect(self._on_model_failed)
        c.folder_loaded.connect(self._on_folder_loaded)
        c.image_changed.connect(self._on_image_changed)
        c.prepared.connect(self._on_prepared)
        c.prepare_failed.connect(self._on_prepare_failed)
        c.image_status.connect(self.browser.set_status)
        c.statuses_reset.connect(self.browser.clear_statuses)
        c.panels_changed.connect(self._on_panels_changed)
        c.panel_pending.connect(self._on_panel_pending)
        c.panel_result.connect(self._on_panel_result)
        c.panel_progress.connect(self._on_panel_progress)
        c.panel_failed.connect(self._on_panel_failed)
        c.overall_progress.connect(self._on_overall)
        c.overlay_changed.connect(lambda ov: self._schedule_overlays())
        c.overlay_changed.connect(self.diff.set_overlay)
        c.compare_result.connect(lambda m, r: self.diff.set_map(CMP_PREFIX + m, r))
        c.compare_failed.connect(self._on_compare_failed)
        c.timing.connect(self._on_timing)
        c.notice.connect(lambda text: self.statusBar().showMessage(text, 15000))
        c.folder_failed.connect(lambda msg: self.show_error("Cannot read the folder", msg))
        c.busy_changed.connect(self.cancel_button.setEnabled)
        self.browser.image_selected.connect(c.set_image)
        self.browser.status_wanted.connect(c.request_status)
        self.methods.toggled.connect(c.toggle_method)
        self.methods.params_changed.connect(self._on_params_changed)
        self.target.target_changed.connect(c.set_target)
        self.align.currentIndexChanged.connect(lambda _i: c.set_align(self.align.currentData()))
        self.overlay_controls.settings_changed.connect(c.set_overlay)
        self.diff.compare_methods_wanted.connect(c.set_compare_methods)
        self.diff.load_compare_requested.connect(self.open_compare_dialog)

    # ---- extension API ------------------------------------------------------------------------
    def add_tab(self, widget: QWidget, title: str) -> int:
        return self.tabs.addTab(widget, title)

    def menu(self, name: str) -> QMenu:
        if name not in self._menus:
            menu = self.menuBar().addMenu(name)
            menu.setToolTipsVisible(True)
            self._menus[name] = menu
        return self._menus[name]

    def add_dock(self, widget: QWidget, title: str, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock:{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ---- settings -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        c = self.controller
        methods = s.methods()
        known = [
            m for m in (methods if methods is not None else c.state.methods) if m in self._method_classes
        ]
        c.state.methods = known
        for method, overrides in s.params().items():
            if method in self._method_classes:
                try:
                    c.state.param_overrides[method] = self._method_classes[method].resolve_params(overrides)
                except GmxaiError:
                    continue
        c.state.target = (
            s.target() if s.target() == "predicted" or s.target().startswith("top:") else "predicted"
        )
        c.state.align = s.align() if s.align() in ALIGN_MODES else "auto"
        c.state.overlay = s.overlay()
        self._sync_controls()
        self._on_panels_changed(c.state.panels())
        geo, state = s.window_state()
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1400, 860)
        if state is not None:
            self.restoreState(state)

    def save_settings(self) -> None:
        s, st = self.settings, self.controller.state
        s.save_window_state(self.saveGeometry(), self.saveState())
        s.save_overlay(st.overlay)
        s.save_methods(st.methods)
        s.save_params(st.param_overrides)
        s.save_target(
            st.target if (st.target == "predicted" or st.target.startswith("top:")) else "predicted"
        )
        s.save_align(st.align)
        s.sync()

    def _sync_controls(self) -> None:
        st = self.controller.state
        self.methods.set_checked(st.methods, focus_checked=True)
        self.methods.set_overrides(st.param_overrides)
        for name, act in self.method_actions.items():
            act.blockSignals(True)
            act.setChecked(name in st.methods)
            act.blockSignals(False)
        self.target.set_target(st.target)
        self.align.blockSignals(True)
        self.align.setCurrentIndex(max(0, self.align.findData(st.align)))
        self.align.blockSignals(False)
        self.overlay_controls.set_settings(st.overlay)
        self.diff.set_overlay(st.overlay)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.save_settings()
        self.browser.shutdown()
        self.controller.shutdown()
        super().closeEvent(event)

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

    # ---- controller -> view -------------------------------------------------------------------
    def _on_model_loading(self, role: str, label: str) -> None:
        if role == PRIMARY:
            self.model_label.setText(f"loading {html.escape(label)}…")
        self.timing_label.setText(f"loading {label}…")

    def _on_model_loaded(self, role: str, adapter: Any) -> None:
        from ..core.base.device import describe_device

        if role == COMPARE:
            self._update_diff_sources()
            req = self.controller.requests[COMPARE]
            name = req.label() if req is not None else ""
            self.timing_label.setText(
                f"comparison model {name} loaded" if adapter else "comparison model removed"
            )
            return
        req = self.controller.requests[PRIMARY]
        self._show_model_label(adapter)
        self.device_label.setText(f"device: {describe_device(adapter.device)}")
        self.target.set_classes(list(adapter.class_names))
        self.target.set_target(self.controller.state.target)
        if req is not None and not req.spec.startswith("demo"):
            self.settings.add_recent_model(
                {
                    "spec": req.spec,
                    "arch": req.arch,
                    "classes": req.classes,
                    "device": req.device,
                    "trust_pickle": req.trust_pickle,
                }
            )
        elif req is not None:
            self.settings.add_recent_model({"spec": req.spec})

    def _show_model_label(self, adapter: Any) -> None:
        if adapter is None:
            self.model_label.setText("no model")
            self.model_label.setToolTip("")
            return
        req = self.controller.requests[PRIMARY]
        label = req.label() if req else adapter.model_id
        self.model_label.setText(
            f"{html.escape(label)}<br><small>{html.escape(adapter.arch)}, "
            f"{adapter.num_classes} classes</small>"
        )
        self.model_label.setToolTip(adapter.model_id)

    def _on_model_failed(self, role: str, message: str) -> None:
        what = "the comparison model" if role == COMPARE else "the model"
        if role == PRIMARY:
            self._show_model_label(self.controller.adapter)  # the previous model stays in use
        self.timing_label.setText(f"could not open {what}")
        self.show_error(f"Cannot open {what}", message)

    def _on_folder_loaded(self, paths: list, labels: dict) -> None:
        self.browser.set_images(paths, labels)
        if paths:
            self.browser.select_row(0)
        else:
            self.grid.face_panel.set_title("<b>Face</b><br>this folder has no supported images")

    def _on_timing(self, what: str, seconds: float) -> None:
        self._timings[what] = seconds
        parts = []
        if "prepare" in self._timings:
            parts.append(f"face prepared in {self._timings['prepare']:.2f} s")
        for name, secs in self._timings.items():
            if name != "prepare" and name in self.controller.state.methods:
                cls = self._method_classes.get(name)
                parts.append(f"{cls.label if cls else name} {secs:.2f} s")
        self.timing_label.setText(" · ".join(parts))

    def _on_image_changed(self, path: Path | None) -> None:
        self._timings = {}
        self.timing_label.setText("")
        self._entry = None
        self.grid.set_face(None, None)
        for panel in self.grid.map_panels():
            panel.set_map(None)
        self.diff.clear_maps()
        name = html.escape(path.name) if path else ""
        self.grid.face_panel.set_title(f"<b>{name}</b><br>preparing…")
        self.grid.face_panel.set_message("")
        self.prediction_label.setText("…")
        self.alignment_label.setText("…")
        self.setWindowTitle(f"gmxai-desktop — {path.name}" if path else "gmxai-desktop")
        if path is not None and self.browser.current_path() != path:
            self.browser.select_path(path)

    def _on_prepared(self, path: Path, entry: PreparedEntry) -> None:
        self._entry = entry
        self._show_face(entry)
        top = getattr(entry.prediction, "top", [])
        rows = [f"{i + 1}. {html.escape(str(name))} — {prob:.0%}" for i, (_idx, name, prob) in enumerate(top)]
        label = self.controller.labels.get(path)
        if label:
            rows.append(f"<i>label: {html.escape(label)}</i>")
        self.prediction_label.setText("<br>".join(rows) or "—")
        color = status_color("ok" if entry.aligned else "warn", self.palette())
        self.alignment_label.setText(
            f"<span style='color:{color}'>{html.escape(entry.alignment_message)}</span>"
        )
        face_state = "aligned" if entry.aligned else "NOT aligned"
        self.grid.face_panel.set_title(
            f"<b>{html.escape(path.name)}</b><br>{face_state} · "
            f"predicted {html.escape(str(top[0][1]))} ({top[0][2]:.0%})"
            if top
            else f"<b>{html.escape(path.name)}</b>",
            entry.alignment_message,
        )
        self._update_diff_sources()

    def _show_face(self, entry: PreparedEntry) -> None:
        rgb = entry.display if self._use_model_view else entry.face_view
        self.grid.set_face(rgb, entry.grid_size)
        self.diff.set_face(rgb, entry.grid_size)
        self._schedule_overlays()

    def _on_prepare_failed(self, path: Path, message: str) -> None:
        self.grid.face_panel.set_title(f"<b>{html.escape(path.name)}</b><br>cannot be used", message)
        self.grid.face_panel.set_message("")
        self.prediction_label.setText("—")
        color = status_color("error", self.palette())
        self.alignment_label.setText(f"<span style='color:{color}'>{html.escape(message)}</span>")
        self.timing_label.setText(message)

    def _on_panels_changed(self, specs: list[PanelSpec]) -> None:
        self.grid.set_panel_ids([s.panel_id for s in specs])
        self._specs = {s.panel_id: s for s in specs}
        self._panel_state = {
            s.panel_id: self._panel_state.get(s.panel_id, PANEL_STATE_PENDING) for s in specs
        }
        for spec in specs:
            panel = self.grid.panel(spec.panel_id)
            if panel is not None and panel.result is None:
                panel.set_title(self._pending_title(spec))
        for name, act in self.method_actions.items():
            act.blockSignals(True)
            act.setChecked(name in self.controller.state.methods)
            act.blockSignals(False)
        self.methods.set_checked(self.controller.state.methods)
        self._update_diff_sources()
        self._schedule_overlays()

    def _method_label(self, spec: PanelSpec) -> str:
        cls = self._method_classes.get(spec.method)
        label = cls.label if cls else spec.method
        k = self.controller.state.target
        return f"{label} · #{spec.rank + 1}" if k.startswith("top:") else label

    def _pending_title(self, spec: PanelSpec) -> str:
        return f"<b>{html.escape(self._method_label(spec))}</b><br>waiting…"

    def _on_panel_pending(self, pid: str) -> None:
        panel, spec = self.grid.panel(pid), self._specs.get(pid)
        if panel is None or spec is None:
            return
        self._panel_state[pid] = PANEL_STATE_PENDING
        panel.set_map(None)
        panel.set_title(self._pending_title(spec))
        panel.set_message("waiting…")
        panel.set_progress(0.0)
        self.diff.set_map(pid, None)

    def _on_panel_progress(self, pid: str, fraction: float, message: str) -> None:
        panel = self.grid.panel(pid)
        if panel is not None and panel.result is None:
            panel.set_progress(fraction)
            panel.set_message(f"computing… {fraction:.0%}")

    def _on_panel_result(self, pid: str, res: Any) -> None:
        panel, spec = self.grid.panel(pid), self._specs.get(pid)
        if panel is None or spec is None:
            return
        if not np.all(np.isfinite(res.map)):
            self._on_panel_failed(
                pid,
                "the method produced invalid numbers (NaN or infinite values) for this "
                "image; try another method or check the checkpoint",
            )
            return
        self._panel_state[pid] = PANEL_STATE_DONE
        panel.set_map(res.map, res)
        panel.set_progress(None)
        panel.set_message("")
        params = ", ".join(f"{k}={v}" for k, v in res.params.items()) or "defaults"
        panel.set_title(
            f"<b>{html.escape(self._method_label(spec))}</b><br>"
            f"{html.escape(res.target_name)} · p = {res.probability:.2f}",
            f"target: {res.target_name} (class {res.target})\nlogit {res.logit:.3f}, probability "
            f"{res.probability:.3f}\nparameters: {params}\nchannels: {res.reduction}\n"
            f"computed in {res.elapsed_s:.2f} s",
        )
        self.diff.set_map(pid, res)
        self._schedule_overlays()
        self._check_complete()

    def _on_panel_failed(self, pid: str, message: str) -> None:
        panel, spec = self.grid.panel(pid), self._specs.get(pid)
        if panel is None or spec is None:
            return
        self._panel_state[pid] = PANEL_STATE_FAILED
        panel.set_map(None)
        panel.set_progress(None)
        panel.set_title(f"<b>{html.escape(self._method_label(spec))}</b><br>not available", message)
        panel.set_message(_wrap(message, 34))
        self._check_complete()

    def _on_compare_failed(self, method: str, message: str) -> None:
        self.diff.set_map(CMP_PREFIX + method, None)
        self.timing_label.setText(f"comparison model, {method}: {message}")

    def _on_overall(self, done: int, total: int) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)

    def _on_params_changed(self, method: str, values: dict) -> None:
        try:
            self.controller.set_params(method, values)
        except GmxaiError as exc:
            self.methods.show_error(str(exc))

    def _check_complete(self) -> None:
        """Emit ``all_results_shown`` once every panel is final, after the overlays are drawn."""
        states = [self._panel_state.get(pid) for pid in self._specs]
        if (
            self._entry is not None
            and states
            and all(s in (PANEL_STATE_DONE, PANEL_STATE_FAILED) for s in states)
        ):
            if self._overlay_timer.isActive():
                self._overlay_timer.stop()
                self._render_overlays()
            self.all_results_shown.emit()

    def _update_diff_sources(self) -> None:
        primary = [(pid, self._method_label(spec)) for pid, spec in self._specs.items()]
        cmp_adapter = self.controller.compare_adapter
        compare: list[tuple[str, str]] = []
        cmp_label = ""
        if cmp_adapter is not None:
            req = self.controller.requests[COMPARE]
            cmp_label = req.label() if req else cmp_adapter.model_id
            compare = [
                (n, c.label) for n, c in self._method_classes.items() if n in self.controller.state.methods
            ]
        self.diff.set_sources(primary, compare, cmp_label)
        for pid, res in self.controller.current.items():
            self.diff.set_map(pid, res)

    # ---- overlays -----------------------------------------------------------------------------
    def _schedule_overlays(self) -> None:
        """Coalesce many result/settings events into one re-render on the next event-loop turn."""
        self._overlay_timer.start()

    def _render_overlays(self) -> None:
        ov = self.controller.state.overlay
        panels = [p for p in self.grid.map_panels() if p.raw_map is not None]
        face = self.grid.face_panel.face_rgb
        up = face.shape[:2] if face is not None else None
        try:
            displays = render_maps(
                [p.raw_map for p in panels],
                sign=ov.sign_mode,
                clip_percentile=ov.clip_percentile,
                shared=ov.shared_scale,
                cmap=ov.colormap,
                opacity=ov.opacity,
                fade_weak=ov.fade_weak,
                upsample_to=up,
            )
        except GmxaiError as exc:
            self.timing_label.setText(str(exc))
            return
        for panel, disp in zip(panels, displays, strict=True):
            panel.show_display(disp, ov.sign_mode)
        for panel in self.grid.map_panels():
            if panel.raw_map is None:
                panel.show_display(None, ov.sign_mode)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)[:6])


__all__ = ["FACE_PANEL", "MainWindow"]
