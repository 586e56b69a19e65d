"""Where annotation files live and how an image is identified (Qt-free; folder figure export uses
it on the worker thread). The rules are in :mod:`gmxai_desktop.gui.annotations_integration`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...core.annotations import (
    FILE_SUFFIX,
    Alignment,
    AnnotationDocument,
    AnnotationError,
    ImageRef,
    default_path_for,
    load_document,
)
from ...core.base.errors import ImageLoadError


@dataclass
class Located:
    """Where an image's annotations are saved, what was found there, and any problem to report."""

    path: Path
    document: AnnotationDocument | None
    problem: str | None = None


class AnnotationStore:
    """Maps an image to its annotation file: next to the image, or in one chosen folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder

    def base_path(self, image: Path) -> Path:
        if self.folder is None:
            return default_path_for(image)
        return self.folder / (image.stem + FILE_SUFFIX)

    def candidates(self, image: Path, ref: ImageRef) -> list[Path]:
        base = self.base_path(image)
        return [base, base.with_name(f"{image.stem}-{ref.sha256[:8]}{FILE_SUFFIX}")]

    def locate(self, image: Path, ref: ImageRef) -> Located:
        """The file for this image: the first candidate that is free or holds this image's regions."""
        problems = []
        free: Path | None = None
        for cand in self.candidates(image, ref):
            if not cand.exists():
                free = free or cand
                continue
            try:
                doc = load_document(cand)
            except AnnotationError as exc:
                problems.append(f"{cand.name} cannot be read ({exc}); it is left untouched")
                continue
            if doc.image.matches(ref):
                return Located(cand, doc, "; ".join(problems) or None)
            problems.append(f"{cand.name} belongs to a different image (the content differs)")
        path = free or self.candidates(image, ref)[-1]
        return Located(path, None, "; ".join(problems) or None)


def recovery_dir() -> Path:
    """Autosaves of annotations that could not be saved where they belong."""
    from ..settings import config_dir

    return config_dir() / "recovery"


def identify_image(path: Path) -> tuple[ImageRef, np.ndarray]:
    """Load the photo (EXIF-rotated) and hash it; runs on the compute worker."""
    from ...core.inputs.imageio import load_image

    rgb = load_image(path)
    try:
        return ImageRef.from_file(path, rgb), rgb
    except OSError as exc:  # the file went away or became unreadable after loading
        raise ImageLoadError(f"{path.name}: {exc.strerror or exc}") from exc


def alignment_of(entry: Any, template: str) -> Alignment:
    """The document's alignment from a prepared image (its crop and the crop's matrix)."""
    h, w = entry.face_shape
    matrix = entry.matrix if entry.matrix is not None else np.array([[1.0, 0, 0], [0, 1.0, 0]])
    return Alignment(tuple(map(tuple, np.asarray(matrix, dtype=np.float64))), (int(w), int(h)), template)
