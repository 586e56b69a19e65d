"""Region shapes and their rasterisation, in the coordinate convention of the package docstring;
the package's error type lives here because every other module raises it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from ..base.errors import GmxaiError

KINDS = ("rect", "ellipse", "polygon", "lasso", "brush")
SPACES = ("original", "aligned")


class AnnotationError(GmxaiError):
    """An annotation file or an edit is invalid; the message says what and where."""


def utc_now() -> str:
    """ISO 8601 UTC time stamp with millisecond precision, e.g. '2025-02-01T10:03:12.123Z'."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """A shape in one coordinate space: ``points`` (see module docstring per kind) and ``width``.

    ``width`` is the brush diameter in pixels of that space (0 for every other kind).
    """

    kind: str
    points: tuple[tuple[float, float], ...]
    width: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AnnotationError(f"unknown region kind {self.kind!r}; known: {', '.join(KINDS)}")
        pts = tuple((float(x), float(y)) for x, y in self.points)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "width", float(self.width))
        if not all(math.isfinite(v) for p in pts for v in p) or not math.isfinite(self.width):
            raise AnnotationError(f"a {self.kind} region has a coordinate that is not a finite number")
        need = {
            "rect": (4, 4),
            "ellipse": (3, 3),
            "polygon": (3, None),
            "lasso": (3, None),
            "brush": (1, None),
        }[self.kind]
        if len(pts) < need[0] or (need[1] is not None and len(pts) > need[1]):
            exact = f"exactly {need[0]}" if need[1] else f"at least {need[0]}"
            raise AnnotationError(f"a {self.kind} region needs {exact} points, got {len(pts)}")
        if self.kind == "brush" and self.width <= 0:
            raise AnnotationError("a brush stroke needs a positive width")
        if self.kind != "brush" and self.width != 0:
            raise AnnotationError(f"only brush strokes have a width, not a {self.kind}")

    # -- constructors ----------------------------------------------------------------------
    @classmethod
    def rect(cls, x0: float, y0: float, x1: float, y1: float) -> Geometry:
        """Axis-aligned rectangle between two opposite corners (any order)."""
        xa, xb = sorted((float(x0), float(x1)))
        ya, yb = sorted((float(y0), float(y1)))
        return cls("rect", ((xa, ya), (xb, ya), (xb, yb), (xa, yb)))

    @classmethod
    def ellipse(cls, cx: float, cy: float, rx: float, ry: float, angle_deg: float = 0.0) -> Geometry:
        """Ellipse with semi-axes ``rx`` (along ``angle_deg``, clockwise on screen) and ``ry``."""
        a = math.radians(angle_deg)
        ca, sa = math.cos(a), math.sin(a)
        return cls("ellipse", ((cx, cy), (cx + rx * ca, cy + rx * sa), (cx - ry * sa, cy + ry * ca)))

    @classmethod
    def polygon(cls, points: Iterable[Sequence[float]]) -> Geometry:
        return cls("polygon", tuple((p[0], p[1]) for p in points))

    @classmethod
    def lasso(cls, points: Iterable[Sequence[float]]) -> Geometry:
        return cls("lasso", tuple((p[0], p[1]) for p in points))

    @classmethod
    def brush(cls, points: Iterable[Sequence[float]], width: float) -> Geometry:
        return cls("brush", tuple((p[0], p[1]) for p in points), width)

    # -- derived ---------------------------------------------------------------------------
    def array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64).reshape(-1, 2)

    def transformed(self, matrix: np.ndarray) -> Geometry:
        """Apply a 2×3 affine map (document convention, see :class:`Alignment`).

        Points map exactly. A brush width scales by sqrt(|det|), exact for the similarity
        transforms face alignment uses (rotation + uniform scale + shift).
        """
        m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
        pts = self.array() @ m[:, :2].T + m[:, 2]
        width = self.width * math.sqrt(abs(float(np.linalg.det(m[:, :2])))) if self.kind == "brush" else 0.0
        return Geometry(self.kind, tuple(map(tuple, pts)), width)

    def translated(self, dx: float, dy: float) -> Geometry:
        return self.transformed(np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]]))

    def ellipse_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, u, v): the ellipse is centre + cos(t)·u + sin(t)·v."""
        c, p1, p2 = self.array()
        return c, p1 - c, p2 - c

    def outline(self, samples: int = 96) -> np.ndarray:
        """A closed outline (N, 2) for drawing; a brush gives its centre line (see :func:`outlines`)."""
        if self.kind == "ellipse":
            c, u, v = self.ellipse_axes()
            t = np.linspace(0.0, 2.0 * np.pi, samples, endpoint=False)
            return c + np.cos(t)[:, None] * u + np.sin(t)[:, None] * v
        return self.array()

    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) bounding box including the brush radius."""
        if self.kind == "ellipse":
            c, u, v = self.ellipse_axes()
            ext = np.sqrt(u**2 + v**2)
            return (c[0] - ext[0], c[1] - ext[1], c[0] + ext[0], c[1] + ext[1])
        pts = self.array()
        r = self.width / 2.0
        return (pts[:, 0].min() - r, pts[:, 1].min() - r, pts[:, 0].max() + r, pts[:, 1].max() + r)

    def rasterize(self, shape_hw: tuple[int, int], space_size: tuple[float, float]) -> np.ndarray:
        """Boolean mask (H, W) for a raster covering this space, whose size is ``space_size``
        (width, height) in this space's pixels. A pixel is in when its centre is inside."""
        h, w = int(shape_hw[0]), int(shape_hw[1])
        sw, sh = float(space_size[0]), float(space_size[1])
        if h <= 0 or w <= 0 or sw <= 0 or sh <= 0:
            raise AnnotationError(f"cannot rasterise onto a {w}×{h} grid for a {sw}×{sh} image")
        mask = np.zeros((h, w), dtype=bool)
        x0, y0, x1, y1 = self.bounds()
        # Only visit pixels whose centres can be inside the bounding box.
        c0 = max(0, math.floor(x0 * w / sw - 0.5))
        c1 = min(w, math.ceil(x1 * w / sw + 0.5))
        r0 = max(0, math.floor(y0 * h / sh - 0.5))
        r1 = min(h, math.ceil(y1 * h / sh + 0.5))
        if c0 >= c1 or r0 >= r1:
            return mask
        xs = (np.arange(c0, c1) + 0.5) * sw / w
        ys = (np.arange(r0, r1) + 0.5) * sh / h
        if self.kind == "ellipse":
            sub = _ellipse_mask(*self.ellipse_axes(), xs, ys)
        elif self.kind == "brush":
            sub = _brush_mask(self.array(), self.width / 2.0, xs, ys)
        else:
            sub = _polygon_mask(self.array(), xs, ys)
        mask[r0:r1, c0:c1] = sub
        return mask


def _polygon_mask(pts: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Even-odd scanline fill sampled at (xs × ys); edges use the half-open rule in y.

    One row at a time: memory stays O(columns + edges) however large the image or the lasso.
    """
    xa, ya = pts[:, 0], pts[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    out = np.zeros((len(ys), len(xs)), dtype=bool)
    for r, y in enumerate(ys):
        crosses = ((ya <= y) & (y < yb)) | ((yb <= y) & (y < ya))
        if not crosses.any():
            continue
        x0, y0, x1, y1 = xa[crosses], ya[crosses], xb[crosses], yb[crosses]
        xc = np.sort(x0 + (y - y0) / (y1 - y0) * (x1 - x0))
        # A pixel centre is inside when an odd number of crossings lie at or to its left.
        out[r] = (np.searchsorted(xc, xs, side="right") % 2) == 1
    return out


def _ellipse_mask(c: np.ndarray, u: np.ndarray, v: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    basis = np.stack([u, v], axis=1)  # columns u, v
    det = float(np.linalg.det(basis))
    if abs(det) < 1e-12:
        return np.zeros((len(ys), len(xs)), dtype=bool)
    inv = np.linalg.inv(basis)
    dx = xs[None, :] - c[0]
    dy = ys[:, None] - c[1]
    a = inv[0, 0] * dx + inv[0, 1] * dy
    b = inv[1, 0] * dx + inv[1, 1] * dy
    return a * a + b * b <= 1.0


def _polyline_distance(pts: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Distance from every sample (xs × ys) to the polyline (a single point if it has one)."""
    px = xs[None, :]
    py = ys[:, None]
    best = np.full((len(ys), len(xs)), np.inf)
    segs = [(pts[i], pts[i + 1]) for i in range(len(pts) - 1)] or [(pts[0], pts[0])]
    for a, b in segs:
        d = b - a
        dd = float(d @ d)
        t = 0.0 if dd == 0.0 else np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / dd, 0.0, 1.0)
        qx = a[0] + t * d[0] - px
        qy = a[1] + t * d[1] - py
        np.minimum(best, qx * qx + qy * qy, out=best)
    return np.sqrt(best)


def _brush_mask(pts: np.ndarray, radius: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Samples within ``radius`` of the polyline (a disc swept along it)."""
    return _polyline_distance(pts, xs, ys) <= radius


def outlines(geom: Geometry, resolution: float = 8.0) -> list[np.ndarray]:
    """Closed outlines (list of (N, 2) arrays, in the geometry's space) to draw a region.

    A brush stroke's outline is the iso-line at the brush radius of its distance field, sampled
    ``resolution`` times per radius and traced with sub-sample interpolation (contourpy, which
    matplotlib uses), so the drawn outline is the region the metrics use, caps and joins included.
    """
    if geom.kind != "brush":
        return [geom.outline()]
    import contourpy

    radius = geom.width / 2.0
    x0, y0, x1, y1 = geom.bounds()
    step = radius / resolution
    pad = 2
    xs = x0 - pad * step + np.arange(math.ceil((x1 - x0) / step) + 2 * pad + 1) * step
    ys = y0 - pad * step + np.arange(math.ceil((y1 - y0) / step) + 2 * pad + 1) * step
    dist = _polyline_distance(geom.array(), xs, ys)
    gen = contourpy.contour_generator(xs, ys, dist, line_type=contourpy.LineType.Separate)
    return [np.asarray(line, dtype=np.float64) for line in gen.lines(radius) if len(line) >= 3]
