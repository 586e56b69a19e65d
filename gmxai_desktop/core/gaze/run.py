"""The whole study over a folder, shared by ``gmxai gaze`` and the app's folder table.

For each image that has fixations: prepare it exactly as every other command does
(:func:`~gmxai_desktop.core.inputs.pipeline.prepare_file`), compute the maps, map the fixations
through the image's own transform, and keep both. The metrics come last because the shuffled AUC
of one image needs the fixations of all the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import GmxaiError
from ..base.jobs import JobControl
from . import image_gaze
from .density import Sigma
from .fixations import FixationTable
from .study import ImageGaze, evaluate_image, other_fixation_map
from .transform import grid_transform


@dataclass
class GazeOptions:
    sigma: Sigma = field(default_factory=Sigma)
    sign: str = "positive"
    frame: str = "stored"
    top_percent: float = 10.0
    align: str = "auto"
    target: str = "predicted"


@dataclass
class StudyImage:
    path: Path
    gaze: ImageGaze
    maps: dict[str, np.ndarray]
    display: np.ndarray  # uint8 RGB at model input size


@dataclass
class StudyResult:
    images: list[StudyImage] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    rows: list[dict[str, object]] = field(default_factory=list)

    @property
    def n_fixations(self) -> int:
        return sum(len(i.gaze.points) for i in self.images)

    @property
    def n_outside(self) -> int:
        return sum(i.gaze.n_outside for i in self.images)


def prepare_image(adapter: Any, path: Path, key: str, table: FixationTable, methods: Sequence[str],
                  params: Mapping[str, Mapping[str, Any]], opts: GazeOptions,
                  job: JobControl | None = None) -> StudyImage:
    """Maps and on-grid fixations of one image (``table`` restricted to it)."""
    from ..attribution.engine import explain
    from ..inputs.pipeline import prepare_file

    prep = prepare_file(adapter, path, align=opts.align)
    maps: dict[str, np.ndarray] = {}
    if methods:
        results = explain(adapter, prep.x, list(methods), target=opts.target, params=dict(params), job=job)
        first = results[0].target if results else None
        maps = {r.method: r.map.astype(np.float32) for r in results if r.target == first}
    grid_hw = prep.display.shape[:2]
    tf = grid_transform(path, prep.face.matrix, prep.face.image.shape[:2], grid_hw)
    return StudyImage(path, image_gaze(key, table, tf, opts.sigma, opts.frame), maps, prep.display)


def score_images(images: Sequence[StudyImage], opts: GazeOptions) -> list[dict[str, object]]:
    """Metric rows for every image (sAUC negatives: the other images' fixations)."""
    gazes = [i.gaze for i in images]
    rows: list[dict[str, object]] = []
    for n, img in enumerate(images):
        rows += evaluate_image(img.gaze, img.maps, opts.sign, other_fixation_map(gazes, n), opts.top_percent)
    return rows


def run_study(adapter: Any, paths: Mapping[str, Path], table: FixationTable, methods: Sequence[str],
              params: Mapping[str, Mapping[str, Any]], opts: GazeOptions, job: JobControl | None = None,
              on_image: Callable[[StudyImage], None] | None = None) -> StudyResult:
    """Every image key in ``paths`` (fixation key -> file), then the metrics.

    A per-image user error (unreadable photo, ...) is recorded in ``failed`` and the run goes on.
    """
    from ..attribution.methods import get_method

    for m in methods:  # fail before the first image, not after the tenth
        get_method(m).resolve_params(params.get(m))
    out = StudyResult()
    keys = list(paths)
    for n, key in enumerate(keys):
        if job is not None:
            job.check()
            job.report(n / max(len(keys), 1), f"image {n + 1}/{len(keys)}")
        try:
            img = prepare_image(adapter, paths[key], key, table.for_image(key), methods, params, opts)
        except GmxaiError as exc:
            out.failed.append((paths[key], str(exc)))
            continue
        out.images.append(img)
        if on_image is not None:
            on_image(img)
    out.rows = score_images(out.images, opts)
    return out
