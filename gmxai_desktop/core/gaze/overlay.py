"""How fixations are drawn, shared by the app's panels and exported figures.

One observer, one colour (a qualitative palette that stays distinct from the RdBu/inferno maps
underneath); marker area grows with fixation duration, so long dwell stands out as it does in
gaze-plot software. Fixations of unknown duration get the median size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..output.figure import PointsLayer
from .study import ImageGaze

OBSERVER_COLORS = ("#ffd600", "#00e5ff", "#ff4081", "#76ff03", "#ff9100", "#e040fb", "#ffffff", "#40c4ff")
MEDIAN_DURATION_MS = 250.0


def observer_colors(observers: Sequence[str]) -> dict[str, str]:
    """A colour per observer, in sorted order so every view and figure agrees."""
    return {o: OBSERVER_COLORS[i % len(OBSERVER_COLORS)] for i, o in enumerate(sorted(set(observers)))}


def duration_scale(duration_ms: np.ndarray) -> np.ndarray:
    """Relative marker radius: 1 at 250 ms, sqrt-proportional to duration (area ∝ duration),
    clipped to [0.5, 2]."""
    d = np.asarray(duration_ms, dtype=np.float64)
    d = np.where(np.isfinite(d) & (d > 0), d, MEDIAN_DURATION_MS)
    return np.clip(np.sqrt(d / MEDIAN_DURATION_MS), 0.5, 2.0)


def points_layer(gaze: ImageGaze, base_area_pt2: float = 14.0) -> PointsLayer:
    """The image's fixations as a figure layer on the model grid (outside points included; the
    axes clip them)."""
    colors = observer_colors(gaze.observer)
    h, w = gaze.grid_shape
    sizes = base_area_pt2 * duration_scale(gaze.duration_ms) ** 2
    return PointsLayer(np.asarray(gaze.points), (float(w), float(h)), [float(s) for s in sizes],
                       [colors[o] for o in gaze.observer])
