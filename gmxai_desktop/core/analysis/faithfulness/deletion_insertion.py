"""Deletion and insertion curves (RISE, Petsiuk et al. 2018), with the exact definitions of issue 12.

* ``step = ceil(H·W / steps)`` pixels per step (``steps`` = 100 unless overridden) and
  ``n = ceil(H·W / step)`` steps; point k = 0…n sits at fraction ``min(k·step, H·W) / (H·W)``.
* Deletion sets the first pixels of :func:`~.scoring.pixel_order` to black (0).
* Insertion starts from ``cv2.GaussianBlur(image, (11, 11), 5, borderType=BORDER_REFLECT_101)``
  and puts the original's pixels back in the same order.
* AUC = ``numpy.trapezoid(scores, fractions)``.

Why share so much: the end points (original, black, blurred) do not depend on the map, so the
:class:`~.scoring.Scorer` scores them once per image, and each further map costs 2·(n − 1)
forwards instead of 2·(n + 1). Perturbed batches are built from a rank image with one comparison,
never by copying the image per step in Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ...base.errors import ParameterError
from ...base.jobs import JobControl
from .scoring import Scorer, pixel_order, pixel_ranks

DEFAULT_STEPS = 100


@dataclass
class Curve:
    """Scores (softmax probability of the target) at fractions of pixels perturbed."""

    fractions: np.ndarray
    scores: np.ndarray

    @property
    def auc(self) -> float:
        return float(np.trapezoid(self.scores, self.fractions))


def step_plan(n_pixels: int, steps: int = DEFAULT_STEPS) -> tuple[int, int, np.ndarray]:
    """(pixels per step, number of steps n, counts perturbed at k = 0…n)."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ParameterError(f"the deletion/insertion step count must be a positive integer, not {steps!r}")
    step = math.ceil(n_pixels / steps)
    n = math.ceil(n_pixels / step)
    counts = np.minimum(np.arange(n + 1) * step, n_pixels)
    return step, n, counts


def blurred(image: torch.Tensor) -> torch.Tensor:
    """The insertion start image: the issue's Gaussian blur of a (C, H, W) [0, 1] image."""
    arr = image.permute(1, 2, 0).numpy().astype(np.float32)
    out = cv2.GaussianBlur(arr, (11, 11), 5, borderType=cv2.BORDER_REFLECT_101)
    if out.ndim == 2:
        out = out[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1).contiguous()


def _masked(base: torch.Tensor, fill: torch.Tensor, ranks: torch.Tensor, counts: np.ndarray,
            items: Sequence[int]) -> torch.Tensor:
    """Images where pixels of rank < counts[i] come from ``fill`` and the rest from ``base``."""
    thr = torch.as_tensor(counts[list(items)], dtype=torch.int64).view(-1, 1, 1, 1)
    mask = ranks[None, None] < thr  # (B, 1, H, W)
    return torch.where(mask, fill[None], base[None])


def deletion_insertion(scorer: Scorer, saliency: np.ndarray, steps: int = DEFAULT_STEPS,
                       which: Sequence[str] = ("deletion", "insertion"),
                       job: JobControl | None = None) -> dict[str, Curve]:
    """Deletion and/or insertion curves of one map on the scorer's image."""
    image = scorer.image
    shape = tuple(image.shape[-2:])
    if np.shape(saliency) != shape:
        raise ParameterError(f"the map has shape {np.shape(saliency)}, the model input is {shape}")
    n_pixels = shape[0] * shape[1]
    _step, n, counts = step_plan(n_pixels, steps)
    ranks = torch.from_numpy(pixel_ranks(pixel_order(saliency), shape))
    fractions = counts / n_pixels
    job = job or JobControl()
    out: dict[str, Curve] = {}
    which = list(which)
    for i, kind in enumerate(which):
        sub = job.sub(i / len(which), (i + 1) / len(which))
        scores = np.empty(n + 1, dtype=np.float64)
        if kind == "deletion":
            black = torch.zeros_like(image)
            scores[0], scores[n] = scorer.original(), scorer.black()
            base, fill = image, black
        elif kind == "insertion":
            start = blurred(image)
            scores[0] = scorer.fixed_score("blurred", lambda s=start: s)
            scores[n] = scorer.original()
            base, fill = start, image
        else:
            raise ParameterError(f"unknown curve {kind!r}; use deletion or insertion")
        if n > 1:
            inner = counts[1:n]
            scores[1:n] = scorer.score(
                n - 1, lambda items, b=base, f=fill, c=inner: _masked(b, f, ranks, c, items), sub, kind
            )
        out[kind] = Curve(fractions=fractions.copy(), scores=scores)
    return out
