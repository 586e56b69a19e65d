"""The annotation toolbar: one checkable action per tool (icons drawn in code), brush size."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
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
from PySide6.QtWidgets import QLabel, QSpinBox, QToolBar, QWidget

from .layer import AnnotationLayer
from .shapes import TOOL_INFO, TOOLS


def tool_icon(tool: str, size: int = 22) -> QIcon:
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
            act = QAction(tool_icon(tool), info.label, self)
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

