"""A facial region atlas: named regions on an alignment template, built from its 5 landmarks.

Why geometry and not a face parser: an aligned face already has its five landmarks at fixed
template positions, so fixed polygons in template pixels cover the same anatomy in every aligned
image, need no model (nothing to download, nothing to validate on patients), and carry over to
the original photo through the alignment's stored affine.

Construction (docs/hpo_regions.md draws it): a face frame with its origin at the midpoint E of
the two eye landmarks, the u axis along left eye -> right eye and the v axis perpendicular,
pointing down, both in units of the inter-eye distance d. In it the nose tip sits at v = n and
the mouth-corner midpoint at v = m (arcface112: n = 0.57, m = 1.15). Vertical levels follow the
neoclassical facial thirds: brow band [-0.55, -0.17] (glabella g = -0.30), subnasale
s = n + 0.35 (m - n), trichion g - (s - g), menton s + (s - g). Each region is a polygon in this
frame; where two polygons overlap the region earlier in :data:`PRIORITY` wins, so every pixel
belongs to at most one region and the rasterised regions tile the face without overlap.
Pixels outside all regions are background (clothes, backdrop, crop borders).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..base.errors import ParameterError
from ..inputs.face.align import TEMPLATES, FaceTemplate, apply_matrix, get_template

REGIONS: tuple[str, ...] = (
    "forehead", "eyebrows", "eyes", "nose", "philtrum", "mouth", "chin", "cheeks", "ears", "hair",
)
"""Region keys in display order (top to bottom of the face)."""

REGION_LABELS: dict[str, str] = {
    "forehead": "Forehead",
    "eyebrows": "Eyebrows",
    "eyes": "Eyes (periorbital)",
    "nose": "Nose",
    "philtrum": "Philtrum",
    "mouth": "Mouth / lips",
    "chin": "Chin / mandible",
    "cheeks": "Cheeks / midface",
    "ears": "Ears (where visible)",
    "hair": "Hair / scalp margin",
}

REGION_SHORT: dict[str, str] = {r: REGION_LABELS[r].split(" (")[0].split(" /")[0] for r in REGIONS}
"""One-word names for axis ticks and map labels."""

PRIORITY: tuple[str, ...] = (
    "nose", "philtrum", "mouth", "eyes", "eyebrows", "ears", "chin", "cheeks", "forehead", "hair",
)
"""Who owns a pixel that two polygons share: small, specific features before broad areas."""

REGION_COLORS: dict[str, tuple[int, int, int]] = {
    "forehead": (31, 119, 180), "eyebrows": (255, 127, 14), "eyes": (44, 160, 44),
    "nose": (214, 39, 40), "philtrum": (148, 103, 189), "mouth": (227, 119, 194),
    "chin": (140, 86, 75), "cheeks": (188, 189, 34), "ears": (23, 190, 207), "hair": (127, 127, 127),
}
"""Tableau-10 colours, one per region, shared by the docs figure, the CLI charts and the GUI."""


@dataclass(frozen=True)
class FaceFrame:
    """The eye-based frame the polygons are written in, plus the two landmark levels used."""

    origin: np.ndarray  # E, template pixels
    u: np.ndarray  # unit vector left eye -> right eye, times d
    v: np.ndarray  # perpendicular, pointing down (towards the mouth), times d
    n: float  # nose tip level (in d)
    m: float  # mouth level (in d)
    mouth_half_width: float  # (in d)

    def to_pixels(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=np.float64)
        return self.origin + uv[:, :1] * self.u + uv[:, 1:2] * self.v


def face_frame(points: np.ndarray) -> FaceFrame:
    """The frame of five landmarks (left eye, right eye, nose, left and right mouth corner)."""
    p = np.asarray(points, dtype=np.float64)
    if p.shape != (5, 2):
        raise ParameterError(f"an atlas needs 5 landmarks, got shape {p.shape}")
    origin = (p[0] + p[1]) / 2.0
    u = p[1] - p[0]
    d = float(np.linalg.norm(u))
    if d < 1e-6:
        raise ParameterError("the two eye landmarks coincide; no atlas can be built")
    v = np.array([-u[1], u[0]])  # rotate +90 degrees: image y points down, so this points down
    inv = np.linalg.inv(np.stack([u, v], axis=1))
    nose = inv @ (p[2] - origin)
    mouth = inv @ ((p[3] + p[4]) / 2.0 - origin)
    half_w = float(np.linalg.norm(p[4] - p[3])) / 2.0 / d
    return FaceFrame(origin, u, v, float(nose[1]), float(mouth[1]), half_w)


def _rect(u0: float, u1: float, v0: float, v1: float) -> list[tuple[float, float]]:
    return [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]


def region_polygons_uv(frame: FaceFrame) -> dict[str, np.ndarray]:
    """Each region's polygon in face-frame units (before the priority rule); see the docstring."""
    n, m = frame.n, frame.m
    g, brow_top, brow_bottom, eye_bottom = -0.30, -0.55, -0.17, 0.30
    s = n + 0.35 * (m - n)  # subnasale
    trichion, menton = g - (s - g), s + (s - g)
    lip_top, lip_bottom = m - 0.20, m + 0.22
    mw = frame.mouth_half_width + 0.18
    fw, outer = 1.0, 1.55  # face half-width; outer limit of ears and hair
    polys: dict[str, list[tuple[float, float]]] = {
        "nose": [(-0.12, 0.10), (0.12, 0.10), (0.20, n - 0.10), (0.36, n + 0.05), (0.32, s),
                 (-0.32, s), (-0.36, n + 0.05), (-0.20, n - 0.10)],
        "philtrum": _rect(-0.22, 0.22, s - 0.02, lip_top + 0.03),
        "mouth": [(-mw, m - 0.18), (-mw + 0.12, lip_top), (mw - 0.12, lip_top), (mw, m - 0.18),
                  (mw, m + 0.06), (mw - 0.18, lip_bottom), (-mw + 0.18, lip_bottom), (-mw, m + 0.06)],
        "eyes": _rect(-fw, fw, brow_bottom, eye_bottom),
        "eyebrows": _rect(-fw, fw, brow_top, brow_bottom),
        "ears": [(-outer, -0.25), (-fw, -0.25), (-fw, 0.80), (-outer, 0.80)],
        "chin": [(-1.3, 0.35), (-0.9, 0.35), (-0.78, m - 0.10), (0.78, m - 0.10), (0.9, 0.35),
                 (1.3, 0.35), (1.3, m + 0.15), (0.7, menton + 0.15), (-0.7, menton + 0.15),
                 (-1.3, m + 0.15)],
        "cheeks": _rect(-fw, fw, eye_bottom, m),
        "forehead": _rect(-fw, fw, trichion + 0.10, brow_top),
        "hair": [(-outer, trichion - 0.60), (outer, trichion - 0.60), (outer, -0.25), (fw, -0.25),
                 (fw, trichion + 0.10), (-fw, trichion + 0.10), (-fw, -0.25), (-outer, -0.25)],
    }
    polys["ears_right"] = [(-x, y) for x, y in polys["ears"]]
    return {k: np.array(v, dtype=np.float64) for k, v in polys.items()}


@dataclass(frozen=True)
class Atlas:
    """The regions of one template: polygons in template pixels, rasterisable at any map size."""

    template: str
    size: tuple[int, int]  # template (width, height)
    polygons: dict[str, tuple[np.ndarray, ...]]  # region -> polygons (x, y) in template pixels

    @property
    def regions(self) -> tuple[str, ...]:
        return REGIONS

    def label_map(self, shape: tuple[int, int] | None = None) -> np.ndarray:
        """int16 (H, W): index into :data:`REGIONS`, -1 for background.

        ``shape`` (H, W) defaults to the template size; a map of another size (a 100x100 model
        fed with resized 112x112 crops) gets the polygons scaled by the size ratio, because the
        model input is the template crop resized.
        """
        return _label_map(self.template, tuple(shape) if shape is not None else (self.size[1], self.size[0]))

    def masks(self, shape: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
        """Boolean mask per region (non-overlapping; background is in none)."""
        lab = self.label_map(shape)
        return {r: lab == i for i, r in enumerate(REGIONS)}

    def area_shares(self, shape: tuple[int, int] | None = None) -> dict[str, float]:
        """Each region's pixel count over all regions' pixels: the chance level, summing to 1."""
        lab = self.label_map(shape)
        counts = np.bincount(lab[lab >= 0].ravel(), minlength=len(REGIONS)).astype(np.float64)
        return {r: float(c / counts.sum()) for r, c in zip(REGIONS, counts, strict=True)}

    def region_at(self, x: float, y: float, shape: tuple[int, int] | None = None) -> str | None:
        """The region under pixel (x, y) of a map of ``shape``, or None for background."""
        lab = self.label_map(shape)
        xi, yi = round(x), round(y)
        if not (0 <= yi < lab.shape[0] and 0 <= xi < lab.shape[1]):
            return None
        i = int(lab[yi, xi])
        return REGIONS[i] if i >= 0 else None

    def outlines(self, shape: tuple[int, int] | None = None) -> dict[str, list[np.ndarray]]:
        """The effective (after priority) outline polygons per region, (x, y) in ``shape`` pixels.

        Contours of the rasterised label map at 4x resolution, so they are what the numbers use.
        """
        h, w = shape if shape is not None else (self.size[1], self.size[0])
        lab = _label_map(self.template, (h * 4, w * 4))
        out: dict[str, list[np.ndarray]] = {}
        for i, r in enumerate(REGIONS):
            contours, _ = cv2.findContours((lab == i).astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            out[r] = [(c.reshape(-1, 2).astype(np.float64) + 0.5) / 4.0 - 0.5 for c in contours
                      if len(c) >= 3]
        return out

    def label_points(self, shape: tuple[int, int] | None = None) -> dict[str, tuple[float, float]]:
        """Where to write each region's name: its pixel farthest from the region's border (a
        centroid can fall outside a U-shaped region such as the hair margin)."""
        h, w = shape if shape is not None else (self.size[1], self.size[0])
        lab = _label_map(self.template, (h * 2, w * 2))
        out: dict[str, tuple[float, float]] = {}
        for i, r in enumerate(REGIONS):
            mask = np.pad((lab == i).astype(np.uint8), 1)
            if not mask.any():
                continue
            dist = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
            y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
            out[r] = ((x - 1 + 0.5) / 2.0 - 0.5, (y - 1 + 0.5) / 2.0 - 0.5)
        return out

    def outlines_in_original(self, matrix: np.ndarray, shape: tuple[int, int] | None = None
                             ) -> dict[str, list[np.ndarray]]:
        """Outlines mapped into the original photo through the alignment affine.

        ``matrix`` is the stored 2x3 original -> crop transform (``AlignedFace.matrix``); the
        outlines are first scaled from ``shape`` (the map size) to the template crop.
        """
        mat = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
        inv = np.linalg.inv(mat)[:2]
        h, w = shape if shape is not None else (self.size[1], self.size[0])
        sx, sy = self.size[0] / w, self.size[1] / h
        out: dict[str, list[np.ndarray]] = {}
        for r, polys in self.outlines(shape).items():
            out[r] = [apply_matrix(inv, (p + 0.5) * [sx, sy] - 0.5) for p in polys]
        return out


def _build(template: FaceTemplate) -> Atlas:
    frame = face_frame(template.points)
    uv = region_polygons_uv(frame)
    polys: dict[str, tuple[np.ndarray, ...]] = {}
    for r in REGIONS:
        parts = [uv[r]] + ([uv["ears_right"]] if r == "ears" else [])
        polys[r] = tuple(frame.to_pixels(p) for p in parts)
    return Atlas(template.name, template.size, polys)


@lru_cache(maxsize=8)
def get_atlas(template: str) -> Atlas:
    """The atlas of a template name (``arcface112`` or ``gm-v1``)."""
    if template == "none":
        raise ParameterError("this model has no face template, so facial regions cannot be located; "
                             "region comparisons need a model that works on aligned faces")
    return _build(get_template(template))


@lru_cache(maxsize=32)
def _label_map(template: str, shape: tuple[int, int]) -> np.ndarray:
    atlas = get_atlas(template)
    h, w = int(shape[0]), int(shape[1])
    if h <= 0 or w <= 0:
        raise ParameterError(f"cannot rasterise an atlas at {w}x{h}")
    sx, sy = w / atlas.size[0], h / atlas.size[1]
    lab = np.full((h, w), -1, dtype=np.int16)
    # Pixel-centre rule: a pixel belongs to a polygon when its centre is inside (crossing number).
    # Template pixel centres are integers, so scale about the pixel-edge origin.
    ys, xs = np.mgrid[0:h, 0:w]
    px, py = xs.ravel() + 0.5, ys.ravel() + 0.5
    for name in reversed(PRIORITY):  # paint low priority first; later paints win
        idx = REGIONS.index(name)
        for poly in atlas.polygons[name]:
            pts = (poly + 0.5) * [sx, sy]
            lab.ravel()[_inside(pts, px, py)] = idx
    lab.setflags(write=False)
    return lab


def _inside(poly: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Even-odd crossing test of many points against one polygon (half-open, so shared edges
    between adjacent polygons give each pixel to exactly one of them)."""
    inside = np.zeros(px.shape, dtype=bool)
    x0, y0 = poly[-1]
    for x1, y1 in poly:
        crosses = (y0 > py) != (y1 > py)
        if np.any(crosses):
            xc = x0 + (py[crosses] - y0) * (x1 - x0) / (y1 - y0)
            inside[crosses] ^= px[crosses] < xc
        x0, y0 = x1, y1
    return inside


def template_names() -> Sequence[str]:
    return tuple(TEMPLATES)
