"""Which image a document annotates (content hashes) and how its two coordinate spaces map onto
each other (the alignment's affine matrix)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..base.hashing import file_sha256
from .geometry import AnnotationError

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
