"""Tools, drawing order, coordinate frame and path helpers shared by every annotation view.

Kept free of graphics items so the layer, the views and the toolbar can all import it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen, QPolygonF

from ...core.annotations import Geometry, Region
from ...core.output.figure import ANNOTATION_COLORS

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
DRAG_COUNTER = itertools.count(1)
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


def path_from_lines(lines: Sequence[np.ndarray], closed: bool = True) -> QPainterPath:
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


def make_pen(color: str, width: float, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(color))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen
