"""One panel's view of the layer's document: the region items, the selected region's editor,
and the drawing gestures of the active tool in that panel.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

from ...core.annotations import AnnotationError, DocumentEvent, Region
from .items import Canvas, RegionEditor, RegionItem
from .shapes import (
    MIN_DRAG_SCREEN_PX,
    Z_CANVAS_DRAW,
    Z_CANVAS_SELECT,
    Z_LABELS,
    Z_PREVIEW,
    Z_REGIONS,
    make_pen,
    path_from_lines,
    region_color,
)

if TYPE_CHECKING:
    from .layer import AnnotationLayer


class PanelAnnotations:
    """The regions of the layer's document drawn in one ViewBox, plus the drawing gestures."""

    def __init__(self, layer: AnnotationLayer, view_box: pg.ViewBox, name: str) -> None:
        self.layer = layer
        self.view_box = view_box
        self.name = name
        self.items: dict[str, RegionItem] = {}
        self.labels: dict[str, pg.TextItem] = {}
        self.editor: RegionEditor | None = None
        self.canvas = Canvas(self)
        view_box.addItem(self.canvas, ignoreBounds=True)
        self.preview = QGraphicsPathItem()
        self.preview.setZValue(Z_PREVIEW)
        self.preview.setPen(make_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
        view_box.addItem(self.preview, ignoreBounds=True)
        self.cursor_ring = QGraphicsPathItem()
        self.cursor_ring.setZValue(Z_PREVIEW)
        self.cursor_ring.setPen(make_pen("#ffffff", 1.0))
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
        item = RegionItem(self, region.id)
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
        item.setPath(path_from_lines(self.layer.panel_outlines(region)))
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
        self.editor = RegionEditor(self, region, region_color(region, index))
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
            self.preview.setPen(make_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
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
            self.preview.setPen(make_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
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
            return self.editor.outline().translated(off)
        return self.items[region_id].path()

