"""Procedurally drawn frontal cartoon faces with controlled phenotype changes.

A face is a :class:`FaceSpec` (every random choice made up front), drawn by :func:`render` with
OpenCV primitives at 4x supersampling and reduced with area averaging, which anti-aliases every
edge. Because drawing is a pure function of the spec, the same person can be drawn twice, once
with and once without the class change, and the pixels that differ are the class's ground-truth
mask (:func:`make_face`).

Faces are drawn pre-aligned on the ArcFace 112x112 template: eye centres, nose tip and mouth
corners of an unaffected, unjittered face sit on the template points. All geometry below is in
those 112-pixel units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .classes import CLASS_NAMES, UNAFFECTED

SIZE = 112
SS = 4  # supersampling factor
_SHIFT = 4  # OpenCV fixed-point bits: coordinates at 1/16 of a supersampled pixel
_FIX = SS * (1 << _SHIFT)

TEMPLATE_EYE_L = (38.2946, 51.6963)
TEMPLATE_EYE_R = (73.5318, 51.5014)
TEMPLATE_NOSE = (56.0252, 71.7366)
TEMPLATE_MOUTH_Y = (92.3655 + 92.2041) / 2
TEMPLATE_MOUTH_HW = (70.7299 - 41.5493) / 2

MASK_DIFF_THRESHOLD = 12  # of 255, max over channels, between affected and unaffected renders

# Palettes (sRGB 0..1). Skin tones span light to deep brown.
SKIN_TONES = np.array([
    [0.98, 0.86, 0.76], [0.96, 0.80, 0.69], [0.91, 0.74, 0.60], [0.87, 0.68, 0.53],
    [0.78, 0.57, 0.42], [0.67, 0.46, 0.32], [0.55, 0.37, 0.25], [0.42, 0.28, 0.19],
    [0.94, 0.78, 0.66], [0.83, 0.64, 0.50],
])
HAIR_COLOURS = np.array([
    [0.08, 0.06, 0.05], [0.20, 0.13, 0.08], [0.35, 0.22, 0.12], [0.55, 0.38, 0.20],
    [0.80, 0.65, 0.40], [0.62, 0.28, 0.12], [0.60, 0.58, 0.56], [0.85, 0.84, 0.82],
])
IRIS_COLOURS = np.array([
    [0.30, 0.18, 0.09], [0.42, 0.27, 0.14], [0.20, 0.12, 0.07], [0.30, 0.45, 0.62],
    [0.38, 0.48, 0.30], [0.52, 0.45, 0.30],
])
CLOTHES_COLOURS = np.array([
    [0.15, 0.25, 0.45], [0.55, 0.12, 0.15], [0.85, 0.85, 0.82], [0.20, 0.40, 0.25],
    [0.30, 0.30, 0.32], [0.70, 0.55, 0.20],
])


@dataclass
class FaceSpec:
    """Every parameter of one drawn face. Colours are RGB in [0, 1]; geometry in 112-px units."""

    skin: np.ndarray
    hair: np.ndarray
    iris: np.ndarray
    lip: np.ndarray
    clothes: np.ndarray
    bg: tuple[np.ndarray, np.ndarray]
    bg_angle: float
    bg_blobs: list[tuple[float, float, float, np.ndarray]]
    # head outline
    cx: float
    top_y: float
    temple_hw: float
    cheek_hw: float
    jaw_hw: float
    jaw_y: float
    chin_hw: float
    chin_y: float
    neck_hw: float
    ear_dy: float
    ear_size: float
    # hair
    hair_style: str
    hairline_y: float
    hair_volume: float
    hair_back_len: float
    part_x: float
    strands: np.ndarray  # (n, 6): x0, y0, bend, length, lightness, width
    # eyes and brows
    eye_l: tuple[float, float]
    eye_r: tuple[float, float]
    eye_w: float
    eye_up: float
    eye_low: float
    tilt_deg: float
    iris_r: float
    gaze: tuple[float, float]
    brow_gap: float
    brow_thick: float
    brow_arch: float
    brow_tilt: float
    # nose
    nose: tuple[float, float]
    tip_r: float
    ala_hw: float
    nostril: float
    bridge: float
    # mouth and philtrum
    mouth_y: float
    mouth_cx: float
    mouth_hw: float
    upper_lip: float
    lower_lip: float
    smile: float
    philtrum_len: float
    philtrum_ridges: float
    # surface
    blush: float
    edge_shade: float
    # pose (applied to the whole drawing) and capture
    rot_deg: float
    scale: float
    shift: tuple[float, float]
    light_angle: float
    light_strength: float
    gain: float
    contrast: float
    noise_sd: float
    blur_sigma: float
    extra: dict[str, float] = field(default_factory=dict)


def sample_identity(rng: np.random.Generator) -> FaceSpec:
    """A random unaffected person, photographed slightly differently every time."""
    u, n = rng.uniform, rng.normal
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * u(0.95, 1.04, 3)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * u(0.9, 1.1, 3)
    lip = np.clip(skin * np.array([0.86, 0.58, 0.58]) * u(0.9, 1.05), 0, 1)
    bg_a = u(0.15, 0.95, 3)
    bg_b = np.clip(bg_a * u(0.6, 1.2, 3), 0, 1)
    blobs = [(u(0, SIZE), u(0, SIZE), u(8, 30), np.clip(bg_a * u(0.85, 1.15, 3), 0, 1))
             for _ in range(int(rng.integers(0, 4)))]
    ipd = 35.24 + n(0, 1.5)
    eye_y = 51.6 + n(0, 1.1)
    eye_cx = 55.9 + n(0, 0.5)
    nose_y = TEMPLATE_NOSE[1] + n(0, 1.1)
    mouth_y = TEMPLATE_MOUTH_Y + n(0, 1.1)
    cheek_hw = 37.5 + n(0, 1.8)
    style = ["short", "fringe", "side", "long", "receding", "long"][int(rng.integers(6))]
    n_strands = 60
    strands = np.column_stack([
        u(0, SIZE, n_strands), u(-5, 40 if style != "long" else 110, n_strands), u(-6, 6, n_strands),
        u(6, 18, n_strands), u(-0.35, 0.35, n_strands), u(0.4, 1.0, n_strands),
    ])
    return FaceSpec(
        skin=np.clip(skin, 0, 1), hair=np.clip(hair, 0, 1),
        iris=IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * u(0.9, 1.1),
        lip=lip, clothes=CLOTHES_COLOURS[rng.integers(len(CLOTHES_COLOURS))] * u(0.85, 1.1, 3),
        bg=(bg_a, bg_b), bg_angle=u(0, 2 * math.pi), bg_blobs=blobs,
        cx=eye_cx + n(0, 0.4), top_y=u(-2, 6), temple_hw=cheek_hw - u(1.5, 4.5), cheek_hw=cheek_hw,
        jaw_hw=cheek_hw * u(0.72, 0.84), jaw_y=mouth_y + u(0, 4), chin_hw=u(8, 12),
        chin_y=110.5 + n(0, 1.4), neck_hw=cheek_hw * u(0.5, 0.6), ear_dy=u(6, 10), ear_size=u(0.9, 1.1),
        hair_style=style, hairline_y=u(14, 22), hair_volume=u(2, 7), hair_back_len=u(0, 1),
        part_x=eye_cx + u(-14, 14), strands=strands,
        eye_l=(eye_cx - ipd / 2, eye_y + n(0, 0.3)), eye_r=(eye_cx + ipd / 2, eye_y + n(0, 0.3)),
        eye_w=15.0 + n(0, 0.8), eye_up=3.8 + n(0, 0.35), eye_low=2.5 + n(0, 0.25), tilt_deg=2.5 + n(0, 2.5),
        iris_r=3.2 + n(0, 0.2), gaze=(n(0, 0.35), n(0, 0.2)),
        brow_gap=7.0 + n(0, 0.9), brow_thick=2.3 + n(0, 0.35), brow_arch=u(0.8, 2.4), brow_tilt=n(0, 3),
        nose=(eye_cx + n(0, 0.5), nose_y), tip_r=3.3 + n(0, 0.28), ala_hw=8.3 + n(0, 0.6),
        nostril=u(0.8, 1.2), bridge=u(0.3, 0.8),
        mouth_y=mouth_y, mouth_cx=eye_cx + n(0, 0.5), mouth_hw=TEMPLATE_MOUTH_HW + n(0, 0.9),
        upper_lip=3.3 + n(0, 0.4), lower_lip=4.2 + n(0, 0.5), smile=n(0.6, 0.7),
        philtrum_len=9.5 + n(0, 0.9), philtrum_ridges=u(0.55, 1.0),
        blush=u(0, 0.5), edge_shade=u(0.15, 0.3),
        rot_deg=u(-3, 3), scale=u(0.97, 1.03), shift=(u(-1.5, 1.5), u(-1.5, 1.5)),
        light_angle=u(0, 2 * math.pi), light_strength=u(0, 0.12), gain=u(0.88, 1.1),
        contrast=u(0.9, 1.1), noise_sd=u(1.0, 3.0), blur_sigma=u(0, 0.5),
    )


def apply_class(spec: FaceSpec, name: str, rng: np.random.Generator, strength: float = 1.0) -> FaceSpec:
    """The same person with the class's feature change, with a random severity.

    Severities are set so that the mildest affected faces overlap the identity range of the
    unaffected ones (about 2 standard deviations), which keeps the task learnable but not trivial.
    ``strength`` scales every change (1 = the data set's definition; training starts higher).
    The random draws do not depend on ``strength``.
    """
    if name not in CLASS_NAMES:
        raise ValueError(f"unknown demo class {name!r}")
    u = rng.uniform
    k = float(strength)
    if name == UNAFFECTED:
        return replace(spec)
    if name == "hypertelorism":
        d = k * u(5.0, 9.0) / 2
        return replace(spec, eye_l=(spec.eye_l[0] - d, spec.eye_l[1]),
                       eye_r=(spec.eye_r[0] + d, spec.eye_r[1]))
    if name == "upslanted-palpebral-fissures":
        return replace(spec, tilt_deg=spec.tilt_deg + k * u(10, 16), brow_tilt=spec.brow_tilt + k * u(2, 5))
    if name == "micrognathia":
        d, jaw, chin = u(4, 7), u(0.84, 0.92), u(0.7, 0.85)
        return replace(spec, chin_y=spec.chin_y - k * d, jaw_y=spec.jaw_y - k * 0.3 * d,
                       jaw_hw=spec.jaw_hw * (1 - k * (1 - jaw)), chin_hw=spec.chin_hw * (1 - k * (1 - chin)))
    if name == "long-smooth-philtrum":
        d, ridges = k * u(3, 5), u(0.0, 0.12)
        return replace(spec, nose=(spec.nose[0], spec.nose[1] - 0.4 * d), mouth_y=spec.mouth_y + 0.6 * d,
                       philtrum_len=spec.philtrum_len + d,
                       philtrum_ridges=spec.philtrum_ridges + min(k, 1.0) * (ridges - spec.philtrum_ridges))
    if name == "macrostomia":
        return replace(spec, mouth_hw=spec.mouth_hw * (1 + k * (u(1.2, 1.35) - 1)))
    if name == "bulbous-nose":
        tip, ala = u(1.5, 1.9), u(1.15, 1.3)
        return replace(spec, tip_r=spec.tip_r * (1 + k * (tip - 1)), ala_hw=spec.ala_hw * (1 + k * (ala - 1)),
                       nostril=spec.nostril * (1 + k * 0.15))
    raise AssertionError(name)  # pragma: no cover - CLASS_NAMES and the branches above agree


# ----------------------------------------------------------------------------------------------
# Drawing primitives on a float32 (S, S, 3) canvas in [0, 1], S = SIZE * SS.


def _fix(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, dtype=np.float64) * _FIX).astype(np.int32).reshape(-1, 1, 2)


def _blend(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray, alpha: float = 1.0) -> None:
    """Paint ``colour`` through an 8-bit coverage ``mask`` (drawn with LINE_AA) onto ``canvas``."""
    x0, y0, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return
    y1, x1 = y0 + h, x0 + w
    a = mask[y0:y1, x0:x1, None].astype(np.float32) * (alpha / 255.0)
    roi = canvas[y0:y1, x0:x1]
    roi *= 1.0 - a
    roi += a * np.asarray(colour, dtype=np.float32)


def _new_mask() -> np.ndarray:
    return np.zeros((SIZE * SS, SIZE * SS), dtype=np.uint8)


def _poly_mask(pts: np.ndarray) -> np.ndarray:
    m = _new_mask()
    cv2.fillPoly(m, [_fix(pts)], 255, cv2.LINE_AA, _SHIFT)
    return m


def _line_mask(pts: np.ndarray, width: float) -> np.ndarray:
    m = _new_mask()
    cv2.polylines(m, [_fix(pts)], False, 255, max(1, round(width * SS)), cv2.LINE_AA, _SHIFT)
    return m


def _ellipse_mask(center: tuple[float, float], axes: tuple[float, float], angle: float = 0.0,
                  start: float = 0.0, end: float = 360.0, thickness: float = -1) -> np.ndarray:
    m = _new_mask()
    c = tuple(round(v * _FIX) for v in center)
    ax = tuple(max(1, round(v * _FIX)) for v in axes)
    th = -1 if thickness < 0 else max(1, round(thickness * SS))
    cv2.ellipse(m, c, ax, angle, start, end, 255, th, cv2.LINE_AA, _SHIFT)
    return m


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a coverage mask; sigma in 112-px units.

    Only the mask's bounding box (plus 3 sigma) is blurred, and wide blurs run at 1/SS resolution:
    together they make drawing a face about 30 times faster than blurring whole canvases.
    """
    x, y, w, h = cv2.boundingRect(mask)
    out = np.zeros_like(mask)
    if w == 0 or h == 0:
        return out
    n = mask.shape[0]
    m = math.ceil(3 * sigma * SS) + SS
    x0, y0 = max(0, (x - m) // SS * SS), max(0, (y - m) // SS * SS)
    x1, y1 = min(n, -(-(x + w + m) // SS) * SS), min(n, -(-(y + h + m) // SS) * SS)
    roi = mask[y0:y1, x0:x1]
    if sigma * SS > 6:
        small = cv2.resize(roi, ((x1 - x0) // SS, (y1 - y0) // SS), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma)
        out[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    else:
        out[y0:y1, x0:x1] = cv2.GaussianBlur(roi, (0, 0), sigma * SS)
    return out


def _catmull_rom(points: list[tuple[float, float]], closed: bool = True, samples: int = 12) -> np.ndarray:
    """A smooth curve through the points (uniform Catmull-Rom spline)."""
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    if closed:
        idx = np.arange(n)
        p0, p1, p2, p3 = p[(idx - 1) % n], p, p[(idx + 1) % n], p[(idx + 2) % n]
    else:
        ext = np.concatenate([p[:1], p, p[-1:]])
        p0, p1, p2, p3 = ext[:-3], ext[1:-2], ext[2:-1], ext[3:]
    t = np.linspace(0, 1, samples, endpoint=False)[None, :, None]
    t2, t3 = t * t, t * t * t
    p0, p1, p2, p3 = (q[:, None, :] for q in (p0, p1, p2, p3))
    out = 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)
    out = out.reshape(-1, 2)
    return out if closed else np.concatenate([out, p[-1:]])


def _shade(colour: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(np.asarray(colour) * factor, 0, 1)


# ----------------------------------------------------------------------------------------------
# Face parts


def _face_outline(s: FaceSpec) -> np.ndarray:
    ey = (s.eye_l[1] + s.eye_r[1]) / 2
    cx = s.cx
    pts = [
        (cx, s.top_y),
        (cx + s.temple_hw * 0.8, s.top_y + 8),
        (cx + s.temple_hw, ey - 16),
        (cx + s.cheek_hw, ey + 6),
        (cx + s.jaw_hw, s.jaw_y),
        (cx + s.chin_hw, s.chin_y - 2.2),
        (cx, s.chin_y),
        (cx - s.chin_hw, s.chin_y - 2.2),
        (cx - s.jaw_hw, s.jaw_y),
        (cx - s.cheek_hw, ey + 6),
        (cx - s.temple_hw, ey - 16),
        (cx - s.temple_hw * 0.8, s.top_y + 8),
    ]
    return _catmull_rom(pts, closed=True, samples=16)


def _draw_background(canvas: np.ndarray, s: FaceSpec) -> None:
    """A two-colour gradient with soft blobs; smooth, so it is computed at 1/SS and upscaled."""
    n = SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n - 0.5
    t = np.clip(0.5 + xx * math.cos(s.bg_angle) + yy * math.sin(s.bg_angle), 0, 1)[..., None]
    small = (s.bg[0] * (1 - t) + s.bg[1] * t).astype(np.float32)
    yy, xx = yy + 0.5, xx + 0.5
    for x, y, r, col in s.bg_blobs:
        a = 0.6 * np.exp(-((xx * n - x) ** 2 + (yy * n - y) ** 2) / (2 * (0.8 * r) ** 2))[..., None]
        small = small * (1 - a) + np.asarray(col, dtype=np.float32) * a
    canvas[:] = cv2.resize(small, (n * SS, n * SS), interpolation=cv2.INTER_LINEAR)


def _hair_back_polygon(s: FaceSpec) -> np.ndarray | None:
    if s.hair_style == "receding":
        return None
    ey = (s.eye_l[1] + s.eye_r[1]) / 2
    bottom = ey + 12 + s.hair_back_len * (60 if s.hair_style == "long" else 8)
    w = s.cheek_hw + s.hair_volume + (6 if s.hair_style == "long" else 2)
    pts = [
        (s.cx, s.top_y - s.hair_volume),
        (s.cx + w * 0.85, s.top_y + 6),
        (s.cx + w, ey),
        (s.cx + w * (1.0 if s.hair_style == "long" else 0.9), bottom),
        (s.cx + s.cheek_hw * 0.8, bottom + 2),
        (s.cx - s.cheek_hw * 0.8, bottom + 2),
        (s.cx - w * (1.0 if s.hair_style == "long" else 0.9), bottom),
        (s.cx - w, ey),
        (s.cx - w * 0.85, s.top_y + 6),
    ]
    return _catmull_rom(pts, closed=True)


def _draw_hair_back(canvas: np.ndarray, s: FaceSpec) -> None:
    pts = _hair_back_polygon(s)
    if pts is not None:
        _blend(canvas, _poly_mask(pts), _shade(s.hair, 0.8))


def _draw_shoulders_neck(canvas: np.ndarray, s: FaceSpec) -> None:
    _blend(canvas, _ellipse_mask((s.cx, SIZE + 26), (s.cheek_hw * 1.9, 30)), s.clothes)
    neck = np.array([
        (s.cx - s.neck_hw, s.jaw_y - 4), (s.cx + s.neck_hw, s.jaw_y - 4),
        (s.cx + s.neck_hw * 1.15, SIZE + 4), (s.cx - s.neck_hw * 1.15, SIZE + 4),
    ])
    _blend(canvas, _poly_mask(neck), _shade(s.skin, 0.82))
    # Collar line where neck meets clothes.
    _blend(canvas, _ellipse_mask((s.cx, SIZE + 8), (s.neck_hw * 1.2, 6)), s.clothes)


def _draw_ears(canvas: np.ndarray, s: FaceSpec) -> None:
    ey = (s.eye_l[1] + s.eye_r[1]) / 2
    for side in (-1, 1):
        c = (s.cx + side * (s.cheek_hw - 0.5), ey + s.ear_dy)
        ax = (4.6 * s.ear_size, 9.5 * s.ear_size)
        _blend(canvas, _ellipse_mask(c, ax, side * 8), _shade(s.skin, 0.9))
        _blend(canvas, _ellipse_mask(c, ax, side * 8, thickness=0.5), _shade(s.skin, 0.65), 0.7)
        inner = (c[0] + side * 0.8, c[1])
        _blend(canvas, _ellipse_mask(inner, (ax[0] * 0.55, ax[1] * 0.65), side * 8, -90 if side > 0 else 90,
                                     90 if side > 0 else 270, 0.9), _shade(s.skin, 0.7), 0.8)


def _draw_face(canvas: np.ndarray, s: FaceSpec) -> np.ndarray:
    outline = _face_outline(s)
    face = _poly_mask(outline)
    _blend(canvas, face, s.skin)
    # Soft edge shading: darker towards the outline, as a rounded surface would be.
    inner = _soft(face, 5.0).astype(np.float32) / 255.0
    shade = 1.0 - s.edge_shade * (1.0 - np.clip((inner - 0.5) * 2.2, 0, 1))
    f = face.astype(np.float32)[..., None] / 255.0
    canvas *= 1.0 - f + f * shade[..., None]
    return face


def _draw_chin_shadow(canvas: np.ndarray, s: FaceSpec, face: np.ndarray) -> None:
    below = _soft(_ellipse_mask((s.cx, s.chin_y + 2.5), (s.jaw_hw * 0.75, 4.0)), 1.8)
    below = (below.astype(np.float32) * (1.0 - face.astype(np.float32) / 255.0)).astype(np.uint8)
    _blend(canvas, below, _shade(s.skin, 0.5), 0.6)


def _draw_cheeks(canvas: np.ndarray, s: FaceSpec) -> None:
    if s.blush <= 0.02:
        return
    red = np.clip(s.skin * np.array([1.02, 0.75, 0.75]), 0, 1)
    for eye in (s.eye_l, s.eye_r):
        side = -1 if eye[0] < s.cx else 1
        m = _soft(_ellipse_mask((eye[0] + side * 4, eye[1] + 17), (7, 5)), 3.5)
        _blend(canvas, m, red, s.blush)


def _eye_geometry(s: FaceSpec, center: tuple[float, float], side: int) -> dict[str, np.ndarray]:
    """Lid curves for one eye; ``side`` -1 for the eye on the image's left."""
    a = s.eye_w / 2
    th = math.radians(s.tilt_deg)
    # Unit vector from inner to outer canthus: outward (side) and up (negative y) by the tilt.
    axis = np.array([side * math.cos(th), -math.sin(th)])
    up = np.array([axis[1] * side, -axis[0] * side])  # perpendicular, pointing up
    if up[1] > 0:
        up = -up
    c = np.asarray(center)
    inner, outer = c - a * axis, c + a * axis
    t = np.linspace(0, 1, 24)
    base = inner[None] + (outer - inner)[None] * t[:, None]
    # Upper lid peaks slightly medial of centre, the lower lid slightly lateral.
    up_prof = np.sin(np.pi * t ** 0.85) ** 0.9
    low_prof = np.sin(np.pi * t ** 1.15)
    upper = base + up[None] * (s.eye_up * up_prof)[:, None]
    lower = base - up[None] * (s.eye_low * low_prof)[:, None]
    return {"inner": inner, "outer": outer, "upper": upper, "lower": lower, "up": up, "axis": axis}


def _draw_eye(canvas: np.ndarray, s: FaceSpec, center: tuple[float, float], side: int) -> None:
    g = _eye_geometry(s, center, side)
    c = np.asarray(center)
    # Orbit shadow and lid crease.
    _blend(canvas, _soft(_ellipse_mask(tuple(c + g["up"] * 2.5), (s.eye_w * 0.62, 4.5)), 2.0),
           _shade(s.skin, 0.72), 0.35)
    crease = g["upper"][3:-3] + g["up"][None] * 1.6
    _blend(canvas, _soft(_line_mask(crease, 0.5), 0.3), _shade(s.skin, 0.6), 0.6)
    almond = np.concatenate([g["upper"], g["lower"][::-1]])
    opening = _poly_mask(almond)
    _blend(canvas, opening, np.array([0.93, 0.92, 0.9]))
    # Iris and pupil, clipped to the lid opening.
    ic = c + np.array([s.gaze[0], s.gaze[1]]) + g["up"] * 0.4
    iris = cv2.min(_ellipse_mask(tuple(ic), (s.iris_r, s.iris_r)), opening)
    _blend(canvas, iris, s.iris)
    ring = cv2.min(_ellipse_mask(tuple(ic), (s.iris_r, s.iris_r), thickness=0.5), opening)
    _blend(canvas, ring, _shade(s.iris, 0.5), 0.8)
    pupil = cv2.min(_ellipse_mask(tuple(ic), (s.iris_r * 0.42, s.iris_r * 0.42)), opening)
    _blend(canvas, pupil, np.array([0.03, 0.03, 0.03]))
    glint = cv2.min(_ellipse_mask(tuple(ic + np.array([0.9, -0.9])), (0.6, 0.6)), opening)
    _blend(canvas, glint, np.array([1.0, 1.0, 1.0]), 0.9)
    # Upper lid shadow on the eyeball, lash line, lower lid.
    shadow = cv2.min(_soft(_line_mask(g["upper"], 1.6), 0.5), opening)
    _blend(canvas, shadow, _shade(s.skin, 0.45), 0.45)
    _blend(canvas, _line_mask(g["upper"], 0.95), np.array([0.08, 0.06, 0.05]))
    lash_tail = np.array([g["outer"], g["outer"] + g["axis"] * 1.2 + g["up"] * 0.5])
    _blend(canvas, _line_mask(lash_tail, 0.6), np.array([0.08, 0.06, 0.05]), 0.8)
    _blend(canvas, _line_mask(g["lower"], 0.45), _shade(s.skin, 0.55), 0.8)


def _draw_brow(canvas: np.ndarray, s: FaceSpec, center: tuple[float, float], side: int) -> None:
    c = np.asarray(center)
    tilt = math.radians(s.brow_tilt + 0.5 * s.tilt_deg)
    t = np.linspace(0, 1, 20)
    x = c[0] + side * (-s.eye_w * 0.52 + t * s.eye_w * 1.12)
    y = c[1] - s.brow_gap - s.brow_arch * np.sin(np.pi * t ** 0.8) - t * s.eye_w * math.sin(tilt) * 0.5
    thick = s.brow_thick * (1.15 - 0.7 * t)
    top = np.column_stack([x, y - thick / 2])
    bottom = np.column_stack([x, y + thick / 2])
    poly = np.concatenate([top, bottom[::-1]])
    _blend(canvas, _poly_mask(poly), _shade(s.hair, 0.6), 0.92)


def _draw_nose(canvas: np.ndarray, s: FaceSpec) -> None:
    nx, ny = s.nose
    ey = (s.eye_l[1] + s.eye_r[1]) / 2
    dark = _shade(s.skin, 0.62)
    # Bridge side walls: soft shadows from the inner eye corners to the alae.
    for side in (-1, 1):
        wall = [(nx + side * 3.2, ey + 1), (nx + side * 3.0, ey + 10),
                (nx + side * (s.ala_hw * 0.55), ny - 3)]
        wall_mask = _soft(_line_mask(_catmull_rom(wall, closed=False), 1.2), 0.9)
        _blend(canvas, wall_mask, dark, s.bridge * 0.55)
    # Tip: lit dome with a darker rim below, alar wings, nostrils.
    _blend(canvas, _soft(_ellipse_mask((nx, ny + s.tip_r * 0.55), (s.tip_r * 1.25, s.tip_r * 0.9)), 0.8),
           dark, 0.35)
    _blend(canvas, _soft(_ellipse_mask((nx, ny - 0.3), (s.tip_r * 0.95, s.tip_r * 0.9)), 0.7),
           np.clip(s.skin * 1.08, 0, 1), 0.85)
    _blend(canvas, _soft(_ellipse_mask((nx - 0.6, ny - 1.0), (s.tip_r * 0.35, s.tip_r * 0.3)), 0.5),
           np.clip(s.skin * 1.25 + 0.05, 0, 1), 0.5)
    for side in (-1, 1):
        ala_c = (nx + side * (s.ala_hw - 2.4), ny + 0.8)
        _blend(canvas, _ellipse_mask(ala_c, (2.6, 2.9), 0, -80 if side > 0 else 100, 100 if side > 0 else 260,
                                     0.75), _shade(s.skin, 0.5), 0.85)
        nos = (nx + side * s.ala_hw * 0.42, ny + s.tip_r * 0.75 + 0.6)
        _blend(canvas, _ellipse_mask(nos, (1.7 * s.nostril, 0.95 * s.nostril), side * 22),
               _shade(s.skin, 0.3), 0.9)


def _draw_philtrum(canvas: np.ndarray, s: FaceSpec) -> None:
    nx, ny = s.nose
    lip_top = s.mouth_y - s.upper_lip
    sub_y = ny + s.tip_r * 0.95
    if s.philtrum_ridges <= 0.01:
        return
    for side in (-1, 1):
        ridge = np.array([(nx + side * 1.3, sub_y + 0.8), (s.mouth_cx + side * 2.9, lip_top - 0.2)])
        _blend(canvas, _soft(_line_mask(ridge, 0.9), 0.35), np.clip(s.skin * 1.12 + 0.02, 0, 1),
               0.7 * s.philtrum_ridges)
        groove = ridge + np.array([side * 0.9, 0])
        _blend(canvas, _soft(_line_mask(groove, 0.6), 0.35), _shade(s.skin, 0.78), 0.6 * s.philtrum_ridges)
    dip = np.array([(nx, sub_y + 1.5), (s.mouth_cx, lip_top - 0.8)])
    _blend(canvas, _soft(_line_mask(dip, 1.8), 0.8), _shade(s.skin, 0.85), 0.5 * s.philtrum_ridges)


def _draw_mouth(canvas: np.ndarray, s: FaceSpec) -> None:
    mx, my, hw = s.mouth_cx, s.mouth_y, s.mouth_hw
    left, right = (mx - hw, my - s.smile), (mx + hw, my - s.smile)
    bow = 2.9
    upper_top = _catmull_rom([left, (mx - hw * 0.55, my - s.upper_lip * 0.75), (mx - bow, my - s.upper_lip),
                              (mx, my - s.upper_lip * 0.72), (mx + bow, my - s.upper_lip),
                              (mx + hw * 0.55, my - s.upper_lip * 0.75), right], closed=False, samples=8)
    line = _catmull_rom([left, (mx - hw * 0.5, my + 0.3), (mx, my + 0.5), (mx + hw * 0.5, my + 0.3), right],
                        closed=False, samples=8)
    lower_bot = _catmull_rom([left, (mx - hw * 0.6, my + s.lower_lip * 0.8), (mx, my + s.lower_lip),
                              (mx + hw * 0.6, my + s.lower_lip * 0.8), right], closed=False, samples=8)
    # Shadow under the lower lip (mentolabial sulcus).
    _blend(canvas, _soft(_ellipse_mask((mx, my + s.lower_lip + 2.4), (hw * 0.45, 1.6)), 1.0),
           _shade(s.skin, 0.7), 0.5)
    _blend(canvas, _poly_mask(np.concatenate([upper_top, line[::-1]])), _shade(s.lip, 0.88))
    _blend(canvas, _poly_mask(np.concatenate([line, lower_bot[::-1]])), s.lip)
    _blend(canvas, _soft(_ellipse_mask((mx, my + s.lower_lip * 0.5), (hw * 0.35, s.lower_lip * 0.22)), 0.6),
           np.clip(s.lip * 1.3 + 0.05, 0, 1), 0.45)
    _blend(canvas, _line_mask(line, 0.7), _shade(s.lip, 0.35))
    for corner, side in ((left, -1), (right, 1)):
        dimple = np.array([corner, (corner[0] + side * 1.2, corner[1] - 0.4)])
        _blend(canvas, _soft(_line_mask(dimple, 0.6), 0.3), _shade(s.skin, 0.6), 0.6)


def _hair_front_polygon(s: FaceSpec) -> np.ndarray:
    ey = (s.eye_l[1] + s.eye_r[1]) / 2
    v = s.hair_volume
    cx, hl = s.cx, s.hairline_y
    side_y = ey - (4 if s.hair_style != "receding" else 12)
    outer = [
        (cx - s.temple_hw - v * 0.6, side_y),
        (cx - s.temple_hw * 0.85 - v, s.top_y + 6),
        (cx, s.top_y - v),
        (cx + s.temple_hw * 0.85 + v, s.top_y + 6),
        (cx + s.temple_hw + v * 0.6, side_y),
    ]
    tw = s.temple_hw
    if s.hair_style == "fringe":
        inner = [(cx + tw - 1, side_y), (cx + tw * 0.7, hl + 9), (cx, hl + 11), (cx - tw * 0.7, hl + 9),
                 (cx - tw + 1, side_y)]
    elif s.hair_style == "side":
        px = s.part_x
        inner = [(cx + tw - 1, side_y), (cx + tw * 0.75, hl + 4), (px + (cx - px) * 0.3, hl + 8),
                 (px, hl + 1), (cx - tw * 0.75, hl + 2), (cx - tw + 1, side_y)]
    elif s.hair_style == "receding":
        inner = [(cx + tw - 2, side_y), (cx + tw * 0.6, hl - 2), (cx, hl - 5), (cx - tw * 0.6, hl - 2),
                 (cx - tw + 2, side_y)]
    else:  # short, long
        inner = [(cx + tw - 1, side_y), (cx + tw * 0.75, hl + 2), (cx, hl), (cx - tw * 0.75, hl + 2),
                 (cx - tw + 1, side_y)]
    top = _catmull_rom(outer, closed=False, samples=10)
    bottom = _catmull_rom(inner, closed=False, samples=10)
    return np.concatenate([top, bottom])


def _draw_hair_front(canvas: np.ndarray, s: FaceSpec) -> None:
    region = _poly_mask(_hair_front_polygon(s))
    if s.hair_style == "receding":
        region = (region.astype(np.float32) * 0.75).astype(np.uint8)
    _blend(canvas, region, s.hair)
    # Strands for texture, clipped to the hair.
    tex = _new_mask()
    tex_light = _new_mask()
    for x0, y0, bend, length, light, width in s.strands:
        pts = _catmull_rom([(x0, y0), (x0 + bend * 0.5, y0 + length * 0.5), (x0 + bend, y0 + length)],
                           closed=False, samples=4)
        target = tex_light if light > 0 else tex
        cv2.polylines(target, [_fix(pts)], False, int(255 * min(abs(light) * 2, 1)),
                      max(1, round(width * SS * 0.6)), cv2.LINE_AA, _SHIFT)
    _blend(canvas, cv2.min(tex, region), _shade(s.hair, 0.6), 0.5)
    _blend(canvas, cv2.min(tex_light, region), np.clip(s.hair * 1.35 + 0.06, 0, 1), 0.35)


def render_clean(s: FaceSpec) -> np.ndarray:
    """The face before pose jitter, lighting and noise: float32 (S, S, 3) at supersampled size."""
    canvas = np.zeros((SIZE * SS, SIZE * SS, 3), dtype=np.float32)
    _draw_background(canvas, s)
    _draw_hair_back(canvas, s)
    _draw_shoulders_neck(canvas, s)
    _draw_ears(canvas, s)
    face = _draw_face(canvas, s)
    _draw_chin_shadow(canvas, s, face)
    _draw_cheeks(canvas, s)
    _draw_philtrum(canvas, s)
    _draw_nose(canvas, s)
    _draw_mouth(canvas, s)
    for eye, side in ((s.eye_l, -1), (s.eye_r, 1)):
        _draw_eye(canvas, s, eye, side)
        _draw_brow(canvas, s, eye, side)
    _draw_hair_front(canvas, s)
    return canvas


def _pose_and_reduce(canvas: np.ndarray, s: FaceSpec) -> np.ndarray:
    """Pose jitter (a small similarity about the template centre), then 4x area reduction."""
    c = (SIZE * SS / 2, SIZE * SS / 2)
    m = cv2.getRotationMatrix2D(c, s.rot_deg, s.scale)
    m[:, 2] += np.array(s.shift) * SS
    warped = cv2.warpAffine(canvas, m, (SIZE * SS, SIZE * SS), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT101)
    return cv2.resize(warped, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _capture(img: np.ndarray, s: FaceSpec, rng: np.random.Generator) -> np.ndarray:
    """Lighting gradient, exposure, contrast, lens softness and sensor noise -> uint8."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE - 0.5
    light = 1.0 + s.light_strength * (xx * math.cos(s.light_angle) + yy * math.sin(s.light_angle)) * 2
    out = img * light[..., None] * s.gain
    mean = out.mean()
    out = (out - mean) * s.contrast + mean
    if s.blur_sigma > 0.05:
        out = cv2.GaussianBlur(out, (0, 0), s.blur_sigma)
    out = out * 255.0 + rng.normal(0, s.noise_sd, out.shape).astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@dataclass
class DemoFace:
    image: np.ndarray  # uint8 RGB (112, 112, 3)
    mask: np.ndarray | None  # uint8 (112, 112), 255 where the class changed the face
    label: str
    spec: FaceSpec


def make_face(label: str, identity_rng: np.random.Generator, variant_rng: np.random.Generator | None = None,
              with_mask: bool = True, strength: float = 1.0) -> DemoFace:
    """One person (from ``identity_rng``) drawn with class ``label`` and its ground-truth mask.

    ``variant_rng`` draws the class's severity and the sensor noise; by default it continues
    ``identity_rng``. Drawing the same identity stream with every class gives the same person
    with each phenotype, which is how the training data is built (see :mod:`.dataset`).

    The mask marks the pixels where this face differs from the same person drawn unaffected
    (same pose, before lighting and noise), dilated by one pixel so that thin changes (a lid line,
    a philtral ridge) form a region. The unaffected class gets an empty mask.
    """
    rng = identity_rng if variant_rng is None else variant_rng
    identity = sample_identity(identity_rng)
    spec = apply_class(identity, label, rng, strength)
    affected = _pose_and_reduce(render_clean(spec), spec)
    mask = None
    if with_mask:
        if label == UNAFFECTED:
            mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
        else:
            plain = _pose_and_reduce(render_clean(identity), identity)
            diff = np.abs(affected - plain).max(axis=2) * 255.0
            mask = (diff > MASK_DIFF_THRESHOLD).astype(np.uint8) * 255
            mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    image = _capture(affected, spec, rng)
    return DemoFace(image=image, mask=mask, label=label, spec=spec)
