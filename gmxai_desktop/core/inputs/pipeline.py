"""Image file -> model input, the one path every command and the GUI share.

Keeping load, face alignment and preprocessing in one function means the CLI, the GUI, composites
and figure export always feed the model exactly the same tensor for the same file and settings;
an explanation drawn on a differently-prepared face would be misleading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..models.base import ModelAdapter


@dataclass
class PreparedImage:
    """Everything derived from one image file for one model."""

    path: Path | None
    original: np.ndarray  # uint8 RGB as loaded (EXIF-rotated)
    face: object  # gmxai_desktop.core.inputs.face.AlignedFace
    x: torch.Tensor  # (1, C, H, W) on the adapter's device
    display: np.ndarray  # uint8 RGB at model input size: what the model sees, for overlays

    @property
    def status(self) -> str:
        return self.face.status  # type: ignore[attr-defined]

    @property
    def message(self) -> str:
        return self.face.message  # type: ignore[attr-defined]


def prepare_array(adapter: ModelAdapter, rgb: np.ndarray, align: str = "auto", path: Path | None = None,
                  landmarks: np.ndarray | None = None) -> PreparedImage:
    """Align (per ``align``: auto, none, detect, aligned) and preprocess an RGB array."""
    from .face import prepare_face

    face = prepare_face(rgb, adapter.template, align=align, landmarks=landmarks)
    x = adapter.preprocess(face.image)
    return PreparedImage(path=path, original=rgb, face=face, x=x, display=adapter.display_image(x))


def prepare_file(adapter: ModelAdapter, path: str | Path, align: str = "auto",
                 landmarks: np.ndarray | None = None) -> PreparedImage:
    """Load, align and preprocess one file; raises ImageLoadError for unusable files."""
    from .imageio import load_image

    path = Path(path)
    return prepare_array(adapter, load_image(path), align=align, path=path, landmarks=landmarks)
