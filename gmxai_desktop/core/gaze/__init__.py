"""Eye tracking: do attribution maps predict where clinicians look?

* :mod:`.fixations`: read gmxai CSV, Tobii Pro Lab and EyeLink fixation exports.
* :mod:`.transform`: photo pixels -> model grid, through the image's own transform.
* :mod:`.density`: Gaussian fixation density (σ in grid pixels or degrees), centre-bias baseline.
* :mod:`.metrics`: NSS, AUC-Judd, shuffled AUC, CC, SIM, KLD, information gain, top-q % IoU.
* :mod:`.study`: the per image × method × observer table with the human ceiling and the floor.

Definitions: ``docs/gaze_metrics.md``.
"""

from __future__ import annotations

import numpy as np

from .density import Sigma
from .fixations import FixationTable
from .study import ImageGaze
from .transform import GridTransform

__all__ = ["image_gaze"]


def image_gaze(name: str, table: FixationTable, transform: GridTransform, sigma: Sigma,
               frame: str = "stored") -> ImageGaze:
    """One image's fixations (``table`` already restricted to it) on the model grid."""
    grid_w, grid_h = transform.grid_size
    points = transform.apply(table.points, frame) if len(table) else np.zeros((0, 2))
    return ImageGaze(name, list(table.observer), points, np.asarray(table.duration_ms, float),
                     (grid_h, grid_w), sigma.grid_px(transform.scale))
