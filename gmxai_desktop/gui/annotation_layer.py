"""Public names of the annotation layer (the code lives in :mod:`gmxai_desktop.gui.annotations`).

Features and tests import ``AnnotationLayer``, ``AnnotationToolbar``, ``PanelFrame`` and
``region_color`` from here, so this path stays stable while the package's modules change.
"""

from .annotations.layer import AnnotationLayer
from .annotations.panel_view import PanelAnnotations
from .annotations.shapes import TOOL_INFO, TOOLS, PanelFrame, ToolInfo, path_points, region_color, simplify
from .annotations.toolbar import AnnotationToolbar

__all__ = [
    "TOOLS",
    "TOOL_INFO",
    "AnnotationLayer",
    "AnnotationToolbar",
    "PanelAnnotations",
    "PanelFrame",
    "ToolInfo",
    "path_points",
    "region_color",
    "simplify",
]
