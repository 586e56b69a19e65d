"""Figures with fixations: extra panels for File › Export figure…, and Gaze › Export figure with
fixations… (face, every method and the density, each with the fixations drawn on it).

Both go through :mod:`gmxai_desktop.core.output.figure` (its optional points layer), so the
markers in a figure are the ones on screen: colour by observer, area by duration.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog

from ..core.gaze.overlay import points_layer
from ..core.output.figure import FigureSpec, PanelSpec, save_figure
from .figure_dialog import ExtraPanel

DENSITY_TITLE = "Gaze density"


class GazeFigures:
    def __init__(self, feature: Any) -> None:
        self.feature = feature

    def _base(self) -> tuple[Any, Any] | None:
        f = self.feature
        if f.gaze is None or f.entry is None:
            return None
        return f.gaze, f.entry

    def extra_panels(self) -> list[ExtraPanel]:
        """Offered in the figure dialog: the face with the fixations, and the density with them."""
        base = self._base()
        if base is None:
            return []
        gaze, entry = base
        layer = points_layer(gaze)
        return [
            ExtraPanel("gaze-face", "Face with the fixations",
                       PanelSpec(kind="image", image=entry.display, title="Fixations", points=layer)),
            ExtraPanel("gaze-density", "Gaze density with the fixations",
                       PanelSpec(kind="map", map=gaze.density(), sign="positive", title=DENSITY_TITLE,
                                 points=layer, colorbar_label="fixation density")),
        ]

    def spec(self) -> FigureSpec | None:
        """Face, every method's overlay and the density, each with the fixations."""
        base = self._base()
        if base is None:
            return None
        gaze, entry = base
        c = self.feature.controller
        ov = c.state.overlay
        layer = points_layer(gaze)
        labels = self.feature._labels()
        panels = [PanelSpec(kind="image", image=entry.display, title="Fixations", points=layer)]
        for method, m in self.feature._current_maps().items():
            panels.append(PanelSpec(kind="overlay", image=entry.display, map=m, sign=ov.sign_mode,
                                    title=labels.get(method, method), alpha=ov.opacity,
                                    clip_percentile=ov.clip_percentile, magnitude_alpha=ov.fade_weak,
                                    points=layer))
        panels.append(PanelSpec(kind="map", map=gaze.density(), sign="positive", title=DENSITY_TITLE,
                                points=layer))
        return FigureSpec(panels=panels, cols=min(6, len(panels)),
                          footnote=f"Fixations: colour = observer, area = duration; density σ = "
                          f"{gaze.sigma_px:g} model-grid px")

    def export_dialog(self) -> None:
        spec = self.spec()
        window = self.feature.window
        if spec is None:
            window.show_error("Export figure",
                              "This image has no fixations (load them with File › Load fixations…)")
            return
        path, _ = QFileDialog.getSaveFileName(window, "Export figure with fixations", "gaze.png",
                                              "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)")
        if path:
            self.export(Path(path), spec)

    def export(self, path: Path, spec: FigureSpec | None = None) -> None:
        """Render on the worker (a figure takes a second); the status bar says when it is written."""
        spec = spec or self.spec()
        if spec is None:
            return
        c = self.feature.controller
        spec = replace(spec)
        c.worker.submit(("gaze-figure", str(path)), lambda job: save_figure(spec, path), 5, "gaze figure")
