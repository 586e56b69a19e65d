"""Synchronised image panels: the aligned face plus one panel per attribution map.

Every panel is an :class:`ImagePanel` (pyqtgraph ViewBox with y pointing down, aspect locked) whose
view coordinates are *map pixels*: x in [0, W), y in [0, H) of the model input. The face and the
overlay are stretched onto that rectangle, so the same (x, y) means the same model-input pixel in
every panel. :class:`PanelGrid` links zoom/pan of all panels, draws one crosshair across all of
them with a raw-value readout, and reflows panels into the grid shape that makes them largest.

Extension points (used by annotation tools and figure export):

* ``PanelGrid.add_overlay_factory(fn)``: ``fn(panel)`` is called for every existing and future
  map panel and the face panel; it adds graphics items with ``panel.add_item(item)``. Items live
  in map-pixel coordinates, so one annotation drawn at (x, y) marks the same pixel everywhere.
* ``PanelGrid.panel_added`` / ``panels()`` / ``panel(id)``: access to panels and their data
  (``panel.raw_map``, ``panel.result``, ``panel.face_rgb``, ``panel.view_box``).
* ``PanelGrid.hover_changed``: map-pixel (ix, iy) under the mouse, or None.
* ``PanelGrid.add_extra_panel(id)``: a panel that stays after the method panels whatever methods
  are selected (the gaze density), with the same linked zoom and crosshair; not in ``map_panels()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsLineItem,
    QGridLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .display import DisplayMap, colorbar_colors

FACE_PANEL = "__face__"
COLORBAR_AXIS_WIDTH = 46
CROSSHAIR_PEN = pg.mkPen(QColor(0, 255, 170, 220), width=1, style=Qt.PenStyle.DashLine)
CROSSHAIR_PEN.setCosmetic(True)


@lru_cache(maxsize=64)
def colorbar_map(cmap: str, sign: str) -> pg.ColorMap:
    """pyqtgraph colour map for a colour bar (cached: building one costs milliseconds)."""
    colors = colorbar_colors(cmap, sign)
    return pg.ColorMap(np.linspace(0.0, 1.0, len(colors)), colors)


def format_value(v: float) -> str:
    """Compact, sign-explicit number for readouts (attribution values span many magnitudes)."""
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:+.4g}"
    return f"{v:+.3e}"


class ImagePanel(QFrame):
    """One view: a title, a ViewBox with the face and an optional map overlay, a colour bar and a
    readout line. ``hovered`` reports the mouse position in map-pixel coordinates."""

    hovered = Signal(object)  # (x, y) floats in view coordinates, or None when the mouse left

    def __init__(self, panel_id: str, *, show_colorbar: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panel_id = panel_id
        self.setObjectName(f"panel:{panel_id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.raw_map: np.ndarray | None = None
        self.result: object | None = None
        self.face_rgb: np.ndarray | None = None
        self.grid_size: tuple[int, int] | None = None  # (h, w) of the map pixel grid
        self._message = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(1)
        self.title_label = QLabel()
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # exactly two lines in every panel: equal view sizes keep linked, aspect-locked views aligned
        self.title_label.setWordWrap(False)
        self.title_label.setFixedHeight(2 * self.title_label.fontMetrics().lineSpacing() + 4)
        self.title_label.setMinimumWidth(1)
        layout.addWidget(self.title_label)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(90, 90)
        self.graphics.setBackground(QColor(24, 24, 28))
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.view_box = self.graphics.addViewBox(
            row=0, col=0, lockAspect=True, invertY=True, enableMenu=False
        )
        self.view_box.setDefaultPadding(0.01)
        self.base_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item = pg.ImageItem(axisOrder="row-major")
        self.overlay_item.setZValue(10)
        for item in (self.base_item, self.overlay_item):
            # Repaint from a cached pixmap when only the crosshair moves: scaling the images on
            # every mouse move would cost milliseconds per panel on the GUI thread.
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.view_box.addItem(self.base_item)
        self.view_box.addItem(self.overlay_item)
        # Plain Qt line items across the image: moving them is one C++ call each, which keeps the
        # crosshair cheap on the GUI thread while the worker computes (see benchmarks/bench_ui.py).
        self.vline = QGraphicsLineItem()
        self.hline = QGraphicsLineItem()
        for line in (self.vline, self.hline):
            line.setPen(CROSSHAIR_PEN)
            line.setZValue(50)
            line.hide()
            self.view_box.addItem(line, ignoreBounds=True)
        self.message_item = pg.TextItem("", color=(230, 230, 230), anchor=(0.5, 0.5))
        self.message_item.setZValue(60)
        self.view_box.addItem(self.message_item, ignoreBounds=True)
        # Every panel has a colour bar of fixed width (transparent when unused), so all views have
        # the same shape: linked views with locked aspect then show exactly the same region.
        self._has_colorbar = show_colorbar
        self.colorbar = pg.ColorBarItem(values=(0, 1), width=10, interactive=False, colorMapMenu=False)
        self.colorbar.axis.setWidth(COLORBAR_AXIS_WIDTH)
        tick_font = QFont(self.font())
        tick_font.setPointSizeF(max(6.5, tick_font.pointSizeF() - 2))
        self.colorbar.axis.setStyle(tickFont=tick_font)
        self._set_colorbar_visible(False)
        self.graphics.addItem(self.colorbar, row=0, col=1)
        layout.addWidget(self.graphics, 1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(4)
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # showing progress must not resize the view
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.readout = QLabel(" ")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        small = QFont(self.readout.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        self.readout.setFont(small)
        self.readout.setFixedHeight(self.readout.fontMetrics().lineSpacing() + 2)
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.readout)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse)

    # ---- content ------------------------------------------------------------------------------
    def set_title(self, html: str, tooltip: str = "") -> None:
        self.title_label.setText(html)
        self.title_label.setToolTip(tooltip)

    def set_face(self, rgb: np.ndarray | None, grid_size: tuple[int, int] | None) -> None:
        """Show ``rgb`` stretched onto the (h, w) map grid; the first face sets the view range."""
        first = self.grid_size is None
        self.face_rgb = rgb
        if rgb is None or grid_size is None:
            self.base_item.clear()
            return
        self.grid_size = grid_size
        self.base_item.setImage(np.ascontiguousarray(rgb), autoLevels=False, levels=(0, 255))
        self.base_item.setRect(QRectF(0, 0, grid_size[1], grid_size[0]))
        self._place_message()
        if first:
            self.view_box.autoRange(padding=0.01)

    def set_map(self, raw: np.ndarray | None, result: object | None = None) -> None:
        """Attach a raw map (drawn later by :meth:`show_display`); None clears it."""
        self.raw_map = raw
        self.result = result
        if raw is None:
            self.overlay_item.clear()
            self._set_colorbar_visible(False)

    def show_display(self, display: DisplayMap | None, sign: str) -> None:
        if display is None or self.grid_size is None:
            self.overlay_item.clear()
            self._set_colorbar_visible(False)
            return
        h, w = self.grid_size
        self.overlay_item.setImage(display.rgba, autoLevels=False, levels=(0, 255))
        self.overlay_item.setRect(QRectF(0, 0, w, h))
        if self._has_colorbar:
            self.colorbar.setColorMap(colorbar_map(display.cmap, sign))
            lo, hi = display.vmin, display.vmax
            if hi <= lo:
                hi = lo + 1e-12
            self.colorbar.setLevels((lo, hi))
            self._set_colorbar_visible(True)

    def _set_colorbar_visible(self, on: bool) -> None:
        self.colorbar.setOpacity(1.0 if on and self._has_colorbar else 0.0)

    @property
    def colorbar_shown(self) -> bool:
        return self.colorbar.opacity() > 0

    def set_progress(self, fraction: float | None) -> None:
        if fraction is None:
            self.progress.hide()
        else:
            self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))
            self.progress.show()

    def set_message(self, text: str) -> None:
        """A centred note over the view (computing…, errors); empty hides it."""
        self._message = text
        self.message_item.setText(text)
        self._place_message()

    def _place_message(self) -> None:
        if self.grid_size is not None:
            h, w = self.grid_size
            self.message_item.setPos(QPointF(w / 2, h / 2))

    def add_item(self, item: pg.GraphicsObject, ignore_bounds: bool = True) -> None:
        """Add a graphics item in map-pixel coordinates (annotation tools, markers)."""
        self.view_box.addItem(item, ignoreBounds=ignore_bounds)

    # ---- crosshair ----------------------------------------------------------------------------
    def show_crosshair(self, pixel: tuple[int, int] | None) -> None:
        if pixel is None or self.grid_size is None:
            self.vline.hide()
            self.hline.hide()
            self.readout.setText(" ")
            return
        ix, iy = pixel
        h, w = self.grid_size
        self.vline.setLine(ix + 0.5, 0.0, ix + 0.5, float(h))
        self.hline.setLine(0.0, iy + 0.5, float(w), iy + 0.5)
        self.vline.show()
        self.hline.show()
        self.readout.setText(self.value_text(ix, iy))

    def value_text(self, ix: int, iy: int) -> str:
        h, w = self.grid_size or (0, 0)
        if not (0 <= ix < w and 0 <= iy < h):
            return " "
        if self.raw_map is not None and self.raw_map.shape == (h, w):
            return f"({ix}, {iy})  value {format_value(float(self.raw_map[iy, ix]))}"
        if self.face_rgb is not None:
            fh, fw = self.face_rgb.shape[:2]
            px = self.face_rgb[min(int(iy * fh / h), fh - 1), min(int(ix * fw / w), fw - 1)]
            return f"({ix}, {iy})  RGB {int(px[0])}, {int(px[1])}, {int(px[2])}"
        return f"({ix}, {iy})"

    def _on_mouse(self, pos: QPointF) -> None:
        if self.view_box.sceneBoundingRect().contains(pos):
            p = self.view_box.mapSceneToView(pos)
            self.hovered.emit((p.x(), p.y()))
        else:
            self.hovered.emit(None)

    def leaveEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        self.hovered.emit(None)
        super().leaveEvent(event)


class PanelGrid(QWidget):
    """Face panel first, then map panels; linked views, shared crosshair, reflowing layout."""

    hover_changed = Signal(object)  # (ix, iy) map pixel or None
    panel_added = Signal(object)  # ImagePanel

    def __init__(self, parent: QWidget | None = None, min_panel: int = 150) -> None:
        super().__init__(parent)
        self.min_panel = min_panel
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(2, 2, 2, 2)
        self._layout.setSpacing(4)
        self._panels: dict[str, ImagePanel] = {}
        self._factories: list[Callable[[ImagePanel], None]] = []
        self._extra_ids: list[str] = []
        self._columns = 0
        self._user_zoomed = False
        self._crosshair: tuple[int, int] | None = None
        self.crosshair_enabled = True
        self._add_panel(FACE_PANEL, show_colorbar=False)
        self.reflow(force=True)

    # ---- panels -------------------------------------------------------------------------------
    @property
    def face_panel(self) -> ImagePanel:
        return self._panels[FACE_PANEL]

    def panels(self) -> list[ImagePanel]:
        return list(self._panels.values())

    def map_panels(self) -> list[ImagePanel]:
        return [p for pid, p in self._panels.items() if pid != FACE_PANEL and pid not in self._extra_ids]

    def add_extra_panel(self, panel_id: str) -> ImagePanel:
        """A panel kept after the method panels (see the module docstring); returns it."""
        if panel_id not in self._extra_ids:
            methods = [p.panel_id for p in self.map_panels()]
            self._extra_ids.append(panel_id)
            self.set_panel_ids(methods)
        return self._panels[panel_id]

    def remove_extra_panel(self, panel_id: str) -> None:
        if panel_id in self._extra_ids:
            self._extra_ids.remove(panel_id)
            self.set_panel_ids([p.panel_id for p in self.map_panels() if p.panel_id != panel_id])

    def panel(self, panel_id: str) -> ImagePanel | None:
        return self._panels.get(panel_id)

    def set_panel_ids(self, ids: list[str]) -> None:
        """Keep panels whose id stays, drop the others, create new ones, in the given order."""
        wanted = [FACE_PANEL, *ids, *self._extra_ids]
        for pid in [p for p in self._panels if p not in wanted]:
            panel = self._panels.pop(pid)
            panel.view_box.setXLink(None)  # unlink before the view goes away
            panel.view_box.setYLink(None)
            self._layout.removeWidget(panel)
            panel.hide()
            panel.setParent(None)
            panel.deleteLater()
        face = self.face_panel
        ordered: dict[str, ImagePanel] = {}
        for pid in wanted:
            panel = self._panels.get(pid) or self._add_panel(pid)
            ordered[pid] = panel
        self._panels = ordered
        for pid, panel in self._panels.items():
            if pid != FACE_PANEL and face.grid_size is not None:
                panel.set_face(face.face_rgb, face.grid_size)
        self.reflow(force=True)

    def _add_panel(self, panel_id: str, show_colorbar: bool = True) -> ImagePanel:
        panel = ImagePanel(panel_id, show_colorbar=show_colorbar, parent=self)
        if panel_id != FACE_PANEL:
            master = self._panels[FACE_PANEL].view_box
            panel.view_box.setXLink(master)
            panel.view_box.setYLink(master)
        panel.hovered.connect(self._on_hover)
        panel.view_box.sigRangeChangedManually.connect(self._on_user_zoom)
        self._panels[panel_id] = panel
        for factory in self._factories:
            factory(panel)
        self.panel_added.emit(panel)
        return panel

    def add_overlay_factory(self, factory: Callable[[ImagePanel], None]) -> None:
        """Run ``factory(panel)`` on every panel now and on every panel created later."""
        self._factories.append(factory)
        for panel in self.panels():
            factory(panel)

    def set_face(self, rgb: np.ndarray | None, grid_size: tuple[int, int] | None) -> None:
        for panel in self.panels():
            panel.set_face(rgb, grid_size)

    def reset_zoom(self) -> None:
        self._user_zoomed = False
        self.face_panel.view_box.autoRange(padding=0.01)

    def _on_user_zoom(self, *_args: object) -> None:
        self._user_zoomed = True

    # ---- layout -------------------------------------------------------------------------------
    @staticmethod
    def best_columns(n: int, width: float, height: float) -> int:
        """Column count that makes n square panels as large as possible in width × height."""
        best, best_side = 1, -1.0
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            side = min(width / cols, height / rows)
            if side > best_side + 1e-9:
                best, best_side = cols, side
        return best

    def reflow(self, force: bool = False) -> None:
        n = len(self._panels)
        cols = self.best_columns(n, max(self.width(), 1), max(self.height(), 1))
        if cols == self._columns and not force:
            return
        self._columns = cols
        for panel in self._panels.values():
            self._layout.removeWidget(panel)
        for i, panel in enumerate(self._panels.values()):
            self._layout.addWidget(panel, i // cols, i % cols)
            panel.show()
        rows = math.ceil(n / cols)
        for r in range(self._layout.rowCount()):
            self._layout.setRowStretch(r, 1 if r < rows else 0)
        for c in range(self._layout.columnCount()):
            self._layout.setColumnStretch(c, 1 if c < cols else 0)
        if not self._user_zoomed:
            QTimer.singleShot(0, self._refit)  # the cells changed shape: fit the face again

    def resizeEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.reflow()
        if not self._user_zoomed:
            QTimer.singleShot(0, self._refit)

    def _refit(self) -> None:
        if not self._user_zoomed and self.face_panel.grid_size is not None:
            self.face_panel.view_box.autoRange(padding=0.01)

    @property
    def columns(self) -> int:
        return self._columns

    # ---- crosshair ----------------------------------------------------------------------------
    def _on_hover(self, pos: tuple[float, float] | None) -> None:
        pixel = None
        grid = self.face_panel.grid_size
        if pos is not None and grid is not None and self.crosshair_enabled:
            ix, iy = math.floor(pos[0]), math.floor(pos[1])
            if 0 <= ix < grid[1] and 0 <= iy < grid[0]:
                pixel = (ix, iy)
        if pixel != self._crosshair:  # most mouse moves stay inside one map pixel
            self.show_crosshair(pixel)

    def show_crosshair(self, pixel: tuple[int, int] | None) -> None:
        self._crosshair = pixel
        for panel in self.panels():
            panel.show_crosshair(pixel)
        self.hover_changed.emit(pixel)


class ReflowBox(QWidget):
    """Square-ish cells for a fixed set of widgets, re-arranged to stay as large as possible."""

    def __init__(self, widgets: list[QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._widgets = widgets
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._columns = 0
        self.reflow(force=True)

    @property
    def columns(self) -> int:
        return self._columns

    def reflow(self, force: bool = False) -> None:
        cols = PanelGrid.best_columns(len(self._widgets), max(self.width(), 1), max(self.height(), 1))
        if cols == self._columns and not force:
            return
        self._columns = cols
        for w in self._widgets:
            self._layout.removeWidget(w)
        for i, w in enumerate(self._widgets):
            self._layout.addWidget(w, i // cols, i % cols)
        rows = math.ceil(len(self._widgets) / cols)
        for r in range(self._layout.rowCount()):
            self._layout.setRowStretch(r, 1 if r < rows else 0)
        for c in range(self._layout.columnCount()):
            self._layout.setColumnStretch(c, 1 if c < cols else 0)

    def resizeEvent(self, event: object) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.reflow()
