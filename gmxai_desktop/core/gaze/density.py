"""Fixation density: the fixations blurred with a Gaussian, on the model grid.

The blur stands for the eye tracker's error and the size of the fovea. Saliency benchmarks use
about one degree of visual angle. Here σ is given either in model-grid pixels (the default,
:data:`DEFAULT_SIGMA_PX`) or in degrees, converted through the viewing geometry:

    σ_screen_px = distance · tan(σ_deg) / pixel_pitch
    σ_photo_px  = σ_screen_px / display_scale          (screen pixels per photo pixel)
    σ_grid_px   = σ_photo_px · GridTransform.scale     (model-grid pixels per photo pixel)

One σ is used for every method of an image (the density does not depend on the method), so the
metrics compare methods on equal terms.

Default, 4 px on the grid: GestaltMatcher's 100-pixel crop spans roughly the face's width plus a
margin; shown about 25° wide (a portrait filling half of a 24-inch screen at 60 cm), one degree is
about 4 grid pixels. A study that knows its geometry should pass ``--sigma 1deg`` with its
distance, pixel pitch and display scale.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from ..base.errors import ParameterError

DEFAULT_SIGMA_PX = 4.0
DEFAULT_SCREEN_DISTANCE_CM = 60.0
DEFAULT_PIXEL_PITCH_MM = 0.25
DEFAULT_DISPLAY_SCALE = 1.0
TRUNCATE = 4.0  # the kernel is cut at 4 σ (scipy's default); the mass beyond is < 1e-4


@dataclass(frozen=True)
class Sigma:
    """σ as the user gave it: ``value`` in ``unit`` ("px" on the model grid, or "deg")."""

    value: float = DEFAULT_SIGMA_PX
    unit: str = "px"
    screen_distance_cm: float = DEFAULT_SCREEN_DISTANCE_CM
    pixel_pitch_mm: float = DEFAULT_PIXEL_PITCH_MM
    display_scale: float = DEFAULT_DISPLAY_SCALE

    def grid_px(self, grid_per_photo_px: float = 1.0) -> float:
        """σ in model-grid pixels for an image whose transform scales photo pixels by the factor."""
        if self.unit == "px":
            return self.value
        distance_mm = self.screen_distance_cm * 10.0
        screen_px = distance_mm * math.tan(math.radians(self.value)) / self.pixel_pitch_mm
        return screen_px / self.display_scale * grid_per_photo_px

    def describe(self) -> str:
        if self.unit == "px":
            return f"σ = {self.value:g} model-grid px"
        return (f"σ = {self.value:g}° at {self.screen_distance_cm:g} cm, pixel pitch "
                f"{self.pixel_pitch_mm:g} mm, display scale {self.display_scale:g}")


def parse_sigma(text: str | float, screen_distance_cm: float = DEFAULT_SCREEN_DISTANCE_CM,
                pixel_pitch_mm: float = DEFAULT_PIXEL_PITCH_MM,
                display_scale: float = DEFAULT_DISPLAY_SCALE) -> Sigma:
    """``"4"``, ``"4px"`` (model-grid pixels) or ``"1deg"`` (degrees of visual angle)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px|deg|°)?\s*", str(text))
    if not m:
        raise ParameterError(f"--sigma {text!r}: expected a number of model-grid pixels (e.g. 4) or "
                             "degrees of visual angle (e.g. 1deg)")
    value = float(m.group(1))
    unit = "deg" if m.group(2) in ("deg", "°") else "px"
    if value <= 0 or (unit == "deg" and value >= 45):
        raise ParameterError(f"--sigma {text!r}: must be positive (and under 45 degrees)")
    for what, v in (("screen distance", screen_distance_cm), ("pixel pitch", pixel_pitch_mm),
                    ("display scale", display_scale)):
        if not (math.isfinite(v) and v > 0):
            raise ParameterError(f"the {what} must be a positive number, got {v}")
    return Sigma(value, unit, screen_distance_cm, pixel_pitch_mm, display_scale)


def fixation_density(points: np.ndarray, grid_shape: tuple[int, int], sigma_px: float,
                     weights: np.ndarray | None = None) -> np.ndarray:
    """Gaussian-blurred fixation counts on the (h, w) grid, summing to 1 (zeros if no point lands).

    Each fixation adds its weight (1 by default) to pixel (floor(y), floor(x)); points outside the
    grid add nothing. The blur treats the world outside the grid as empty (no mirrored mass).
    """
    h, w = int(grid_shape[0]), int(grid_shape[1])
    if not (sigma_px > 0 and math.isfinite(sigma_px)):
        raise ParameterError(f"σ must be a positive number of pixels, got {sigma_px}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    wts = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
    counts = np.zeros((h, w), dtype=np.float64)
    if len(pts):
        ix, iy = np.floor(pts[:, 0]), np.floor(pts[:, 1])
        ok = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        np.add.at(counts, (iy[ok].astype(int), ix[ok].astype(int)), wts[ok])
    dens = gaussian_filter(counts, sigma=sigma_px, mode="constant", cval=0.0, truncate=TRUNCATE)
    total = float(dens.sum())
    return dens / total if total > 0 else dens


def centre_bias(grid_shape: tuple[int, int], sigma_fraction: float = 0.25) -> np.ndarray:
    """The centre-bias baseline: an isotropic-per-axis Gaussian on the grid centre, σ = a quarter
    of each side, summing to 1. On an aligned face crop the centre is the nose; people look at
    the middle of any image first, so a method has to beat this to say anything about gaze."""
    h, w = int(grid_shape[0]), int(grid_shape[1])
    yy = (np.arange(h) + 0.5 - h / 2.0) / (sigma_fraction * h)
    xx = (np.arange(w) + 0.5 - w / 2.0) / (sigma_fraction * w)
    g = np.exp(-0.5 * (yy[:, None] ** 2 + xx[None, :] ** 2))
    return g / g.sum()
