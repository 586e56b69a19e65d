"""Face detection and alignment: every image reaches a model as the crop the model was trained on.

``prepare_face`` is the one entry point the pipeline uses. It decides, per image, whether to
detect and align, to trust that the image is already an aligned crop, or to use imported
landmarks, and it says what it did in :class:`AlignedFace` ``status`` / ``message`` so an
unaligned image is never silently passed off as aligned.

Pre-aligned rule (``align="auto"``): an image whose long side is at most
:data:`PRE_ALIGNED_MAX_SIDE` (128) pixels is taken to be an aligned crop, e.g. the 100x100 crops
GestaltMatcher v1 uses, 112x112 ArcFace crops or the 112x96 variant. No clinical photo is that
small, and RetinaFace is unreliable on a face that fills a tiny frame, so detecting on it would do
more harm than good. ``align="detect"`` forces detection, ``align="aligned"`` forces the opposite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...base.errors import ParameterError
from .align import (
    ARCFACE_112_POINTS,
    GM_V1_MARGIN,
    TEMPLATES,
    FaceTemplate,
    align_to_template,
    apply_matrix,
    check_landmarks,
    get_template,
    similarity_transform,
)
from .detector import Detection, detect_faces
from .landmarks import (
    CSV_COLUMNS,
    LANDMARK_COLUMNS,
    format_landmarks_csv,
    landmarks_row,
    lookup_landmarks,
    read_landmarks_csv,
)

__all__ = [
    "ALIGN_MODES",
    "ARCFACE_112_POINTS",
    "CSV_COLUMNS",
    "GM_V1_MARGIN",
    "LANDMARK_COLUMNS",
    "PRE_ALIGNED_MAX_SIDE",
    "STATUSES",
    "TEMPLATES",
    "AlignedFace",
    "Detection",
    "FaceTemplate",
    "align_to_template",
    "apply_matrix",
    "detect_faces",
    "format_landmarks_csv",
    "get_template",
    "is_pre_aligned_size",
    "landmarks_row",
    "lookup_landmarks",
    "prepare_face",
    "read_landmarks_csv",
    "similarity_transform",
]

PRE_ALIGNED_MAX_SIDE = 128
ALIGN_MODES = ("auto", "none", "detect", "aligned")
STATUSES = ("aligned", "pre-aligned", "no-face", "not-aligned", "landmarks-imported")
_ALIGNED_STATUSES = frozenset({"aligned", "pre-aligned", "landmarks-imported"})


@dataclass
class AlignedFace:
    """The image a model should see, plus an honest account of how it was obtained.

    ``matrix`` maps original-image pixel coordinates to ``image`` pixel coordinates (OpenCV
    convention: integer = pixel centre). It is the identity whenever ``image`` is the original
    (pre-aligned, no face, alignment off), so annotations can always be mapped with it.
    """

    image: np.ndarray
    status: str
    message: str
    landmarks: np.ndarray | None
    n_faces: int
    score: float | None
    matrix: np.ndarray | None

    @property
    def aligned(self) -> bool:
        """True when ``image`` is in the template's layout (detected, imported or pre-aligned)."""
        return self.status in _ALIGNED_STATUSES


def is_pre_aligned_size(height: int, width: int) -> bool:
    return max(height, width) <= PRE_ALIGNED_MAX_SIDE


def _identity() -> np.ndarray:
    return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.dtype != np.uint8:
        raise ParameterError(f"expected a uint8 RGB image (H, W, 3), got {arr.dtype} of shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def prepare_face(rgb: np.ndarray, template: str, align: str = "auto",
                 landmarks: np.ndarray | None = None) -> AlignedFace:
    """Align one RGB image to ``template`` ("arcface112", "gm-v1" or "none").

    ``align``: "auto" (pre-aligned if small, see the module docstring, else detect), "detect",
    "aligned" (trust the image as an aligned crop) or "none" (use the image as is).
    ``landmarks`` ((5, 2), original pixels) replace detection unless ``align`` is "none" or
    "aligned". A missing face is not an error: the whole image comes back with status "no-face".
    """
    if align not in ALIGN_MODES:
        raise ParameterError(f"unknown alignment mode {align!r}; choose one of: {', '.join(ALIGN_MODES)}")
    img = _as_rgb(rgb)
    h, w = img.shape[:2]
    if template == "none" or align == "none":
        why = "the model has no face template" if template == "none" else "alignment is off"
        return AlignedFace(img, "not-aligned", f"not aligned ({why}); using the whole image",
                           None, 0, None, _identity())
    tpl = get_template(template)
    if landmarks is not None and align != "aligned":
        lm = check_landmarks(landmarks)
        crop, matrix = align_to_template(img, lm, tpl)
        return AlignedFace(crop, "landmarks-imported", f"aligned to {tpl.name} with imported landmarks",
                           lm, 0, None, matrix)
    if align == "aligned" or (align == "auto" and is_pre_aligned_size(h, w)):
        why = "as requested" if align == "aligned" else f"{w}x{h} px is an aligned-crop size"
        return AlignedFace(img, "pre-aligned", f"used as an aligned crop ({why}); detection skipped",
                           None, 0, None, _identity())
    faces = detect_faces(img)
    if not faces:
        return AlignedFace(img, "no-face", "no face found; using the whole image unaligned",
                           None, 0, None, _identity())
    best = faces[0]
    crop, matrix = align_to_template(img, best.landmarks, tpl)
    if len(faces) > 1:
        msg = f"{len(faces)} faces found; kept the most confident ({best.score:.2f})"
    else:
        msg = f"face aligned to {tpl.name} (detector confidence {best.score:.2f})"
    return AlignedFace(crop, "aligned", msg, best.landmarks.copy(), len(faces), best.score, matrix)
