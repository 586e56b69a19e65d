"""Drawing and editing clinician regions on every synchronised image panel.

One :class:`~gmxai_desktop.core.annotations.AnnotationDocument`, N views. Each panel (the face,
every map, the difference view's panels) gets a :class:`PanelAnnotations` view; views never change
regions themselves. A finished stroke, a dragged handle or a delete becomes an *intent* on the
:class:`AnnotationLayer`, which applies it to the document (so it is one undoable step), and the
document's events redraw every view. A region drawn on the Grad-CAM panel therefore appears at the
same pixels on the face and on every other map, and undo restores all of them at once.

Coordinates. Panels show *map pixels* (the model input grid, corner origin, y down). The document
keeps regions on the photo and derives the aligned face crop's coordinates through the alignment;
the crop and the map grid differ only by a scale (the model resizes the crop to its input), so
:class:`PanelFrame` converts between them exactly.

While a handle or a region is being dragged, every step is sent to the document with the same
``merge_key``: other panels follow live, and the whole drag is a single undo step.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems.ROI import Handle
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QColor,
    QIcon,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QLabel, QMenu, QSpinBox, QToolBar, QWidget

from ..core.annotations import (
    AnnotationDocument,
    AnnotationError,
    DocumentEvent,
    Geometry,
    Region,
    outlines,
    to_original,
)
from ..core.output.figure import ANNOTATION_COLORS

TOOLS: tuple[str, ...] = ("select", "rect", "ellipse", "polygon", "brush", "lasso")


@dataclass(frozen=True)
class ToolInfo:
    label: str
    shortcut: str
    tip: str


TOOL_INFO: dict[str, ToolInfo] = {
    "select": ToolInfo(
        "Select",
        "V",
        "Select a region to label it; drag it to move it, drag its corner handles to reshape it. "
        "Double-click an edge of a polygon to add a corner, right-click a corner to remove it. "
        "Drag the empty image to pan, scroll to zoom.",
    ),
    "rect": ToolInfo("Rectangle", "R", "Drag a rectangle over a feature (hold Shift for a square)."),
    "ellipse": ToolInfo("Ellipse", "E", "Drag the box the ellipse fits in (hold Shift for a circle)."),
    "polygon": ToolInfo(
        "Polygon",
        "G",
        "Click the corners of the region one after another. Double-click, click the first corner or "
        "press Enter to close it; Backspace removes the last corner, Esc cancels.",
    ),
    "brush": ToolInfo("Brush", "B", "Paint over a feature; the stroke is as wide as the brush size."),
    "lasso": ToolInfo("Lasso", "L", "Draw the outline freehand; it closes when you release the mouse."),
}

Z_CANVAS_SELECT = 12.0  # above the face and the map overlay (z 10): clicks on empty image deselect
Z_REGIONS = 20.0
Z_LABELS = 26.0
Z_EDITOR = 30.0
Z_CANVAS_DRAW = 40.0  # above every region while a drawing tool is active
Z_PREVIEW = 45.0
_drag_counter = itertools.count(1)
MIN_DRAG_SCREEN_PX = 3.0  # a smaller rectangle/ellipse is taken as a stray click, not a region


def region_color(region: Region, index: int) -> str:
    """The colour a region is drawn in, the same rule as exported figures use."""
    return region.color or ANNOTATION_COLORS[index % len(ANNOTATION_COLORS)]


@dataclass(frozen=True)
class PanelFrame:
    """Map-grid pixels of the panels versus the document's aligned-crop pixels.

    ``grid_hw`` is the model input (height, width) the panels show; ``aligned_size`` the aligned
    crop's (width, height). With corner-origin coordinates the map is a pure scale.
    """

    grid_hw: tuple[int, int]
    aligned_size: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): aligned pixels per panel pixel."""
        return (self.aligned_size[0] / self.grid_hw[1], self.aligned_size[1] / self.grid_hw[0])

    def to_doc_matrix(self) -> np.ndarray:
        sx, sy = self.scale
        return np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]])

    def from_doc_matrix(self) -> np.ndarray:
        sx, sy = self.scale
        return np.array([[1.0 / sx, 0.0, 0.0], [0.0, 1.0 / sy, 0.0]])

    def to_doc(self, geometry: Geometry) -> Geometry:
        return geometry.transformed(self.to_doc_matrix())

    def from_doc(self, geometry: Geometry) -> Geometry:
        return geometry.transformed(self.from_doc_matrix())

    def point_to_doc(self, x: float, y: float) -> tuple[float, float]:
        sx, sy = self.scale
        return (x * sx, y * sy)

    def rect(self) -> QRectF:
        return QRectF(0.0, 0.0, float(self.grid_hw[1]), float(self.grid_hw[0]))


def simplify(points: np.ndarray, epsilon: float, closed: bool) -> np.ndarray:
    """Drop freehand points that deviate less than ``epsilon`` from the simplified line
    (Ramer-Douglas-Peucker, OpenCV), so a lasso gets a handful of editable corners, not hundreds."""
    import cv2

    pts = np.asarray(points, dtype=np.float32).reshape(-1, 1, 2)
    if len(pts) < 3 or epsilon <= 0:
        return pts.reshape(-1, 2).astype(np.float64)
    out = cv2.approxPolyDP(pts, float(epsilon), closed).reshape(-1, 2).astype(np.float64)
    return out


def _path_from_lines(lines: Sequence[np.ndarray], closed: bool = True) -> QPainterPath:
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)
    for line in lines:
        if len(line) == 0:
            continue
        poly = QPolygonF([QPointF(float(x), float(y)) for x, y in line])
        if closed and len(line) > 2:
            poly.append(poly.first())
        path.addPolygon(poly)
        if closed:
            path.closeSubpath()
    return path


def path_points(path: QPainterPath) -> np.ndarray:
    """All element coordinates of a path as (N, 2) (tests compare views with it)."""
    return np.array([(path.elementAt(i).x, path.elementAt(i).y) for i in range(path.elementCount())])


def _pen(color: str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


# --------------------------------------------------------------------------------------------
# Graphics items
# --------------------------------------------------------------------------------------------


class _RegionItem(QGraphicsPathItem):
    """A region's outline and light fill in one panel; a click selects it (Select tool)."""

    def __init__(self, view: PanelAnnotations, region_id: str) -> None:
        super().__init__()
        self.view = view
        self.region_id = region_id
        self._drag: tuple[Geometry, object, QPointF] | None = None
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)

    def set_style(self, color: str) -> None:
        self.setPen(_pen(color, 2.0))
        fill = QColor(color)
        fill.setAlpha(40)
        self.setBrush(fill)

    # pyqtgraph's scene delivers its own click/drag events to items that define these.
    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph protocol)
        if ev.button() == Qt.MouseButton.LeftButton and self.view.layer.tool == "select":
            ev.accept()
            self.view.layer.select(self.region_id)
        else:
            ev.ignore()

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph protocol)
        """Press on a region and drag: it is selected and moves (one undo step)."""
        layer = self.view.layer
        if ev.button() != Qt.MouseButton.LeftButton or layer.tool != "select" or layer.document is None:
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            layer.select(self.region_id)
            start = layer.document.geometry_in(self.region_id, "aligned")
            self._drag = (start, ("drag", self.region_id, next(_drag_counter)), ev.buttonDownPos())
        if self._drag is None:
            return
        start, key, origin = self._drag
        d = ev.pos() - origin
        layer.translate(self.region_id, start, d.x(), d.y(), merge_key=key)
        if ev.isFinish():
            self._drag = None

    def hoverEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph protocol)
        if self.view.layer.tool == "select" and not ev.isExit():
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            ev.acceptDrags(Qt.MouseButton.LeftButton)


class _CornerHandle(Handle):
    """A vertex handle whose right-click offers 'Remove corner' (polygons and lassos)."""

    def __init__(self, editor: _RegionEditor, deletable: bool) -> None:
        super().__init__(
            7,
            typ="f",
            pen=editor.handlePen,
            hoverPen=editor.handleHoverPen,
            parent=editor,
            antialias=True,
        )
        self.editor = editor
        self.setDeletable(deletable)
        self.setToolTip(
            "Drag to move this corner" + ("; right-click to remove it" if deletable else "")
        )

    def raiseContextMenu(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        menu = QMenu()
        act = menu.addAction("Remove corner")
        act.setEnabled(self.editor.can_remove_corner())
        index = self.editor.handle_index(self)
        act.triggered.connect(lambda: QTimer.singleShot(0, lambda: self.editor.remove_corner(index)))
        pos = ev.screenPos()
        self._menu = menu  # keep it alive while shown
        menu.popup(pos.toPoint())


class _RegionEditor(pg.ROI):
    """The selected region with its control points as handles, in one panel.

    Handle drags and body drags are turned into document intents (see the layer); the editor
    itself is then re-synchronised from the document, so what is shown is always the document.
    """

    def __init__(self, view: PanelAnnotations, region: Region, color: str) -> None:
        pen = _pen(color, 3.0)
        hover = _pen("#ffffff", 3.0)
        super().__init__(
            (0, 0),
            (1, 1),
            movable=True,
            rotatable=False,
            resizable=False,
            removable=False,
            pen=pen,
            hoverPen=hover,
            handlePen=_pen("#ffffff", 1.5),
            handleHoverPen=_pen(color, 2.0),
            antialias=True,
        )
        self.view = view
        self.region_id = region.id
        self.kind = region.kind
        self.color = color
        self._path = QPainterPath()
        self._syncing = True
        self.drag_token: int | None = None
        self.moving_vertex: int | None = None
        self.translating = False
        geom = view.layer.panel_geometry(region)
        for p in self._control_points(geom):
            self.addFreeHandle(p, item=_CornerHandle(self, self.kind in ("polygon", "lasso")))
        self._set_path(view.layer.panel_outlines(region))
        self.lastState = self.getState()
        self._syncing = False
        self.setZValue(Z_EDITOR)
        self.setToolTip("Drag to move this region; drag a handle to reshape it")
        self.sigRegionChangeStarted.connect(self._on_started)
        self.sigRegionChanged.connect(self._on_changed)
        self.sigRegionChangeFinished.connect(self._on_finished)

    # -- geometry ----------------------------------------------------------------------------
    def _control_points(self, geom: Geometry) -> list[tuple[float, float]]:
        """Handles: every vertex; the two semi-axis ends of an ellipse; none for a brush stroke."""
        if self.kind == "brush":
            return []
        if self.kind == "ellipse":
            return list(geom.points[1:])
        return list(geom.points)

    def vertex_of_handle(self, index: int) -> int:
        return index + 1 if self.kind == "ellipse" else index

    def handle_index(self, handle: Any) -> int:
        return self.indexOfHandle(handle)

    def control_points(self) -> np.ndarray:
        """Handle positions in panel (parent) coordinates."""
        pts = [self.mapToParent(h["item"].pos()) for h in self.handles]
        return np.array([(p.x(), p.y()) for p in pts]).reshape(-1, 2)

    def _set_path(self, lines: Sequence[np.ndarray]) -> None:
        self.prepareGeometryChange()
        off = self.pos()
        shifted = [np.asarray(line) - np.array([off.x(), off.y()]) for line in lines]
        self._path = _path_from_lines(shifted)
        self.update()

    def sync(self, region: Region, skip_handle: int | None = None) -> bool:
        """Follow the document; returns False when the handle count changed (rebuild instead)."""
        geom = self.view.layer.panel_geometry(region)
        pts = self._control_points(geom)
        if len(pts) != len(self.handles) or region.kind != self.kind:
            return False
        self._syncing = True
        try:
            off = self.pos()
            for i, (x, y) in enumerate(pts):
                if i == skip_handle:
                    continue
                local = pg.Point(x - off.x(), y - off.y())
                self.handles[i]["pos"] = local
                self.handles[i]["item"].setPos(local)
            self._set_path(self.view.layer.panel_outlines(region))
        finally:
            self._syncing = False
        return True

    def rebase(self, region: Region) -> None:
        """After a body drag: back to offset 0 with handles at the document's positions."""
        self._syncing = True
        try:
            self.setPos(pg.Point(0, 0), update=False, finish=False)
            self.lastState = self.getState()
        finally:
            self._syncing = False
        self.sync(region)

    # -- painting ----------------------------------------------------------------------------
    def paint(self, p: QPainter, *_args: Any) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        outline = QPen(QColor(0, 0, 0, 160))
        outline.setCosmetic(True)
        outline.setWidthF(5.0)
        p.setPen(outline)
        p.drawPath(self._path)
        p.setPen(self.currentPen)
        fill = QColor(self.color)
        fill.setAlpha(55)
        p.setBrush(fill)
        p.drawPath(self._path)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        r = self._path.boundingRect()
        pad = 2.0 * max(self.pixel_size(), 1e-6) * 4
        return r.adjusted(-pad, -pad, pad, pad)

    def shape(self) -> QPainterPath:
        return self._path

    def pixel_size(self) -> float:
        vb = self.getViewBox()
        if vb is None:
            return 0.0
        w, h = vb.viewPixelSize()
        return float(max(w, h))

    # -- user edits --------------------------------------------------------------------------
    def movePoint(self, handle: Any, pos: Any, modifiers: Any = None, finish: bool = True, coords: str = "parent") -> None:  # noqa: N802,E501
        super().movePoint(handle, pos, modifiers, finish=finish, coords=coords)
        if self._syncing:
            return
        index = self.handle_index(handle)
        p = self.mapToParent(handle.pos())
        self.moving_vertex = index
        self.view.layer._edit_vertex(self, self.vertex_of_handle(index), p.x(), p.y())

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        if ev.button() == Qt.MouseButton.LeftButton and ev.double() and self.kind in ("polygon", "lasso"):
            ev.accept()
            p = self.mapToParent(ev.pos())
            self.view.layer._insert_vertex_near(self.region_id, p.x(), p.y())
            return
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.view.layer.select(self.region_id)
            return
        super().mouseClickEvent(ev)

    def can_remove_corner(self) -> bool:
        return self.kind in ("polygon", "lasso") and len(self.handles) > 3

    def remove_corner(self, index: int) -> None:
        self.view.layer.delete_vertex(self.region_id, self.vertex_of_handle(index))

    def _on_started(self, *_args: Any) -> None:
        if self._syncing:
            return
        self.drag_token = next(_drag_counter)  # each drag is its own undo step
        self.translating = bool(self.isMoving)
        self.view.layer._drag_started(self)

    def _on_changed(self, *_args: Any) -> None:
        if self._syncing or not self.isMoving:
            return
        self.translating = True
        start = self.preMoveState["pos"]
        d = self.pos() - start
        self.view.layer._edit_translate(self, float(d[0]), float(d[1]))

    def _on_finished(self, *_args: Any) -> None:
        if self._syncing:
            return
        self.view.layer._drag_finished(self)
        self.moving_vertex = None
        self.translating = False
        self.drag_token = None


class _Canvas(pg.GraphicsObject):
    """Invisible item over the image that turns mouse gestures into shapes for the active tool."""

    def __init__(self, view: PanelAnnotations) -> None:
        super().__init__()
        self.view = view
        self.setAcceptHoverEvents(True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsFocusable, True)
        self.setZValue(Z_CANVAS_SELECT)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        frame = self.view.layer.frame
        if frame is None:
            return QRectF()
        r = frame.rect()
        m = 0.25 * max(r.width(), r.height())
        return r.adjusted(-m, -m, m, m)

    def paint(self, *_args: Any) -> None:
        pass

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph protocol)
        self.view.on_drag(ev)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph protocol)
        self.view.on_click(ev)

    def hoverEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph protocol)
        self.view.on_hover(ev)

    def sceneEvent(self, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        # While a polygon is open, Enter/Esc/Backspace belong to it, not to window shortcuts
        # (Esc also cancels map computations in the main window).
        keys = (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace)
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and self.view.drawing_polygon()
            and getattr(event, "key", lambda: None)() in keys
        ):
            event.accept()
            return True
        return super().sceneEvent(event)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        if not self.view.on_key(event.key()):
            super().keyPressEvent(event)


# --------------------------------------------------------------------------------------------
# One view
# --------------------------------------------------------------------------------------------


class PanelAnnotations:
    """The regions of the layer's document drawn in one ViewBox, plus the drawing gestures."""

    def __init__(self, layer: AnnotationLayer, view_box: pg.ViewBox, name: str) -> None:
        self.layer = layer
        self.view_box = view_box
        self.name = name
        self.items: dict[str, _RegionItem] = {}
        self.labels: dict[str, pg.TextItem] = {}
        self.editor: _RegionEditor | None = None
        self.canvas = _Canvas(self)
        view_box.addItem(self.canvas, ignoreBounds=True)
        self.preview = QGraphicsPathItem()
        self.preview.setZValue(Z_PREVIEW)
        self.preview.setPen(_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
        view_box.addItem(self.preview, ignoreBounds=True)
        self.cursor_ring = QGraphicsPathItem()
        self.cursor_ring.setZValue(Z_PREVIEW)
        self.cursor_ring.setPen(_pen("#ffffff", 1.0))
        self.cursor_ring.hide()
        view_box.addItem(self.cursor_ring, ignoreBounds=True)
        self._points: list[tuple[float, float]] = []  # the gesture in progress
        self._gesture: str | None = None
        self._hover: tuple[float, float] | None = None
        self.alive = True

    # -- document -> view --------------------------------------------------------------------
    def rebuild(self) -> None:
        for rid in list(self.items):
            self._remove_items(rid)
        self._drop_editor()
        doc = self.layer.document
        if doc is not None and self.layer.frame is not None:
            for region in doc.regions:
                self._add_items(region)
        self.restyle()
        self.refresh_editor()
        self.canvas.prepareGeometryChange()
        self.canvas.update()

    def _add_items(self, region: Region) -> None:
        item = _RegionItem(self, region.id)
        self.view_box.addItem(item, ignoreBounds=True)
        self.items[region.id] = item
        label = pg.TextItem("", anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
        label.setZValue(Z_LABELS)
        self.view_box.addItem(label, ignoreBounds=True)
        self.labels[region.id] = label
        self._update_items(region)

    def _update_items(self, region: Region) -> None:
        item = self.items.get(region.id)
        if item is None:
            return
        item.setPath(_path_from_lines(self.layer.panel_outlines(region)))
        label = self.labels[region.id]
        x0, y0, _x1, _y1 = self.layer.panel_geometry(region).bounds()
        label.setText(region.label)
        label.setPos(QPointF(x0, y0))

    def _remove_items(self, region_id: str) -> None:
        for store in (self.items, self.labels):
            item = store.pop(region_id, None)
            if item is not None:
                self.view_box.removeItem(item)

    def restyle(self) -> None:
        """Colours follow drawing order (as in exported figures); later regions lie on top."""
        doc = self.layer.document
        if doc is None:
            return
        for k, region in enumerate(doc.regions):
            item = self.items.get(region.id)
            if item is None:
                continue
            color = region_color(region, k)
            item.set_style(color)
            item.setZValue(Z_REGIONS + k * 1e-3)
            selected = region.id == self.layer.selected
            item.setVisible(self.layer.visible and not selected)
            label = self.labels[region.id]
            label.setColor(QColor(color))
            label.setVisible(self.layer.visible and self.layer.labels_visible)

    def on_event(self, ev: DocumentEvent) -> None:
        if ev.kind == "added" and ev.region is not None:
            self._add_items(ev.region)
            self.restyle()
        elif ev.kind == "removed" and ev.region_id is not None:
            self._remove_items(ev.region_id)
            if self.editor is not None and self.editor.region_id == ev.region_id:
                self._drop_editor()
            self.restyle()
        elif ev.kind == "changed" and ev.region is not None:
            self._update_items(ev.region)
            if ev.region.color is not None:
                self.restyle()
            ed = self.editor
            if ed is not None and ed.region_id == ev.region.id:
                if ed.translating:
                    return  # the body follows the mouse; it is rebased when the drag ends
                if not ed.sync(ev.region, skip_handle=ed.moving_vertex):
                    self.refresh_editor(force=True)
        else:
            self.rebuild()

    def refresh_editor(self, force: bool = False) -> None:
        """Show handles for the layer's selected region (only that one has them)."""
        doc, sel = self.layer.document, self.layer.selected
        region = None
        if doc is not None and sel is not None and self.layer.frame is not None:
            try:
                region = doc.get(sel)
            except AnnotationError:
                region = None
        if region is None or not self.layer.visible:
            self._drop_editor()
            return
        if self.editor is not None and self.editor.region_id == region.id and not force:
            if self.editor.pos() != QPointF(0, 0):
                self.editor.rebase(region)
            elif not self.editor.sync(region):
                self.refresh_editor(force=True)
            return
        self._drop_editor()
        index = doc.regions.index(region)
        self.editor = _RegionEditor(self, region, region_color(region, index))
        self.view_box.addItem(self.editor, ignoreBounds=True)

    def _drop_editor(self) -> None:
        if self.editor is not None:
            self.view_box.removeItem(self.editor)
            self.editor = None

    def set_tool(self, tool: str) -> None:
        self.cancel_gesture()
        self.canvas.setZValue(Z_CANVAS_SELECT if tool == "select" else Z_CANVAS_DRAW)
        self.cursor_ring.hide()

    def detach(self) -> None:
        self.alive = False

    # -- gestures ----------------------------------------------------------------------------
    def pixel(self) -> float:
        """Panel pixels per screen pixel (for click tolerances that feel the same at any zoom)."""
        w, h = self.view_box.viewPixelSize()
        return float(max(w, h)) or 1.0

    def drawing_polygon(self) -> bool:
        return self._gesture == "polygon" and bool(self._points)

    def cancel_gesture(self) -> None:
        self._points = []
        self._gesture = None
        self.preview.setPath(QPainterPath())

    def _show_preview(self) -> None:
        tool, pts = self._gesture, self._points
        path = QPainterPath()
        if tool in ("rect", "ellipse") and len(pts) == 2:
            (x0, y0), (x1, y1) = pts
            r = QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized()
            if tool == "rect":
                path.addRect(r)
            else:
                path.addEllipse(r)
            self.preview.setPen(_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
        elif tool == "brush" and pts:
            width = self.layer.brush_width
            pen = QPen(QColor(255, 255, 255, 110))
            pen.setWidthF(width)  # in panel pixels, so the preview is the region the stroke covers
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            self.preview.setPen(pen)
            path.moveTo(*pts[0])
            for p in pts[1:]:
                path.lineTo(*p)
            if len(pts) == 1:
                path.lineTo(pts[0][0] + 1e-3, pts[0][1])
        elif tool in ("lasso", "polygon") and pts:
            path.moveTo(*pts[0])
            for p in pts[1:]:
                path.lineTo(*p)
            if tool == "polygon" and self._hover is not None:
                path.lineTo(*self._hover)
            self.preview.setPen(_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
        self.preview.setPath(path)

    def _constrained(
        self, start: tuple[float, float], end: tuple[float, float], square: bool
    ) -> tuple[float, float]:
        if not square:
            return end
        dx, dy = end[0] - start[0], end[1] - start[1]
        side = max(abs(dx), abs(dy))
        return (start[0] + math.copysign(side, dx or 1.0), start[1] + math.copysign(side, dy or 1.0))

    def on_drag(self, ev: Any) -> None:
        tool = self.layer.tool
        if (
            ev.button() != Qt.MouseButton.LeftButton
            or tool in ("select", "polygon")
            or not self.layer.can_draw()
        ):
            ev.ignore()  # pan/zoom stays with the view
            return
        ev.accept()
        p = ev.pos()
        pt = (p.x(), p.y())
        if ev.isStart():
            s = ev.buttonDownPos()
            self._gesture = tool
            self._points = [(s.x(), s.y())]
            if tool in ("rect", "ellipse"):
                self._points.append(pt)
            else:
                self._points.append(pt)
        elif self._gesture is None:
            return
        elif tool in ("rect", "ellipse"):
            square = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self._points[1] = self._constrained(self._points[0], pt, square)
        else:
            last = self._points[-1]
            step = 0.15 * (self.layer.brush_width if tool == "brush" else 1.0)
            if math.hypot(pt[0] - last[0], pt[1] - last[1]) >= max(step, 0.5 * self.pixel()):
                self._points.append(pt)
        if ev.isFinish():
            self._finish_drag()
        else:
            self._show_preview()

    def _finish_drag(self) -> None:
        tool, pts = self._gesture, self._points
        self.cancel_gesture()
        if tool is None:
            return
        if tool in ("rect", "ellipse"):
            (x0, y0), (x1, y1) = pts
            if min(abs(x1 - x0), abs(y1 - y0)) < MIN_DRAG_SCREEN_PX * self.pixel():
                return
            self.layer.add_box(tool, x0, y0, x1, y1)
        elif tool == "brush":
            self.layer.add_stroke(pts)
        elif tool == "lasso":
            self.layer.add_outline("lasso", pts, tolerance=1.0 * self.pixel())

    def on_click(self, ev: Any) -> None:
        tool = self.layer.tool
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if tool == "select":
            ev.accept()
            self.layer.select(None)
            return
        if not self.layer.can_draw():
            ev.ignore()
            return
        ev.accept()
        p = ev.pos()
        pt = (p.x(), p.y())
        if tool == "brush":
            self.layer.add_stroke([pt])  # a dot
        elif tool == "polygon":
            self.canvas.setFocus()
            if self._gesture != "polygon":
                self._gesture, self._points = "polygon", []
            if ev.double():
                self.finish_polygon()
                return
            if len(self._points) >= 3:
                fx, fy = self._points[0]
                if math.hypot(pt[0] - fx, pt[1] - fy) <= 6.0 * self.pixel():
                    self.finish_polygon()
                    return
            if not self._points or self._points[-1] != pt:
                self._points.append(pt)
            self._show_preview()

    def finish_polygon(self) -> None:
        pts = list(self._points)
        self.cancel_gesture()
        if len(pts) >= 3:
            self.layer.add_outline("polygon", pts, tolerance=0.0)

    def on_hover(self, ev: Any) -> None:
        tool = self.layer.tool
        if ev.isExit():
            self.cursor_ring.hide()
            self._hover = None
            return
        if tool != "select" and self.layer.can_draw():
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
        else:
            ev.acceptClicks(Qt.MouseButton.LeftButton)
        p = ev.pos()
        self._hover = (p.x(), p.y())
        if tool == "brush" and self.layer.can_draw():
            r = self.layer.brush_width / 2.0
            ring = QPainterPath()
            ring.addEllipse(QPointF(p.x(), p.y()), r, r)
            self.cursor_ring.setPath(ring)
            self.cursor_ring.show()
        else:
            self.cursor_ring.hide()
        if self.drawing_polygon():
            self._show_preview()

    def on_key(self, key: int) -> bool:
        if not self.drawing_polygon():
            return False
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish_polygon()
        elif key == Qt.Key.Key_Escape:
            self.cancel_gesture()
        elif key == Qt.Key.Key_Backspace:
            self._points.pop()
            if not self._points:
                self.cancel_gesture()
            else:
                self._show_preview()
        else:
            return False
        return True

    # -- inspection (tests, screenshots) -----------------------------------------------------
    def region_path(self, region_id: str) -> QPainterPath:
        """The outline drawn for a region in this view (the editor's when it is selected)."""
        if self.editor is not None and self.editor.region_id == region_id:
            off = self.editor.pos()
            return self.editor._path.translated(off)
        return self.items[region_id].path()


# --------------------------------------------------------------------------------------------
# The layer
# --------------------------------------------------------------------------------------------


class AnnotationLayer(QObject):
    """One document shown and edited in many panels; the only place views' gestures become edits."""

    selection_changed = Signal(object)  # region id or None
    tool_changed = Signal(str)
    document_replaced = Signal(object)  # AnnotationDocument or None
    regions_changed = Signal()  # after every document change (and on replacement)
    edit_failed = Signal(str)  # an edit the document refused, message for the user

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._doc: AnnotationDocument | None = None
        self._frame: PanelFrame | None = None
        self._unsubscribe: Any = None
        self._views: list[PanelAnnotations] = []
        self._tool = "select"
        self._selected: str | None = None
        self.brush_width = 4.0
        self.visible = True
        self.labels_visible = True
        self._outline_cache: dict[str, tuple[Geometry, list[np.ndarray]]] = {}
        self._drag: dict[str, Any] | None = None

    # -- document ----------------------------------------------------------------------------
    @property
    def document(self) -> AnnotationDocument | None:
        return self._doc

    @property
    def frame(self) -> PanelFrame | None:
        return self._frame

    def set_document(self, doc: AnnotationDocument | None, frame: PanelFrame | None) -> None:
        """Show ``doc`` (None: nothing to annotate yet) with panels in ``frame``."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        replaced = doc is not self._doc
        self._doc = doc
        self._frame = frame if doc is not None else None
        self._outline_cache.clear()
        self._drag = None
        if doc is not None:
            self._unsubscribe = doc.subscribe(self._on_event)
        if replaced or self._selected is None or doc is None or not self._exists(self._selected):
            self._set_selected(None)
        for v in self.views():
            v.cancel_gesture()
            v.rebuild()
        if replaced:
            self.document_replaced.emit(doc)
        self.regions_changed.emit()

    def set_frame(self, frame: PanelFrame) -> None:
        if frame == self._frame:
            return
        self._frame = frame
        self._outline_cache.clear()
        for v in self.views():
            v.rebuild()

    def can_draw(self) -> bool:
        """Drawing needs a document placed on the panels, shown (not hidden)."""
        doc = self._doc
        return self.visible and doc is not None and self._frame is not None and doc.alignment is not None

    def _exists(self, region_id: str) -> bool:
        return self._doc is not None and any(r.id == region_id for r in self._doc.regions)

    def _on_event(self, ev: DocumentEvent) -> None:
        if ev.kind == "reset":
            self._outline_cache.clear()
        if ev.kind == "removed" and ev.region_id == self._selected:
            self._set_selected(None)
        for v in self.views():
            v.on_event(ev)
        self.regions_changed.emit()

    # -- views -------------------------------------------------------------------------------
    def attach(self, panel: Any) -> PanelAnnotations:
        """Overlay factory for :meth:`PanelGrid.add_overlay_factory`: annotate this panel too.

        Accepts an ``ImagePanel`` (anything with ``view_box``) or a bare ViewBox.
        """
        view_box = getattr(panel, "view_box", panel)
        name = str(getattr(panel, "panel_id", "view"))
        view = PanelAnnotations(self, view_box, name)
        view.set_tool(self._tool)
        self._views.append(view)
        holder = panel if isinstance(panel, QObject) else view_box
        holder.destroyed.connect(lambda *_a, v=view: self._forget(v))
        view.rebuild()
        return view

    def _forget(self, view: PanelAnnotations) -> None:
        view.detach()
        if view in self._views:
            self._views.remove(view)

    def views(self) -> list[PanelAnnotations]:
        return [v for v in self._views if v.alive]

    # -- tools and selection -----------------------------------------------------------------
    @property
    def tool(self) -> str:
        return self._tool

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        if tool == self._tool:
            return
        self._tool = tool
        for v in self.views():
            v.set_tool(tool)
        self.tool_changed.emit(tool)

    def set_brush_width(self, width: float) -> None:
        self.brush_width = max(0.5, float(width))

    @property
    def selected(self) -> str | None:
        return self._selected

    def select(self, region_id: str | None) -> None:
        if region_id is not None and not self._exists(region_id):
            region_id = None
        if region_id == self._selected:
            return
        self._set_selected(region_id)

    def _set_selected(self, region_id: str | None) -> None:
        changed = region_id != self._selected
        self._selected = region_id
        for v in self.views():
            v.restyle()
            v.refresh_editor()
        if changed:
            self.selection_changed.emit(region_id)

    def set_visible(self, on: bool) -> None:
        """Show or hide every region (hidden regions cannot be drawn or edited)."""
        self.visible = on
        if not on:
            self.set_tool("select")
        for v in self.views():
            v.cancel_gesture()
            v.restyle()
            v.refresh_editor()
        self.regions_changed.emit()

    def set_labels_visible(self, on: bool) -> None:
        self.labels_visible = on
        for v in self.views():
            v.restyle()

    # -- geometry ----------------------------------------------------------------------------
    def panel_geometry(self, region: Region) -> Geometry:
        """The region in panel (map-grid) coordinates."""
        assert self._doc is not None and self._frame is not None
        return self._frame.from_doc(region.geometry_in("aligned", self._doc.alignment))

    def panel_outlines(self, region: Region) -> list[np.ndarray]:
        """Closed outlines to draw, computed once per region state and shared by all views."""
        cached = self._outline_cache.get(region.id)
        geom = region.geometry
        if cached is not None and cached[0] == geom:
            return cached[1]
        lines = outlines(self.panel_geometry(region))
        self._outline_cache[region.id] = (geom, lines)
        return lines

    # -- intents -----------------------------------------------------------------------------
    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AnnotationError as exc:
            self.edit_failed.emit(str(exc))
            return None

    def add_shape(self, geometry: Geometry) -> Region | None:
        """Add a region given in panel coordinates (what the tools produce) and select it."""
        if not self.can_draw():
            return None
        assert self._doc is not None and self._frame is not None
        region = self._apply(self._doc.add_region, self._frame.to_doc(geometry), "aligned")
        if region is not None:
            self.select(region.id)
        return region

    def add_box(self, kind: str, x0: float, y0: float, x1: float, y1: float) -> Region | None:
        if kind == "rect":
            return self.add_shape(Geometry.rect(x0, y0, x1, y1))
        cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        return self.add_shape(Geometry.ellipse(cx, cy, abs(x1 - x0) / 2.0, abs(y1 - y0) / 2.0))

    def add_stroke(self, points: Sequence[tuple[float, float]]) -> Region | None:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(pts) > 2:
            pts = simplify(pts, 0.1 * self.brush_width, closed=False)
        return self.add_shape(Geometry.brush(pts, self.brush_width))

    def add_outline(
        self, kind: str, points: Sequence[tuple[float, float]], tolerance: float
    ) -> Region | None:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if tolerance > 0:
            pts = simplify(pts, tolerance, closed=True)
        if len(pts) < 3:
            return None
        x, y = pts[:, 0], pts[:, 1]
        area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
        if area <= 1e-6:
            return None
        return self.add_shape(Geometry(kind, tuple(map(tuple, pts))))

    def delete_selected(self) -> None:
        if self._doc is not None and self._selected is not None:
            self._apply(self._doc.remove_region, self._selected)

    def undo(self) -> None:
        if self._doc is not None:
            self._doc.undo()

    def redo(self) -> None:
        if self._doc is not None:
            self._doc.redo()

    def move_vertex(
        self, region_id: str, vertex: int, x: float, y: float, merge_key: object | None = None
    ) -> Region | None:
        """Move a control point to panel position (x, y) (a rectangle stays a parallelogram)."""
        if self._doc is None or self._frame is None:
            return None
        ax, ay = self._frame.point_to_doc(x, y)
        return self._apply(self._doc.set_vertex, region_id, vertex, ax, ay, "aligned", merge_key=merge_key)

    def delete_vertex(self, region_id: str, vertex: int) -> Region | None:
        if self._doc is None:
            return None
        return self._apply(self._doc.delete_vertex, region_id, vertex, "aligned")

    def _insert_vertex_near(self, region_id: str, x: float, y: float) -> Region | None:
        """Insert a corner on the polygon edge nearest to panel point (x, y)."""
        if self._doc is None or self._frame is None:
            return None
        pts = self.panel_geometry(self._doc.get(region_id)).array()
        a, b = pts, np.roll(pts, -1, axis=0)
        d = b - a
        dd = np.maximum((d**2).sum(axis=1), 1e-12)
        t = np.clip(((x - a[:, 0]) * d[:, 0] + (y - a[:, 1]) * d[:, 1]) / dd, 0.0, 1.0)
        q = a + t[:, None] * d
        edge = int(np.argmin(((q - [x, y]) ** 2).sum(axis=1)))
        ax, ay = self._frame.point_to_doc(x, y)
        return self._apply(self._doc.insert_vertex, region_id, edge, ax, ay, "aligned")

    def translate(
        self, region_id: str, start: Geometry, dx: float, dy: float, merge_key: object | None = None
    ) -> Region | None:
        """Set a region to ``start`` (aligned coordinates) moved by (dx, dy) panel pixels."""
        if self._doc is None or self._frame is None:
            return None
        sx, sy = self._frame.scale
        doc = self._doc
        moved = start.translated(dx * sx, dy * sy)

        def move() -> Region:
            original = to_original(moved, "aligned", doc.alignment)
            return doc.update_region(region_id, geometry=original, merge_key=merge_key, text="Move region")

        return self._apply(move)

    # -- editor callbacks (a drag in one view) -----------------------------------------------
    def _drag_started(self, editor: _RegionEditor) -> None:
        if self._doc is None:
            return
        self._drag = {"editor": editor, "start": self._doc.geometry_in(editor.region_id, "aligned")}

    def _merge_key(self, editor: _RegionEditor) -> object:
        return ("drag", editor.region_id, editor.drag_token)

    def _edit_vertex(self, editor: _RegionEditor, vertex: int, x: float, y: float) -> None:
        if self._drag is None or self._drag.get("editor") is not editor:
            self._drag_started(editor)
        self.move_vertex(editor.region_id, vertex, x, y, merge_key=self._merge_key(editor))

    def _edit_translate(self, editor: _RegionEditor, dx: float, dy: float) -> None:
        if self._drag is None or self._drag.get("editor") is not editor:
            self._drag_started(editor)
        assert self._drag is not None
        self.translate(editor.region_id, self._drag["start"], dx, dy, merge_key=self._merge_key(editor))

    def _drag_finished(self, editor: _RegionEditor) -> None:
        self._drag = None
        # Leave pyqtgraph's event handler before re-seating the editor on the document's state.
        QTimer.singleShot(0, self._refresh_editors)

    def _refresh_editors(self) -> None:
        for v in self.views():
            v.refresh_editor()


# --------------------------------------------------------------------------------------------
# Toolbar
# --------------------------------------------------------------------------------------------


def _tool_icon(tool: str, size: int = 22) -> QIcon:
    """Simple line icons drawn here, so the toolbar needs no image files."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor("#1e88e5"), 2.0)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    s = float(size)
    if tool == "select":
        poly = QPolygonF([QPointF(s * x, s * y) for x, y in
                          ((0.3, 0.15), (0.3, 0.8), (0.45, 0.63), (0.58, 0.88), (0.68, 0.83), (0.55, 0.58),
                           (0.75, 0.58))])
        p.setBrush(QColor("#bbdefb"))
        p.drawPolygon(poly)
    elif tool == "rect":
        p.drawRect(QRectF(s * 0.18, s * 0.25, s * 0.64, s * 0.5))
    elif tool == "ellipse":
        p.drawEllipse(QRectF(s * 0.15, s * 0.25, s * 0.7, s * 0.5))
    elif tool == "polygon":
        corners = ((0.2, 0.7), (0.35, 0.2), (0.8, 0.35), (0.7, 0.8))
        poly = QPolygonF([QPointF(s * x, s * y) for x, y in corners])
        p.drawPolygon(poly)
        p.setBrush(QColor("#1e88e5"))
        for pt in poly:
            p.drawEllipse(pt, 1.6, 1.6)
    elif tool == "brush":
        pen.setWidthF(5.0)
        p.setPen(pen)
        path = QPainterPath(QPointF(s * 0.2, s * 0.7))
        path.cubicTo(QPointF(s * 0.4, s * 0.2), QPointF(s * 0.6, s * 0.9), QPointF(s * 0.8, s * 0.3))
        p.drawPath(path)
    elif tool == "lasso":
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        path = QPainterPath(QPointF(s * 0.5, s * 0.2))
        path.cubicTo(QPointF(s * 0.95, s * 0.2), QPointF(s * 0.9, s * 0.75), QPointF(s * 0.45, s * 0.72))
        path.cubicTo(QPointF(s * 0.05, s * 0.7), QPointF(s * 0.1, s * 0.2), QPointF(s * 0.5, s * 0.2))
        p.drawPath(path)
    p.end()
    return QIcon(pix)


class AnnotationToolbar(QToolBar):
    """Select / Rectangle / Ellipse / Polygon / Brush / Lasso, brush size, undo, redo, delete."""

    def __init__(self, layer: AnnotationLayer, parent: QWidget | None = None) -> None:
        super().__init__("Annotation tools", parent)
        self.setObjectName("annotation-tools")
        self.layer = layer
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.tool_actions: dict[str, QAction] = {}
        for tool in TOOLS:
            info = TOOL_INFO[tool]
            act = QAction(_tool_icon(tool), info.label, self)
            act.setCheckable(True)
            act.setShortcut(QKeySequence(info.shortcut))
            tip = f"{info.label} ({info.shortcut}): {info.tip}"
            act.setToolTip(tip)
            act.setStatusTip(info.tip)
            act.setData(tool)
            act.triggered.connect(lambda _on=False, t=tool: layer.set_tool(t))
            self.group.addAction(act)
            self.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions[layer.tool].setChecked(True)
        layer.tool_changed.connect(self._on_tool)

        self.addSeparator()
        self.brush_label = QLabel(" Brush size ")
        self.addWidget(self.brush_label)
        self.brush_size = QSpinBox()
        self.brush_size.setObjectName("brush-size")
        self.brush_size.setRange(1, 60)
        self.brush_size.setSuffix(" px")
        self.brush_size.setValue(round(layer.brush_width))
        self.brush_size.setToolTip("Brush diameter in pixels of the model's input (the map grid)")
        self.brush_size.valueChanged.connect(lambda v: layer.set_brush_width(float(v)))
        self.addWidget(self.brush_size)
        self.addSeparator()

    def _on_tool(self, tool: str) -> None:
        act = self.tool_actions.get(tool)
        if act is not None and not act.isChecked():
            act.setChecked(True)

    def set_tools_enabled(self, on: bool) -> None:
        for tool, act in self.tool_actions.items():
            act.setEnabled(on or tool == "select")
        if not on and self.layer.tool != "select":
            self.layer.set_tool("select")


__all__ = [
    "TOOLS",
    "TOOL_INFO",
    "AnnotationLayer",
    "AnnotationToolbar",
    "PanelAnnotations",
    "PanelFrame",
    "path_points",
    "region_color",
    "simplify",
]
