"""Alignment templates and the 5-point similarity warp.

Both templates are defined by five canonical landmark positions (left eye, right eye, nose tip,
left mouth corner, right mouth corner; left/right as seen in the image) in the output crop. A face
is aligned by the least-squares similarity transform (rotation, uniform scale, translation;
Umeyama 1991, the estimator of ``skimage.transform.SimilarityTransform`` that upstream uses) from
its detected landmarks to those positions, then ``cv2.warpAffine`` with a black border.

``arcface112`` is the insightface / GestaltMatcher-Arc template verbatim.

``gm-v1`` reproduces the GestaltMatcher v1 crop (a square around the RetinaFace box, resized to
100x100) deterministically. Upstream squares the detector's box, so the crop jitters with the box
and keeps the head's roll; imported landmarks have no box at all. We instead fit the same
similarity transform to canonical points that put the *average* RetinaFace box where upstream's
square would be: centred on the box centre, with side = box side x :data:`GM_V1_MARGIN`. The eyes
come out level (rotation-normalised), the crop depends only on the landmarks, and the "eyes within
3 px of the template" check works for both templates alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...base.errors import ParameterError

ARCFACE_112_POINTS = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)

# The mean RetinaFace box of a frontal face expressed in ArcFace-112 template pixels: centre and
# long side (the box height), measured on the reference photos used by the tests (scikit-image's
# astronaut and matplotlib's Grace Hopper: centres (56.6, 67.0) / (57.6, 64.7), heights
# 107.1 / 98.0). The x centre is set on the template's axis of symmetry.
FACE_BOX_CENTER_ARC = (56.0, 66.0)
FACE_BOX_SIDE_ARC = 102.5
GM_V1_MARGIN = 1.2
"""Square side / RetinaFace box side for gm-v1. The box ends at the chin; 1.2 leaves about 6 % of
the crop below the chin and above the box top, so the whole face including chin and forehead fits
even with a slightly open mouth or a tilted head."""
GM_V1_SIZE = 100


def _gm_v1_points() -> np.ndarray:
    side = FACE_BOX_SIDE_ARC * GM_V1_MARGIN
    scale = GM_V1_SIZE / side
    center = np.array(FACE_BOX_CENTER_ARC)
    return (ARCFACE_112_POINTS - center) * scale + GM_V1_SIZE / 2.0


@dataclass(frozen=True)
class FaceTemplate:
    """An output crop size and where the five landmarks should land in it."""

    name: str
    size: tuple[int, int]  # (width, height)
    points: np.ndarray  # (5, 2) float (x, y) in output pixels
    description: str

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]


TEMPLATES: dict[str, FaceTemplate] = {
    "arcface112": FaceTemplate(
        name="arcface112",
        size=(112, 112),
        points=ARCFACE_112_POINTS.copy(),
        description="ArcFace 112x112 (insightface / GestaltMatcher-Arc), 5-point similarity",
    ),
    "gm-v1": FaceTemplate(
        name="gm-v1",
        size=(GM_V1_SIZE, GM_V1_SIZE),
        points=_gm_v1_points(),
        description=f"GestaltMatcher v1 square face crop (box x {GM_V1_MARGIN}), 100x100, eyes level",
    ),
}


def get_template(name: str) -> FaceTemplate:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ParameterError(
            f"unknown face template {name!r}; choose one of: {', '.join(TEMPLATES)} or none"
        ) from None


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, with scaling) mapping ``src`` points onto ``dst``: 2x3."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = src.shape[0]
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    src_var = (src_c**2).sum() / n
    scale = float((s * d).sum() / src_var)
    m = np.zeros((2, 3), dtype=np.float64)
    m[:, :2] = scale * rot
    m[:, 2] = dst_mean - scale * rot @ src_mean
    return m


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points with a 2x3 affine matrix."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Validate user or detector landmarks: (5, 2), finite, with distinct eyes."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2):
        raise ParameterError(f"landmarks must be 5 (x, y) points, got shape {lm.shape}")
    if not np.all(np.isfinite(lm)):
        raise ParameterError("landmarks contain missing or non-numeric coordinates")
    if np.linalg.norm(lm[1] - lm[0]) < 1.0:
        raise ParameterError("the two eye landmarks coincide; cannot align the face")
    return lm


def align_to_template(rgb: np.ndarray, landmarks: np.ndarray,
                      template: FaceTemplate) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``rgb`` so its landmarks land on the template; returns (crop, 2x3 matrix original->crop).

    Bilinear interpolation and border value 0 as in insightface's ``norm_crop``, which the
    ArcFace-based models were trained on.
    """
    lm = check_landmarks(landmarks)
    matrix = similarity_transform(lm, template.points)
    crop = cv2.warpAffine(rgb, matrix, template.size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return crop, matrix
