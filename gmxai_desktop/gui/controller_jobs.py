"""What the controller runs on the worker (Qt-free): model requests, prepared images, and the
prepare and explain job functions. Kept apart from the controller so tests and features can use the
data types without its signals."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.base.jobs import JobControl
from ..core.models.base import ModelAdapter
from ..core.output.figure_spec import face_view_for
from .state import JobKey

PRIMARY = "primary"
COMPARE = "compare"
MAX_PREFETCH = 48


@dataclass
class PreparedEntry:
    """One image prepared for one model, kept small for the cache.

    The full-size photo is not kept: ``face_view`` is the (aligned) face resized to the model
    input's aspect at up to 4x its resolution, which is what panels draw under the maps. The
    alignment facts (status, landmarks, matrix from original pixels to the aligned crop and that
    crop's shape) stay for annotation tools.
    """

    x: Any  # torch.Tensor (1, C, H, W) on the model's device
    display: np.ndarray  # uint8 RGB at model input size: exactly what the model sees
    face_view: np.ndarray  # uint8 RGB, colour face on the map grid's aspect
    prediction: Any  # gmxai_desktop.core.attribution.engine.Prediction
    alignment: str
    alignment_message: str
    aligned: bool
    landmarks: np.ndarray | None
    matrix: np.ndarray | None
    face_shape: tuple[int, int]
    seconds: float = 0.0

    @property
    def grid_size(self) -> tuple[int, int]:
        return (int(self.display.shape[0]), int(self.display.shape[1]))


@dataclass(frozen=True)
class LoadKey:
    role: str
    spec: str
    token: int


@dataclass(frozen=True)
class ModelRequest:
    """How a model was asked for; kept for the recent list and for reloading."""

    spec: str
    arch: str | None = None
    classes: str | None = None
    device: str | None = None
    trust_pickle: bool = False

    def label(self) -> str:
        return self.spec if self.spec.startswith("demo") else Path(self.spec).name

    def load_options(self) -> dict[str, Any]:
        """Keyword arguments for ``core.models.load_model`` besides the spec."""
        return dict(arch=self.arch, classes=self.classes, device=self.device, trust_pickle=self.trust_pickle)


def prepare_entry(adapter: ModelAdapter, path: Path, align: str, job: JobControl) -> PreparedEntry:
    from ..core.attribution.engine import predict
    from ..core.inputs.pipeline import prepare_file

    t0 = time.perf_counter()
    job.check()
    prep = prepare_file(adapter, path, align=align)
    job.check()
    prediction = predict(adapter, prep.x, top=5)
    face = prep.face
    display = np.ascontiguousarray(prep.display)
    return PreparedEntry(
        x=prep.x,
        display=display,
        face_view=face_view_for(face.image, display.shape[:2]),
        prediction=prediction,
        alignment=face.status,
        alignment_message=face.message,
        aligned=bool(face.aligned),
        landmarks=face.landmarks,
        matrix=face.matrix,
        face_shape=(int(face.image.shape[0]), int(face.image.shape[1])),
        seconds=time.perf_counter() - t0,
    )


def explain_job(
    adapter: ModelAdapter, entry: PreparedEntry, key: JobKey, shared: dict, job: JobControl
) -> list:
    from ..core.attribution.engine import explain

    params = {key.method: dict(key.params)}
    return explain(adapter, entry.x, [key.method], target=key.target, params=params, job=job, shared=shared)
