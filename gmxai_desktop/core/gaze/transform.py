"""Fixations from photo pixels to the model grid, through the transform the image went through.

An attribution map lives on the model input grid: the photo was EXIF-rotated
(:func:`~gmxai_desktop.core.inputs.imageio.load_image`), aligned to the model's face template by a
2x3 similarity (:class:`~gmxai_desktop.core.inputs.face.AlignedFace` keeps it, OpenCV convention:
integer coordinates are pixel centres) and resized to the model input (PIL bilinear: edges map to
edges). :class:`GridTransform` applies the same three steps to points, so a fixation on the left
eye of the photo lands on the left eye of the aligned face, where the maps are.

Point convention throughout: pixel *edges*, origin at the top-left corner of the top-left pixel
(the first pixel's centre is (0.5, 0.5)). The affine step therefore subtracts 0.5 before and adds
0.5 after the OpenCV matrix.

Points that fall outside the grid (the face crop cuts off hair, shoulders, background) are kept
with their coordinates and counted by :func:`inside_grid`; nothing is dropped silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXIF_ORIENTATION_TAG = 0x0112
FRAMES = ("stored", "oriented")
"""Which photo frame fixation coordinates are in: ``stored`` (the pixel array as written in the
file, what most stimulus software shows; EXIF orientation is applied here like for the image) or
``oriented`` (already upright, as a viewer that honours EXIF shows it)."""


def exif_orientation(path: str | Path) -> tuple[int, tuple[int, int]]:
    """(EXIF orientation 1..8, stored (width, height)); 1 when absent or unreadable."""
    from PIL import Image

    from ..inputs.imageio import _DECODERS  # the decoders load_image allows, nothing else

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path, formats=_DECODERS) as im:
            size = (int(im.size[0]), int(im.size[1]))
            try:
                value = int(im.getexif().get(EXIF_ORIENTATION_TAG, 1))
            except Exception:  # a broken EXIF block means "as stored", as in load_image
                value = 1
    return (value if 1 <= value <= 8 else 1), size


def orient_points(points: np.ndarray, orientation: int, stored_size: tuple[int, int]) -> np.ndarray:
    """Map stored-frame points to the upright frame Pillow's ``exif_transpose`` produces."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    w, h = stored_size
    table = {
        1: (x, y),
        2: (w - x, y),  # mirrored horizontally
        3: (w - x, h - y),  # rotated 180°
        4: (x, h - y),  # mirrored vertically
        5: (y, x),  # transposed
        6: (h - y, x),  # rotated 90° clockwise to display
        7: (h - y, w - x),  # transversed
        8: (y, w - x),  # rotated 90° counter-clockwise to display
    }
    ox, oy = table.get(int(orientation), (x, y))
    return np.stack([ox, oy], axis=1)


@dataclass(frozen=True)
class GridTransform:
    """Photo pixels -> model grid: EXIF orientation, alignment affine, resize."""

    orientation: int
    stored_size: tuple[int, int]  # (w, h) of the pixel array in the file
    matrix: np.ndarray  # 2x3, upright photo -> crop, OpenCV pixel-centre convention
    crop_size: tuple[int, int]  # (w, h) of the aligned crop
    grid_size: tuple[int, int]  # (w, h) of the model input

    def _resize(self) -> np.ndarray:
        return np.array([self.grid_size[0] / self.crop_size[0], self.grid_size[1] / self.crop_size[1]])

    def apply(self, points: np.ndarray, frame: str = "stored") -> np.ndarray:
        """(N, 2) photo points (edge convention) -> (N, 2) model-grid points (edge convention)."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if frame == "stored":
            pts = orient_points(pts, self.orientation, self.stored_size)
        m = np.asarray(self.matrix, dtype=np.float64)
        crop = (pts - 0.5) @ m[:, :2].T + m[:, 2] + 0.5
        return crop * self._resize()

    def inverse(self, grid_points: np.ndarray) -> np.ndarray:
        """Model-grid points -> upright-photo points (for drawing the grid on the photo)."""
        pts = np.asarray(grid_points, dtype=np.float64).reshape(-1, 2) / self._resize() - 0.5
        m = np.asarray(self.matrix, dtype=np.float64)
        return (pts - m[:, 2]) @ np.linalg.inv(m[:, :2]).T + 0.5

    @property
    def scale(self) -> float:
        """Model-grid pixels per photo pixel (geometric mean of the axes): converts a σ."""
        m = np.asarray(self.matrix, dtype=np.float64)
        s = np.sqrt(abs(np.linalg.det(m[:, :2])))
        return float(s * np.sqrt(np.prod(self._resize())))


def grid_transform(path: str | Path | None, matrix: np.ndarray | None, crop_shape: tuple[int, int],
                   grid_shape: tuple[int, int],
                   upright_shape: tuple[int, int] | None = None) -> GridTransform:
    """The transform for one prepared image.

    ``crop_shape`` / ``grid_shape`` / ``upright_shape`` are (h, w) as numpy arrays have them;
    ``matrix`` None means the identity (no alignment). Without a ``path`` (an in-memory image)
    there is no EXIF orientation and the stored frame is the upright one.
    """
    if path is not None:
        orientation, stored = exif_orientation(path)
    else:
        h, w = upright_shape if upright_shape is not None else crop_shape
        orientation, stored = 1, (int(w), int(h))
    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]) if matrix is None else np.asarray(matrix, float)
    return GridTransform(orientation, stored, m, (int(crop_shape[1]), int(crop_shape[0])),
                         (int(grid_shape[1]), int(grid_shape[0])))


def inside_grid(points: np.ndarray, grid_shape: tuple[int, int]) -> np.ndarray:
    """Boolean per point: does (floor(y), floor(x)) lie on the (h, w) grid?"""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h, w = grid_shape
    return (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
