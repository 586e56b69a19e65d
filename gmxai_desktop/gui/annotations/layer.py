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

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from ...core.annotations import (
    AnnotationDocument,
    AnnotationError,
    DocumentEvent,
    Geometry,
    Region,
    outlines,
    to_original,
)
from .panel_view import PanelAnnotations
from .shapes import TOOLS, PanelFrame, simplify

if TYPE_CHECKING:
    from .items import RegionEditor


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

    def insert_vertex_near(self, region_id: str, x: float, y: float) -> Region | None:
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
    def drag_started(self, editor: RegionEditor) -> None:
        if self._doc is None:
            return
        self._drag = {"editor": editor, "start": self._doc.geometry_in(editor.region_id, "aligned")}

    def _merge_key(self, editor: RegionEditor) -> object:
        return ("drag", editor.region_id, editor.drag_token)

    def edit_vertex(self, editor: RegionEditor, vertex: int, x: float, y: float) -> None:
        if self._drag is None or self._drag.get("editor") is not editor:
            self.drag_started(editor)
        self.move_vertex(editor.region_id, vertex, x, y, merge_key=self._merge_key(editor))

    def edit_translate(self, editor: RegionEditor, dx: float, dy: float) -> None:
        if self._drag is None or self._drag.get("editor") is not editor:
            self.drag_started(editor)
        assert self._drag is not None
        self.translate(editor.region_id, self._drag["start"], dx, dy, merge_key=self._merge_key(editor))

    def drag_finished(self, editor: RegionEditor) -> None:
        self._drag = None
        # Leave pyqtgraph's event handler before re-seating the editor on the document's state.
        QTimer.singleShot(0, self._refresh_editors)

    def _refresh_editors(self) -> None:
        for v in self.views():
            v.refresh_editor()

