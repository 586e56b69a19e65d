"""The graphics items one panel uses for annotations: region outline, editor with corner
handles, and the invisible canvas that turns mouse gestures into shapes.

Items never change the document: they call the layer (via their view), which applies the edit
as one undoable step; the document's events then redraw every view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems.ROI import Handle
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QMenu

from ...core.annotations import Geometry, Region
from .shapes import DRAG_COUNTER, Z_CANVAS_SELECT, Z_EDITOR, make_pen, path_from_lines

if TYPE_CHECKING:
    from .panel_view import PanelAnnotations


class RegionItem(QGraphicsPathItem):
    """A region's outline and light fill in one panel; a click selects it (Select tool)."""

    def __init__(self, view: PanelAnnotations, region_id: str) -> None:
        super().__init__()
        self.view = view
        self.region_id = region_id
        self._drag: tuple[Geometry, object, QPointF] | None = None
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)

    def set_style(self, color: str) -> None:
        self.setPen(make_pen(color, 2.0))
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
            self._drag = (start, ("drag", self.region_id, next(DRAG_COUNTER)), ev.buttonDownPos())
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


class CornerHandle(Handle):
    """A vertex handle whose right-click offers 'Remove corner' (polygons and lassos)."""

    def __init__(self, editor: RegionEditor, deletable: bool) -> None:
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


class RegionEditor(pg.ROI):
    """The selected region with its control points as handles, in one panel.

    Handle drags and body drags are turned into document intents (see the layer); the editor
    itself is then re-synchronised from the document, so what is shown is always the document.
    """

    def __init__(self, view: PanelAnnotations, region: Region, color: str) -> None:
        super().__init__(
            (0, 0), (1, 1), movable=True, rotatable=False, resizable=False, removable=False,
            pen=make_pen(color, 3.0), hoverPen=make_pen("#ffffff", 3.0),
            handlePen=make_pen("#ffffff", 1.5), handleHoverPen=make_pen(color, 2.0), antialias=True,
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
            self.addFreeHandle(p, item=CornerHandle(self, self.kind in ("polygon", "lasso")))
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
        self._path = path_from_lines(shifted)
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

    def outline(self) -> QPainterPath:
        """The drawn outline in editor coordinates (offset by ``pos()`` during a body drag)."""
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
        self.view.layer.edit_vertex(self, self.vertex_of_handle(index), p.x(), p.y())

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph override)
        if ev.button() == Qt.MouseButton.LeftButton and ev.double() and self.kind in ("polygon", "lasso"):
            ev.accept()
            p = self.mapToParent(ev.pos())
            self.view.layer.insert_vertex_near(self.region_id, p.x(), p.y())
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
        self.drag_token = next(DRAG_COUNTER)  # each drag is its own undo step
        self.translating = bool(self.isMoving)
        self.view.layer.drag_started(self)

    def _on_changed(self, *_args: Any) -> None:
        if self._syncing or not self.isMoving:
            return
        self.translating = True
        start = self.preMoveState["pos"]
        d = self.pos() - start
        self.view.layer.edit_translate(self, float(d[0]), float(d[1]))

    def _on_finished(self, *_args: Any) -> None:
        if self._syncing:
            return
        self.view.layer.drag_finished(self)
        self.moving_vertex = None
        self.translating = False
        self.drag_token = None


class Canvas(pg.GraphicsObject):
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

