"""Make the window usable on a laptop screen (1366×768 at scale 1, or any scale).

Three things, all through the window's extension points:

* the window never opens larger than the screen's available area (a saved or default size from a
  bigger monitor would otherwise put the status bar and the right dock off-screen);
* the Region-metrics dock stays collapsed until the image has regions: empty, it took a sixth
  of a 768 px screen for a table header;
* View › Side panels (F9) hides every dock at once, and brings back the ones that were shown,
  for the most room for the maps; each dock also keeps its own View toggle.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow

MAX_TAB_MIN_WIDTH = 1280
"""Widest minimum any tab may ask for: 1366 px minus the window frame and a scroll bar's slack."""


def available_size(window: QMainWindow) -> QSize | None:
    screen = window.screen() or QApplication.primaryScreen()
    return screen.availableGeometry().size() if screen is not None else None


def fit_to_screen(window: QMainWindow) -> bool:
    """Shrink ``window`` to the screen's available area; True if it had to."""
    room = available_size(window)
    if room is None:
        return False
    frame = window.frameGeometry().size() - window.geometry().size()  # title bar, borders (0 before shown)
    w = min(window.width(), room.width() - frame.width())
    h = min(window.height(), room.height() - frame.height())
    if (w, h) == (window.width(), window.height()):
        return False
    window.resize(max(w, 1), max(h, 1))
    return True


def tab_minimum_widths(window: Any) -> dict[str, int]:
    """Minimum width each central tab asks for (what decides the window's own minimum)."""
    tabs = window.tabs
    return {tabs.tabText(i): tabs.widget(i).minimumSizeHint().width() for i in range(tabs.count())}


class _MetricsDockCollapse:
    """Hide the Region-metrics dock while the image has no regions, unless the user chose otherwise."""

    def __init__(self, dock: QDockWidget, layer: Any) -> None:
        self.dock, self.layer = dock, layer
        self.auto = True  # becomes False once the user toggles the dock from the View menu
        dock.toggleViewAction().triggered.connect(self._user_toggled)
        layer.regions_changed.connect(self.update)
        self.update()

    def _user_toggled(self, _checked: bool) -> None:
        self.auto = False

    def update(self) -> None:
        if not self.auto:
            return
        doc = self.layer.document
        has_regions = doc is not None and len(doc.regions) > 0
        if has_regions == self.dock.isHidden():  # isHidden, not isVisible: works before show()
            self.dock.setVisible(has_regions)


class _SidePanels:
    """One toggle for all docks: hide them, and restore exactly the ones that were visible."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.hidden: list[QDockWidget] = []
        self.action = QAction("Side &panels", window)
        self.action.setCheckable(True)
        self.action.setChecked(True)
        self.action.setShortcut(QKeySequence("F9"))
        self.action.setStatusTip("Hide or show all side panels, for more room for the maps")
        self.action.toggled.connect(self.set_shown)

    def set_shown(self, shown: bool) -> None:
        if shown:
            for dock in self.hidden:
                dock.show()
            self.hidden = []
            return
        docks = self.window.findChildren(QDockWidget)
        self.hidden = [d for d in docks if d.isVisible() and not d.isFloating()]
        for dock in self.hidden:
            dock.hide()


def install_small_screen_support(window: Any) -> None:
    """Call after the other features are installed (it needs their docks)."""
    feature = getattr(window, "annotations", None)
    metrics_dock = getattr(feature, "metrics_dock", None)
    if metrics_dock is not None and feature is not None:
        window._metrics_collapse = _MetricsDockCollapse(metrics_dock, feature.layer)
    panels = _SidePanels(window)
    view = window.menu("&View")
    first_dock_toggle = next((a for a in view.actions() if a.isSeparator()), None)
    if first_dock_toggle is not None:
        view.insertAction(first_dock_toggle, panels.action)
    else:
        view.addAction(panels.action)
    window._side_panels = panels
    fit_to_screen(window)
