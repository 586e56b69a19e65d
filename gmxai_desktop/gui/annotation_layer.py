"""Stable import path for the annotation layer; the code lives in :mod:`gmxai_desktop.gui.annotations`.

Features and tests import ``AnnotationLayer``, ``AnnotationToolbar``, ``PanelFrame`` and
``region_color`` from here, so this name stays while the package is split into modules.
"""

from .annotations import (
    TOOL_INFO,
    TOOLS,
    AnnotationLayer,
    AnnotationToolbar,
    PanelAnnotations,
    PanelFrame,
    ToolInfo,
    path_points,
    region_color,
    simplify,
)

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
