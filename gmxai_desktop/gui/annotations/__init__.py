"""Clinician annotations in the GUI: regions drawn on every synchronised panel.

``shapes`` (tools, coordinate frame, path helpers) <- ``items`` (graphics items of one panel)
<- ``panel_view`` (one panel's regions and gestures) <- ``layer`` (one document, many views; the
only place gestures become document edits) <- ``toolbar``. The feature that wires these into the
main window lives in :mod:`gmxai_desktop.gui.annotations_integration`.
"""

from .layer import AnnotationLayer
from .panel_view import PanelAnnotations
from .shapes import TOOL_INFO, TOOLS, PanelFrame, ToolInfo, path_points, region_color, simplify
from .toolbar import AnnotationToolbar

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
