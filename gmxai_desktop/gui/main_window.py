"""The main window: browser on the left, synchronised panels in the centre, analysis on the right.

The window only renders controller state and forwards user intents to the
:class:`~gmxai_desktop.gui.controller.Controller`; it never calls torch.

Extension points for features (``install_<feature>(window)`` in gui/app.py uses only these; see
docs/ARCHITECTURE.md):

* ``add_tab(widget, title)`` adds a page to the central tabs; ``show_tab(widget)`` brings it forward.
* ``menu(name)`` returns (creating if needed) a top-level menu; ``add_action(menu, text, slot,
  shortcut, tip, checkable)`` puts a QAction in it.
* ``add_dock(widget, title, area, tab_with=None)`` adds a dock that is saved with the layout.
* ``add_panel_overlay(factory)`` runs ``factory(panel)`` on every image panel (face, maps, the
  Difference tab's three), now and later: graphics items in map pixels line up everywhere.
* ``difference_view()`` is the Difference tab (its ``choice()``: what A − B shows now).
* ``notify(text)`` shows a transient status-bar message; ``show_error(title, text)`` a dialog.
* ``restore_dock_layout()`` puts docks added by a feature in their saved places.
* ``settings`` (:class:`~gmxai_desktop.gui.settings.Settings`) stores per-user values.
* ``controller`` exposes the state (``controller.state``), the models
  (``controller.adapter``), the current results (``controller.current``) and signals
  (``panel_result``, ``prepared``, ``image_changed``...).
* ``MainWindow.all_results_shown`` fires when every panel for the current image has a result or a
  final error (``--screenshot`` waits for it).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMenu,
    QTabWidget,
    QWidget,
)

from ..core.base.errors import GmxaiError
from .controller import Controller, PreparedEntry
from .difference_view import CMP_PREFIX, DifferenceView
from .panels import FACE_PANEL, ImagePanel, PanelGrid
from .settings import Settings
from .state import ALIGN_MODES, PanelSpec
from .window_docks import WindowDocks
from .window_menus import WindowMenus
from .window_results import WindowResults


class MainWindow(WindowDocks, WindowMenus, WindowResults, QMainWindow):
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

    def _connect(self) -> None:
        c = self.controller
        for signal, slot in (  # controller -> view: the WindowResults slots
            (c.model_loading, self._on_model_loading), (c.model_loaded, self._on_model_loaded),
            (c.model_failed, self._on_model_failed), (c.folder_loaded, self._on_folder_loaded),
            (c.image_changed, self._on_image_changed), (c.prepared, self._on_prepared),
            (c.prepare_failed, self._on_prepare_failed), (c.panels_changed, self._on_panels_changed),
            (c.panel_pending, self._on_panel_pending), (c.panel_result, self._on_panel_result),
            (c.panel_progress, self._on_panel_progress), (c.panel_failed, self._on_panel_failed),
            (c.overall_progress, self._on_overall_progress), (c.compare_failed, self._on_compare_failed),
            (c.timing, self._on_timing),
        ):
            signal.connect(slot)
        c.image_status.connect(self.browser.set_status)
        c.statuses_reset.connect(self.browser.clear_statuses)
        c.overlay_changed.connect(lambda ov: self._schedule_overlays())
        c.overlay_changed.connect(self.diff.set_overlay)
        c.compare_result.connect(lambda m, r: self.diff.set_map(CMP_PREFIX + m, r))
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

    def add_dock(
        self, widget: QWidget, title: str, area: Qt.DockWidgetArea, tab_with: QDockWidget | None = None
    ) -> QDockWidget:
        """A dock saved with the window layout; ``tab_with`` shares that dock's place as a tab."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock:{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if tab_with is not None:
            self.tabifyDockWidget(tab_with, dock)
            tab_with.raise_()
        return dock

    def show_tab(self, widget: QWidget) -> None:
        """Bring a page added with :meth:`add_tab` to the front."""
        self.tabs.setCurrentWidget(widget)

    def add_panel_overlay(self, factory: Callable[[ImagePanel], object]) -> None:
        """Run ``factory(panel)`` on every image panel, now and later: the face, every map and the
        Difference tab's A, B and A - B. Items added in map-pixel coordinates line up everywhere."""
        self.grid.add_overlay_factory(factory)
        for panel in self.diff.panels():
            factory(panel)

    def difference_view(self) -> DifferenceView:
        """The Difference tab (read its :meth:`~DifferenceView.choice`, connect to its signals)."""
        return self.diff

    def restore_dock_layout(self) -> bool:
        """Put docks added after start-up in their saved places; False when no layout was saved yet."""
        _geometry, state = self.settings.window_state()
        return state is not None and self.restoreState(state)

    def after_results_shown(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once, the next time every panel of the current image is final.

        For background work that should not take the one worker before the maps the user is
        waiting for (a folder study, an index warm-up).
        """

        def once() -> None:
            self.all_results_shown.disconnect(once)
            fn()

        self.all_results_shown.connect(once)

    def notify(self, text: str, msecs: int = 12000) -> None:
        """A transient message in the status bar."""
        self.statusBar().showMessage(text, msecs)

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


__all__ = ["FACE_PANEL", "MainWindow"]
