"""Clinician annotations: regions on a face photo, their HPO terms, undo/redo, safe storage.

The GUI only sends intents (add, remove, modify, undo, redo) to an :class:`AnnotationDocument`
and redraws on its events; everything that must be right — geometry, coordinate mapping,
rasterisation, the file format, atomic saving, autosave and recovery — lives here, Qt-free and
tested.

Coordinates (see docs/annotation_format.md, which is the normative description):

* Pixels of the referenced image, continuous, origin at the top-left *corner* of the top-left
  pixel, x to the right, y down. Pixel (row r, column c) covers [c, c+1) × [r, r+1); its centre
  is (c + 0.5, r + 0.5). With this convention scaling an image by s scales coordinates by s, so a
  region rasterises at any resolution by simple scaling.
* Two spaces: ``original`` (the photo as loaded, EXIF-rotated) and ``aligned`` (the face crop the
  model sees, before the final resize to the model input). Regions are kept canonically in
  original coordinates, which do not depend on the model's alignment template; the aligned copy
  is derived through the alignment's affine matrix and stored too, so readers need no maths.
* Every shape is a list of points plus a brush width, which makes every shape exactly
  transformable by an affine map: ``rect`` = 4 corners (a rectangle drawn in one space is a
  parallelogram in the other), ``ellipse`` = centre and the end points of two conjugate
  semi-axes, ``polygon`` / ``lasso`` = vertices (closed, even-odd fill), ``brush`` = a polyline
  swept by a disc of diameter ``width``.
* A pixel belongs to a region when its centre lies inside the shape.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .base.atomic import atomic_write_text, remove_stale_temps
from .base.errors import GmxaiError
from .base.hashing import file_sha256

FORMAT_NAME = "gmxai-annotations"
FORMAT_VERSION = 1
AUTOSAVE_SUFFIX = ".autosave"
FILE_SUFFIX = ".gmxai-annotations.json"

KINDS = ("rect", "ellipse", "polygon", "lasso", "brush")
SPACES = ("original", "aligned")

_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_HPO_ID = re.compile(r"^HP:\d{7}$")


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


# --------------------------------------------------------------------------------------------
# Alignment and image identity
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alignment:
    """The map from the original photo to the aligned face crop the model sees.

    ``matrix`` is the 2×3 affine exactly as the face pipeline uses it with ``cv2.warpAffine``
    (OpenCV convention: pixel *centres* at integer coordinates). ``size`` is the crop's
    (width, height). Regions use corner-origin coordinates; the conversion is
    ``aligned = A·(original − 0.5) + t + 0.5``, done by :meth:`doc_matrix`.
    """

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    size: tuple[int, int]
    template: str = ""

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=np.float64)
        if m.shape != (2, 3) or not np.all(np.isfinite(m)):
            raise AnnotationError("the alignment matrix must be 2×3 finite numbers")
        if abs(float(np.linalg.det(m[:, :2]))) < 1e-12:
            raise AnnotationError("the alignment matrix is not invertible")
        object.__setattr__(self, "matrix", tuple(tuple(float(v) for v in row) for row in m))
        w, h = (int(v) for v in self.size)
        if w <= 0 or h <= 0:
            raise AnnotationError(f"the aligned image size must be positive, got {self.size}")
        object.__setattr__(self, "size", (w, h))

    @classmethod
    def from_face(cls, face: Any, original_shape: Sequence[int], template: str = "") -> Alignment:
        """Build from an ``AlignedFace`` (``.image``, ``.matrix``) and the original's (H, W, ...).

        ``matrix`` None means the face image is the whole photo resized (``--align none`` or an
        already-aligned crop), so the map is the corresponding scale.
        """
        img = np.asarray(face.image)
        ah, aw = img.shape[:2]
        if getattr(face, "matrix", None) is not None:
            return cls(tuple(map(tuple, np.asarray(face.matrix, dtype=np.float64))), (aw, ah), template)
        oh, ow = int(original_shape[0]), int(original_shape[1])
        return cls.scaling((ow, oh), (aw, ah), template)

    @classmethod
    def scaling(
        cls, original_size: tuple[int, int], aligned_size: tuple[int, int], template: str = ""
    ) -> Alignment:
        """The alignment of a plain resize from ``original_size`` to ``aligned_size`` (w, h)."""
        sx = aligned_size[0] / original_size[0]
        sy = aligned_size[1] / original_size[1]
        # Pixel-centre convention of a resize: x' = (x + 0.5)·s − 0.5.
        m = ((sx, 0.0, 0.5 * sx - 0.5), (0.0, sy, 0.5 * sy - 0.5))
        return cls(m, aligned_size, template)

    def doc_matrix(self) -> np.ndarray:
        """The same map in the document's corner-origin convention (original -> aligned)."""
        m = np.asarray(self.matrix, dtype=np.float64)
        a, t = m[:, :2], m[:, 2]
        return np.concatenate([a, (t + 0.5 - a @ np.array([0.5, 0.5]))[:, None]], axis=1)

    def doc_inverse(self) -> np.ndarray:
        """Corner-origin map aligned -> original."""
        m = self.doc_matrix()
        inv = np.linalg.inv(m[:, :2])
        return np.concatenate([inv, (-inv @ m[:, 2])[:, None]], axis=1)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    try:
        return file_sha256(path)
    except OSError as exc:
        raise AnnotationError(f"cannot read {Path(path).name} to identify it: {exc.strerror or exc}") from exc


def sha256_pixels(rgb: np.ndarray) -> str:
    """Hex SHA-256 of decoded pixels (shape header + bytes): survives metadata stripping."""
    arr = np.ascontiguousarray(rgb)
    h = hashlib.sha256(f"{arr.dtype.str}:{'x'.join(map(str, arr.shape))}:".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ImageRef:
    """Which image a document annotates, without its path.

    ``sha256`` is the file's content hash; ``pixel_sha256`` (optional) the hash of its decoded
    pixels, which still matches after a de-identification tool strips metadata. ``file_name`` is
    optional: a clinician may not want even the name in a shared file.
    """

    sha256: str
    width: int
    height: int
    file_name: str | None = None
    pixel_sha256: str | None = None

    def __post_init__(self) -> None:
        for name in ("sha256", "pixel_sha256"):
            value = getattr(self, name)
            if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
                raise AnnotationError(f"image.{name} must be 64 lower-case hex digits")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise AnnotationError("image width and height must be positive")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], rgb: np.ndarray, keep_name: bool = True) -> ImageRef:
        """Reference a loaded image: hashes the file and the decoded pixels."""
        return cls(
            sha256=sha256_file(path),
            width=int(rgb.shape[1]),
            height=int(rgb.shape[0]),
            file_name=Path(path).name if keep_name else None,
            pixel_sha256=sha256_pixels(rgb),
        )

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def matches(self, other: ImageRef) -> bool:
        """Same image: same file bytes, or the same decoded pixels."""
        if self.sha256 == other.sha256:
            return True
        return self.pixel_sha256 is not None and self.pixel_sha256 == other.pixel_sha256


# --------------------------------------------------------------------------------------------
# Regions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """One annotated region. Immutable: edits produce a new Region (what makes undo trivial).

    ``geometry`` is in original-image coordinates. ``drawn_in`` records the space the user drew
    in, so an editor can show handles the way they were drawn.
    """

    geometry: Geometry
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    drawn_in: str = "original"
    hpo_id: str | None = None
    hpo_name: str | None = None
    note: str = ""
    confidence: float | None = None
    author: str = ""
    created: str = ""
    modified: str = ""
    color: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Geometry):
            raise AnnotationError("a region needs a Geometry")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.id or ""):
            raise AnnotationError(f"region id {self.id!r} must be 1-64 letters, digits, '-' or '_'")
        if self.drawn_in not in SPACES:
            raise AnnotationError(f"region {self.id}: drawn_in must be one of {SPACES}")
        if self.hpo_id is not None and not _HPO_ID.match(self.hpo_id):
            raise AnnotationError(f"region {self.id}: {self.hpo_id!r} is not an HPO id like HP:0000316")
        if self.confidence is not None:
            c = float(self.confidence)
            if not (math.isfinite(c) and 0.0 <= c <= 1.0):
                raise AnnotationError(f"region {self.id}: confidence must be between 0 and 1, got {c}")
            object.__setattr__(self, "confidence", c)
        if self.color is not None and not _HEX_COLOR.match(self.color):
            raise AnnotationError(f"region {self.id}: colour must look like #1f77b4, got {self.color!r}")
        for name in ("note", "author", "created", "modified"):
            if not isinstance(getattr(self, name), str):
                raise AnnotationError(f"region {self.id}: {name} must be text")

    @property
    def kind(self) -> str:
        return self.geometry.kind

    @property
    def label(self) -> str:
        """What a legend or table shows: the HPO name, else the note's first line, else the kind."""
        if self.hpo_name:
            return self.hpo_name
        first = self.note.strip().splitlines()[0] if self.note.strip() else ""
        return first[:60] or self.kind

    def geometry_in(self, space: str, alignment: Alignment | None) -> Geometry:
        """This region's shape in ``original`` or ``aligned`` coordinates."""
        if space == "original":
            return self.geometry
        if space != "aligned":
            raise AnnotationError(f"unknown coordinate space {space!r}; use 'original' or 'aligned'")
        if alignment is None:
            raise AnnotationError("this document has no face alignment, so there are no aligned coordinates")
        return self.geometry.transformed(alignment.doc_matrix())


def to_original(geometry: Geometry, space: str, alignment: Alignment | None) -> Geometry:
    """Bring a shape drawn in ``space`` into original coordinates (the canonical space)."""
    if space == "original":
        return geometry
    if space != "aligned":
        raise AnnotationError(f"unknown coordinate space {space!r}; use 'original' or 'aligned'")
    if alignment is None:
        raise AnnotationError(
            "cannot place a region drawn on the aligned face: the face alignment is unknown"
        )
    return geometry.transformed(alignment.doc_inverse())


# --------------------------------------------------------------------------------------------
# Document with undo/redo
# --------------------------------------------------------------------------------------------

Change = tuple[int, Region | None, Region | None]
"""(index, before, after): add = (i, None, r), remove = (i, r, None), modify = (i, old, new)."""


@dataclass
class _Command:
    text: str
    changes: list[Change]
    merge_key: object | None = None


@dataclass(frozen=True)
class DocumentEvent:
    """Sent to subscribers after every change: kind is 'added', 'removed', 'changed' or 'reset'."""

    kind: str
    region_id: str | None
    region: Region | None


class AnnotationDocument:
    """The regions on one image, an undo/redo stack, and a saved/modified state.

    All edits go through :meth:`add_region`, :meth:`remove_region`, :meth:`update_region` (and
    helpers built on them), each one undoable step; :meth:`group` makes several one step, and
    ``merge_key`` folds a continuous drag into one step.
    """

    def __init__(
        self,
        image: ImageRef,
        alignment: Alignment | None = None,
        *,
        author: str = "",
        hpo_release: str | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self.image = image
        self.alignment = alignment
        self.author = author
        self.hpo_release = hpo_release
        self.clock = clock
        self.created = clock()
        self.modified = self.created
        self._regions: list[Region] = []
        self._undo: list[_Command] = []
        self._redo: list[_Command] = []
        self._group: _Command | None = None
        self._listeners: list[Callable[[DocumentEvent], None]] = []
        self._saved_marker: object | None = None
        self._saved_at_depth = 0
        self.revision = 0
        self.mark_saved()

    # -- reading ---------------------------------------------------------------------------
    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(self._regions)

    def __len__(self) -> int:
        return len(self._regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(tuple(self._regions))

    def get(self, region_id: str) -> Region:
        return self._regions[self._index(region_id)]

    def _index(self, region_id: str) -> int:
        for i, r in enumerate(self._regions):
            if r.id == region_id:
                return i
        raise AnnotationError(f"no region with id {region_id!r}")

    def geometry_in(self, region_id: str, space: str) -> Geometry:
        return self.get(region_id).geometry_in(space, self.alignment)

    def mask(self, region_id: str, shape_hw: tuple[int, int], space: str = "aligned") -> np.ndarray:
        """Boolean mask of one region on a raster covering the whole ``space`` image."""
        return (
            self.get(region_id).geometry_in(space, self.alignment).rasterize(shape_hw, self.space_size(space))
        )

    def space_size(self, space: str) -> tuple[int, int]:
        """(width, height) of the original image or of the aligned crop."""
        if space == "original":
            return self.image.size
        if self.alignment is None:
            raise AnnotationError("this document has no face alignment, so there is no aligned image")
        return self.alignment.size

    # -- listeners -------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[DocumentEvent], None]) -> Callable[[], None]:
        """Call ``fn`` after every change; returns a function that unsubscribes."""
        self._listeners.append(fn)

        def unsubscribe() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return unsubscribe

    def _emit(self, event: DocumentEvent) -> None:
        for fn in list(self._listeners):
            fn(event)

    # -- the one primitive -----------------------------------------------------------------
    def _apply(self, changes: Sequence[Change], forward: bool) -> None:
        seq = changes if forward else [(i, after, before) for i, before, after in reversed(changes)]
        for index, before, after in seq:
            if before is None and after is not None:
                self._regions.insert(index, after)
                self._emit(DocumentEvent("added", after.id, after))
            elif before is not None and after is None:
                del self._regions[index]
                self._emit(DocumentEvent("removed", before.id, before))
            elif after is not None:
                self._regions[index] = after
                self._emit(DocumentEvent("changed", after.id, after))
        self.revision += 1
        self.modified = self.clock()

    def _do(self, text: str, changes: list[Change], merge_key: object | None = None) -> None:
        if not changes:
            return
        self._apply(changes, forward=True)
        self._redo.clear()
        if self._group is not None:
            self._group.changes.extend(changes)
            return
        top = self._undo[-1] if self._undo else None
        if (
            merge_key is not None
            and top is not None
            and top.merge_key == merge_key
            and top is not self._saved_marker
            and len(top.changes) == 1
            and len(changes) == 1
            and top.changes[0][0] == changes[0][0]
        ):
            i, first_before, _ = top.changes[0]
            top.changes[0] = (i, first_before, changes[0][2])
            return
        self._undo.append(_Command(text, list(changes), merge_key))

    def _undo_depth_marker(self) -> object | None:
        return self._undo[-1] if self._undo else None

    # -- intents ---------------------------------------------------------------------------
    def add_region(
        self, geometry: Geometry, space: str = "original", *, index: int | None = None, **fields: Any
    ) -> Region:
        """Add a region drawn in ``space``; ``fields`` are Region fields (hpo_id, note, ...)."""
        now = self.clock()
        fields.setdefault("author", self.author)
        region = Region(
            to_original(geometry, space, self.alignment),
            drawn_in=space,
            created=fields.pop("created", now),
            modified=fields.pop("modified", now),
            **fields,
        )
        return self.insert_region(region, index=index)

    def insert_region(self, region: Region, *, index: int | None = None, text: str = "Add region") -> Region:
        """Add an existing Region object (import, paste, undo of a delete made elsewhere)."""
        if any(r.id == region.id for r in self._regions):
            raise AnnotationError(f"a region with id {region.id!r} already exists")
        pos = len(self._regions) if index is None else max(0, min(index, len(self._regions)))
        self._do(text, [(pos, None, region)])
        return region

    def remove_region(self, region_id: str) -> Region:
        i = self._index(region_id)
        region = self._regions[i]
        self._do("Delete region", [(i, region, None)])
        return region

    def update_region(
        self, region_id: str, *, merge_key: object | None = None, text: str = "Edit region", **changes: Any
    ) -> Region:
        """Change Region fields (note, hpo_id, hpo_name, confidence, color, geometry ...).

        Successive calls with the same ``merge_key`` (e.g. one per mouse move of one drag) are
        a single undo step.
        """
        i = self._index(region_id)
        old = self._regions[i]
        if "id" in changes or "created" in changes:
            raise AnnotationError("a region's id and creation time cannot be changed")
        new = replace(old, **changes)
        if new == old:
            return old
        new = replace(new, modified=self.clock())
        self._do(text, [(i, old, new)], merge_key)
        return new

    def set_geometry(
        self, region_id: str, geometry: Geometry, space: str = "original", *, merge_key: object | None = None
    ) -> Region:
        """Replace a region's shape with one drawn/edited in ``space`` (vertex edit, resize)."""
        return self.update_region(
            region_id,
            geometry=to_original(geometry, space, self.alignment),
            merge_key=merge_key,
            text="Edit shape",
        )

    def move_region(
        self,
        region_id: str,
        dx: float,
        dy: float,
        space: str = "original",
        *,
        merge_key: object | None = None,
    ) -> Region:
        """Translate by (dx, dy) pixels of ``space``."""
        g = self.geometry_in(region_id, space).translated(dx, dy)
        return self.update_region(
            region_id, geometry=to_original(g, space, self.alignment), merge_key=merge_key, text="Move region"
        )

    def set_vertex(
        self,
        region_id: str,
        vertex: int,
        x: float,
        y: float,
        space: str = "original",
        *,
        merge_key: object | None = None,
    ) -> Region:
        """Move one control point (a polygon/lasso/brush vertex; for rect/ellipse see docs)."""
        g = self.geometry_in(region_id, space)
        pts = list(g.points)
        if not 0 <= vertex < len(pts):
            raise AnnotationError(f"vertex {vertex} does not exist (the shape has {len(pts)} points)")
        if g.kind == "rect":
            # Keep it a parallelogram: move the corner, keep the opposite corner, and move the two
            # neighbours along the original edge directions.
            arr = g.array()
            opp = arr[(vertex + 2) % 4]
            e1 = arr[(vertex + 1) % 4] - arr[(vertex + 2) % 4]
            e2 = arr[(vertex + 3) % 4] - arr[(vertex + 2) % 4]
            basis = np.stack([e1, e2], axis=1)
            if abs(np.linalg.det(basis)) < 1e-12:
                raise AnnotationError("this rectangle is degenerate and cannot be edited by its corners")
            a, b = np.linalg.solve(basis, np.array([x, y]) - opp)
            arr[vertex] = (x, y)
            arr[(vertex + 1) % 4] = opp + a * e1
            arr[(vertex + 3) % 4] = opp + b * e2
            pts = [tuple(p) for p in arr]
        else:
            pts[vertex] = (float(x), float(y))
        return self.set_geometry(region_id, Geometry(g.kind, tuple(pts), g.width), space, merge_key=merge_key)

    def insert_vertex(
        self, region_id: str, after: int, x: float, y: float, space: str = "original"
    ) -> Region:
        g = self.geometry_in(region_id, space)
        if g.kind not in ("polygon", "lasso", "brush"):
            raise AnnotationError(f"a {g.kind} has a fixed number of control points")
        pts = list(g.points)
        pts.insert(after + 1, (float(x), float(y)))
        return self.set_geometry(region_id, Geometry(g.kind, tuple(pts), g.width), space)

    def delete_vertex(self, region_id: str, vertex: int, space: str = "original") -> Region:
        g = self.geometry_in(region_id, space)
        if g.kind not in ("polygon", "lasso", "brush"):
            raise AnnotationError(f"a {g.kind} has a fixed number of control points")
        pts = [p for i, p in enumerate(g.points) if i != vertex]
        return self.set_geometry(region_id, Geometry(g.kind, tuple(pts), g.width), space)

    @contextmanager
    def group(self, text: str) -> Iterator[None]:
        """Make every edit inside the block one undo step (nested groups join the outer one)."""
        outer = self._group is None
        if outer:
            self._group = _Command(text, [])
        try:
            yield
        finally:
            if outer:
                cmd, self._group = self._group, None
                if cmd is not None and cmd.changes:
                    self._undo.append(cmd)

    # -- undo / redo -----------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo) and self._group is None

    @property
    def can_redo(self) -> bool:
        return bool(self._redo) and self._group is None

    @property
    def undo_text(self) -> str:
        return self._undo[-1].text if self._undo else ""

    @property
    def redo_text(self) -> str:
        return self._redo[-1].text if self._redo else ""

    def undo(self) -> bool:
        if not self.can_undo:
            return False
        cmd = self._undo.pop()
        self._apply(cmd.changes, forward=False)
        cmd.merge_key = None  # a redone step must not absorb later drags
        self._redo.append(cmd)
        return True

    def redo(self) -> bool:
        if not self.can_redo:
            return False
        cmd = self._redo.pop()
        self._apply(cmd.changes, forward=True)
        self._undo.append(cmd)
        return True

    def clear_history(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self.mark_saved()

    # -- saved state -----------------------------------------------------------------------
    def mark_saved(self) -> None:
        """Remember the current undo position as the saved one (after save or load)."""
        self._saved_marker = self._undo_depth_marker()
        self._saved_at_depth = len(self._undo)

    def mark_unsaved(self) -> None:
        """Treat the current state as not saved (e.g. just recovered from an autosave)."""
        self._saved_marker = object()

    @property
    def is_modified(self) -> bool:
        """True when the regions differ from the last save, undo/redo aware."""
        return not (
            self._undo_depth_marker() is self._saved_marker and len(self._undo) == self._saved_at_depth
        )

    # -- alignment -------------------------------------------------------------------------
    def set_alignment(self, alignment: Alignment | None) -> None:
        """Switch the aligned space (another model template). Regions stay put on the photo."""
        self.alignment = alignment
        self._emit(DocumentEvent("reset", None, None))

    # -- import ----------------------------------------------------------------------------
    def import_regions(self, other: AnnotationDocument, *, require_same_image: bool = True) -> list[Region]:
        """Copy every region of ``other`` into this document as one undo step.

        Ids that already exist get fresh ones; a region from another image is refused unless
        ``require_same_image`` is False (regions are in original-image pixels, so they only mean
        something on the same photo).
        """
        if require_same_image and not self.image.matches(other.image):
            raise AnnotationError("these annotations belong to a different image (the content hashes differ)")
        added = []
        existing = {r.id for r in self._regions}
        with self.group("Import regions"):
            for r in other.regions:
                if r.id in existing:
                    r = replace(r, id=uuid.uuid4().hex)
                existing.add(r.id)
                added.append(self.insert_region(r, text="Import regions"))
        return added

    # -- comparison ------------------------------------------------------------------------
    def content_equal(self, other: AnnotationDocument) -> bool:
        """Same image, alignment and regions (time stamps of the document itself ignored)."""
        return (
            self.image == other.image and self.alignment == other.alignment and self.regions == other.regions
        )


# --------------------------------------------------------------------------------------------
# JSON format
# --------------------------------------------------------------------------------------------


def _geom_json(g: Geometry) -> dict[str, Any]:
    return {"points": [[x, y] for x, y in g.points], "width": g.width}


def to_json_dict(doc: AnnotationDocument, *, include_file_name: bool = True) -> dict[str, Any]:
    """The documented v1 structure (docs/annotation_format.md)."""
    from .. import __version__

    image: dict[str, Any] = {
        "sha256": doc.image.sha256,
        "pixel_sha256": doc.image.pixel_sha256,
        "file_name": doc.image.file_name if include_file_name else None,
        "width": doc.image.width,
        "height": doc.image.height,
    }
    alignment = None
    if doc.alignment is not None:
        alignment = {
            "template": doc.alignment.template,
            "width": doc.alignment.size[0],
            "height": doc.alignment.size[1],
            "matrix": [list(row) for row in doc.alignment.matrix],
            "matrix_convention": "opencv",
        }
    regions = []
    for r in doc.regions:
        aligned = r.geometry_in("aligned", doc.alignment) if doc.alignment is not None else None
        regions.append(
            {
                "id": r.id,
                "kind": r.kind,
                "drawn_in": r.drawn_in,
                "original": _geom_json(r.geometry),
                "aligned": _geom_json(aligned) if aligned is not None else None,
                "hpo": {"id": r.hpo_id, "name": r.hpo_name} if r.hpo_id else None,
                "note": r.note,
                "confidence": r.confidence,
                "author": r.author,
                "created": r.created,
                "modified": r.modified,
                "color": r.color,
            }
        )
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "generator": f"gmxai-desktop {__version__}",
        "created": doc.created,
        "modified": doc.modified,
        "hpo_release": doc.hpo_release,
        "image": image,
        "alignment": alignment,
        "regions": regions,
    }


def dumps(doc: AnnotationDocument, *, include_file_name: bool = True) -> str:
    """Serialise to JSON text (UTF-8, human-readable, exact float round trip)."""
    return (
        json.dumps(
            to_json_dict(doc, include_file_name=include_file_name),
            ensure_ascii=False,
            indent=1,
            allow_nan=False,
        )
        + "\n"
    )


def _req(obj: dict[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise AnnotationError(f"{where}: the field {key!r} is missing")
    value = obj[key]
    if not isinstance(value, types) or isinstance(value, bool):
        raise AnnotationError(f"{where}: the field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _opt(
    obj: dict[str, Any], key: str, types: type | tuple[type, ...], where: str, default: Any = None
) -> Any:
    value = obj.get(key, default)
    if value is None:
        return default
    if not isinstance(value, types) or isinstance(value, bool):
        raise AnnotationError(f"{where}: the field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _geom_from_json(obj: Any, kind: str, where: str) -> Geometry:
    if not isinstance(obj, dict):
        raise AnnotationError(f"{where}: expected an object with 'points'")
    pts = _req(obj, "points", list, where)
    try:
        points = tuple((float(p[0]), float(p[1])) for p in pts if len(p) == 2)
    except (TypeError, ValueError, IndexError):
        raise AnnotationError(f"{where}: points must be [x, y] number pairs") from None
    if len(points) != len(pts):
        raise AnnotationError(f"{where}: points must be [x, y] number pairs")
    width = float(_opt(obj, "width", (int, float), where, 0.0))
    return Geometry(kind, points, width)


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older file up to FORMAT_VERSION (version 1 is the first; nothing to do yet)."""
    return data


def from_json_dict(data: Any, *, clock: Callable[[], str] = utc_now) -> AnnotationDocument:
    """Parse and validate the v1 structure; every problem is an :class:`AnnotationError`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise AnnotationError("this is not a gmxai annotation file (its 'format' is not 'gmxai-annotations')")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise AnnotationError("the annotation file has no valid 'version'")
    if version > FORMAT_VERSION:
        raise AnnotationError(
            f"the annotation file has format version {version}; this gmxai-desktop reads up "
            f"to version {FORMAT_VERSION}. Please update gmxai-desktop"
        )
    data = _migrate(data)
    img = _req(data, "image", dict, "image")
    image = ImageRef(
        sha256=_req(img, "sha256", str, "image"),
        width=_req(img, "width", int, "image"),
        height=_req(img, "height", int, "image"),
        file_name=_opt(img, "file_name", str, "image"),
        pixel_sha256=_opt(img, "pixel_sha256", str, "image"),
    )
    alignment = None
    al = data.get("alignment")
    if al is not None:
        if not isinstance(al, dict):
            raise AnnotationError("alignment: expected an object or null")
        conv = al.get("matrix_convention", "opencv")
        if conv != "opencv":
            raise AnnotationError(f"alignment: unknown matrix convention {conv!r}")
        matrix = _req(al, "matrix", list, "alignment")
        try:
            alignment = Alignment(
                matrix=tuple(tuple(float(v) for v in row) for row in matrix),  # type: ignore[arg-type]
                size=(_req(al, "width", int, "alignment"), _req(al, "height", int, "alignment")),
                template=_opt(al, "template", str, "alignment", ""),
            )
        except (TypeError, ValueError):
            raise AnnotationError("alignment: the matrix must be 2 rows of 3 numbers") from None
    doc = AnnotationDocument(
        image, alignment, hpo_release=_opt(data, "hpo_release", str, "file"), clock=clock
    )
    doc.created = _opt(data, "created", str, "file", doc.created)
    doc.modified = _opt(data, "modified", str, "file", doc.modified)
    regions_json = _req(data, "regions", list, "file")
    seen: set[str] = set()
    for n, rj in enumerate(regions_json, 1):
        where = f"region {n}"
        if not isinstance(rj, dict):
            raise AnnotationError(f"{where}: expected an object")
        kind = _req(rj, "kind", str, where)
        if kind not in KINDS:
            raise AnnotationError(f"{where}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        drawn_in = _opt(rj, "drawn_in", str, where, "original")
        if "original" in rj and rj["original"] is not None:
            geometry = _geom_from_json(rj["original"], kind, f"{where} (original)")
        elif rj.get("aligned") is not None:
            # A writer that only knows the aligned face: derive the original coordinates.
            geometry = to_original(
                _geom_from_json(rj["aligned"], kind, f"{where} (aligned)"), "aligned", alignment
            )
        else:
            raise AnnotationError(f"{where}: it has neither original nor aligned coordinates")
        hpo = rj.get("hpo")
        hpo_id = hpo_name = None
        if hpo is not None:
            if not isinstance(hpo, dict):
                raise AnnotationError(f"{where}: 'hpo' must be an object with 'id' and 'name'")
            hpo_id = _req(hpo, "id", str, f"{where} hpo")
            hpo_name = _opt(hpo, "name", str, f"{where} hpo")
        conf = rj.get("confidence")
        if conf is not None and (isinstance(conf, bool) or not isinstance(conf, (int, float))):
            raise AnnotationError(f"{where}: confidence must be a number between 0 and 1 or null")
        rid = _req(rj, "id", str, where)
        if rid in seen:
            raise AnnotationError(f"{where}: the id {rid!r} is used twice")
        seen.add(rid)
        region = Region(
            geometry=geometry,
            id=rid,
            drawn_in=drawn_in,
            hpo_id=hpo_id,
            hpo_name=hpo_name,
            note=_opt(rj, "note", str, where, ""),
            confidence=conf,
            author=_opt(rj, "author", str, where, ""),
            created=_opt(rj, "created", str, where, ""),
            modified=_opt(rj, "modified", str, where, ""),
            color=_opt(rj, "color", str, where),
        )
        doc._regions.append(region)
    doc.clear_history()
    return doc


def loads(text: str | bytes, *, clock: Callable[[], str] = utc_now) -> AnnotationDocument:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"the annotation file is not valid JSON ({exc})") from exc
    return from_json_dict(data, clock=clock)


def load_document(path: str | os.PathLike[str], *, clock: Callable[[], str] = utc_now) -> AnnotationDocument:
    """Read an annotation file (or an autosave); raises :class:`AnnotationError` with the file name."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise AnnotationError(f"the annotation file {p.name} does not exist") from None
    except OSError as exc:
        raise AnnotationError(f"cannot read {p.name}: {exc.strerror or exc}") from exc
    try:
        return loads(raw, clock=clock)
    except AnnotationError as exc:
        raise AnnotationError(f"{p.name}: {exc}") from None


def save_document(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, include_file_name: bool = True
) -> None:
    """Save atomically, mark the document saved and drop its autosave (now redundant)."""
    p = Path(path)
    atomic_write_text(p, dumps(doc, include_file_name=include_file_name))
    doc.mark_saved()
    discard_autosave(p)
    remove_stale_temps(p)


def export_document(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, include_file_name: bool = False
) -> None:
    """Write a copy for sharing (by default without the image's file name); the document's own
    saved/modified state is unchanged."""
    atomic_write_text(path, dumps(doc, include_file_name=include_file_name))


def import_document(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, require_same_image: bool = True
) -> list[Region]:
    """Merge the regions of another annotation file into ``doc`` (one undo step)."""
    return doc.import_regions(load_document(path), require_same_image=require_same_image)


def default_path_for(image_path: str | os.PathLike[str]) -> Path:
    """Where annotations of an image live by default: ``photo.jpg`` -> ``photo.gmxai-annotations.json``."""
    p = Path(image_path)
    return p.with_name(p.stem + FILE_SUFFIX)


# --------------------------------------------------------------------------------------------
# Autosave and recovery
# --------------------------------------------------------------------------------------------


def autosave_path(path: str | os.PathLike[str]) -> Path:
    """``notes.gmxai-annotations.json`` -> ``notes.gmxai-annotations.json.autosave``."""
    p = Path(path)
    return p.with_name(p.name + AUTOSAVE_SUFFIX)


def untitled_autosave_path(recovery_dir: str | os.PathLike[str], image: ImageRef) -> Path:
    """Autosave location for a document never saved: keyed by the image hash, not its name."""
    return Path(recovery_dir) / f"{image.sha256[:32]}{FILE_SUFFIX}{AUTOSAVE_SUFFIX}"


def write_autosave(doc: AnnotationDocument, path: str | os.PathLike[str]) -> Path:
    """Atomically write the autosave for a document saved (or to be saved) at ``path``.

    ``path`` may already be an autosave path (see :func:`untitled_autosave_path`).
    """
    p = Path(path)
    target = p if p.name.endswith(AUTOSAVE_SUFFIX) else autosave_path(p)
    atomic_write_text(target, dumps(doc))
    return target


def discard_autosave(path: str | os.PathLike[str]) -> None:
    p = Path(path)
    target = p if p.name.endswith(AUTOSAVE_SUFFIX) else autosave_path(p)
    try:
        target.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise AnnotationError(f"cannot remove the autosave {target.name}: {exc.strerror or exc}") from exc


@dataclass
class Recovery:
    """An autosave that holds work the saved file does not: offer it to the user.

    Accept with :meth:`restore` (the document comes back marked unsaved, so closing it asks to
    save; the autosave stays until then), decline with :meth:`discard`.
    """

    autosave: Path
    document: AnnotationDocument
    autosave_time: float
    saved_time: float | None
    regions_in_autosave: int
    regions_in_saved: int | None

    def restore(self) -> AnnotationDocument:
        self.document.mark_unsaved()
        return self.document

    def discard(self) -> None:
        discard_autosave(self.autosave)


def find_recovery(path: str | os.PathLike[str]) -> Recovery | None:
    """Check for unsaved work after a crash, before opening ``path``.

    An autosave is offered when it exists, parses, is not older than the saved file, and differs
    from it. (A normal save or a user's "discard" deletes the autosave, so one that survives
    means the session ended without either.) An unreadable autosave is not offered.
    """
    p = Path(path)
    auto = p if p.name.endswith(AUTOSAVE_SUFFIX) else autosave_path(p)
    saved = p.with_name(p.name[: -len(AUTOSAVE_SUFFIX)]) if p.name.endswith(AUTOSAVE_SUFFIX) else p
    try:
        a_stat = auto.stat()
    except OSError:
        return None
    try:
        recovered = load_document(auto)
    except AnnotationError:
        return None
    saved_time = None
    saved_regions = None
    try:
        s_stat = saved.stat()
    except OSError:
        s_stat = None
    if s_stat is not None:
        saved_time = s_stat.st_mtime
        if a_stat.st_mtime_ns < s_stat.st_mtime_ns:
            return None
        try:
            saved_doc = load_document(saved)
            saved_regions = len(saved_doc)
            if saved_doc.content_equal(recovered):
                return None
        except AnnotationError:
            pass  # a damaged saved file: the autosave is all the more worth offering
    return Recovery(auto, recovered, a_stat.st_mtime, saved_time, len(recovered), saved_regions)


def list_untitled_recoveries(recovery_dir: str | os.PathLike[str]) -> list[Recovery]:
    """Autosaves of never-saved documents in ``recovery_dir`` (to offer at start-up)."""
    d = Path(recovery_dir)
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob(f"*{FILE_SUFFIX}{AUTOSAVE_SUFFIX}")):
        rec = find_recovery(p)
        if rec is not None:
            out.append(rec)
    return out


class Autosaver:
    """Writes the autosave when the document changed and ``interval_s`` passed since the last one.

    Qt-free: the GUI calls :meth:`tick` from a timer (and on focus-out); the CLI never needs it.
    ``target`` is the saved file's path (autosave goes beside it) or an untitled autosave path.
    """

    def __init__(
        self,
        doc: AnnotationDocument,
        target: str | os.PathLike[str],
        interval_s: float = 20.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.doc = doc
        self.target = Path(target)
        self.interval_s = interval_s
        self._monotonic = monotonic
        self._last_revision = doc.revision
        self._last_time = -math.inf

    def due(self) -> bool:
        return (
            self.doc.revision != self._last_revision
            and self._monotonic() - self._last_time >= self.interval_s
        )

    def tick(self, force: bool = False) -> Path | None:
        """Autosave if due (or now, with ``force``); returns the file written, if any.

        When the user undid back to the saved state, the autosave is deleted instead: offering
        to "recover" edits the user took back would be wrong.
        """
        if self.doc.revision == self._last_revision or not (force or self.due()):
            return None
        self._last_revision = self.doc.revision
        self._last_time = self._monotonic()
        if not self.doc.is_modified:
            discard_autosave(self.target)
            return None
        return write_autosave(self.doc, self.target)


# --------------------------------------------------------------------------------------------
# CSV summary
# --------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "image_sha256",
    "file_name",
    "region_id",
    "kind",
    "hpo_id",
    "hpo_name",
    "note",
    "confidence",
    "author",
    "created",
    "modified",
    "drawn_in",
    "original_x0",
    "original_y0",
    "original_x1",
    "original_y1",
    "original_pixels",
    "aligned_x0",
    "aligned_y0",
    "aligned_x1",
    "aligned_y1",
    "aligned_pixels",
)


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in free text (a note starting with '=' or '+' etc. would
    run as a formula in Excel/LibreOffice): such text gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv_rows(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV text (RFC 4180, UTF-8 friendly, formula-safe) for the given rows."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else csv_safe(_fmt(v))) for k, v in row.items()})
    return buf.getvalue()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def summary_rows(doc: AnnotationDocument, *, include_file_name: bool = False) -> list[dict[str, Any]]:
    """One row per region: identity, HPO term, note, provenance, bounding boxes and areas.

    Areas are pixel counts of the region's mask at each space's own resolution (the same
    pixel-centre rule the metrics use), so they are reproducible to the pixel.
    """
    rows = []
    for r in doc.regions:
        row: dict[str, Any] = {
            "image_sha256": doc.image.sha256,
            "file_name": doc.image.file_name if include_file_name else None,
            "region_id": r.id,
            "kind": r.kind,
            "hpo_id": r.hpo_id,
            "hpo_name": r.hpo_name,
            "note": r.note,
            "confidence": r.confidence,
            "author": r.author,
            "created": r.created,
            "modified": r.modified,
            "drawn_in": r.drawn_in,
        }
        spaces = ["original"] + (["aligned"] if doc.alignment is not None else [])
        for space in spaces:
            g = r.geometry_in(space, doc.alignment)
            x0, y0, x1, y1 = g.bounds()
            row.update(
                {
                    f"{space}_x0": x0,
                    f"{space}_y0": y0,
                    f"{space}_x1": x1,
                    f"{space}_y1": y1,
                    f"{space}_pixels": int(
                        g.rasterize(doc.space_size(space)[::-1], doc.space_size(space)).sum()
                    ),
                }
            )
        rows.append(row)
    return rows


def summary_csv(doc: AnnotationDocument, *, include_file_name: bool = False) -> str:
    return write_csv_rows(CSV_COLUMNS, summary_rows(doc, include_file_name=include_file_name))


def export_csv(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, include_file_name: bool = False
) -> None:
    """Write the per-region summary as CSV (atomically; UTF-8 with BOM so Excel reads accents)."""
    atomic_write_text(path, "\ufeff" + summary_csv(doc, include_file_name=include_file_name))


# --------------------------------------------------------------------------------------------
# Finding the annotations of an image
# --------------------------------------------------------------------------------------------


def find_for_image(
    image: ImageRef, candidates: Iterable[str | os.PathLike[str]]
) -> AnnotationDocument | None:
    """The first annotation file among ``candidates`` (files or folders) made on this image.

    Matching is by content hash, never by name, so renamed or anonymised copies still match.
    Files that are not annotation files are skipped.
    """
    for cand in candidates:
        c = Path(cand)
        files = sorted(c.glob("*.json")) if c.is_dir() else [c]
        for f in files:
            try:
                doc = load_document(f)
            except AnnotationError:
                if not c.is_dir():
                    raise
                continue
            if doc.image.matches(image):
                return doc
    return None
