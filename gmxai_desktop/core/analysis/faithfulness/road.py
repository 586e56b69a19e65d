"""ROAD: RemOve And Debias (Rong et al. 2022), and the thesis's pixel perturbation.

ROAD removes the most (MoRF) or least (LeRF) relevant 10, 20, …, 90 % of the pixels and fills
them by *noisy linear imputation*: each removed pixel becomes the weighted mean of its eight
neighbours (weight 1/6 for the four direct ones, 1/12 for the diagonals; neighbours outside the
image drop out), solved jointly as one sparse linear system, plus Gaussian noise of 0.01 from a
seeded generator. Unlike filling with black, the imputed image carries no outline of the removed
region, so the model cannot "read" the mask itself. The combined score is pytorch-grad-cam's
``ROADCombined``: (mean LeRF score − mean MoRF score) / 2, higher meaning a more faithful map.

Removal uses the same pixel order as deletion (:func:`~.scoring.pixel_order`), so the two metrics
remove the very same pixels at the same fraction; the scores are target probabilities.

Pixel perturbation (the thesis): set the *least* salient k % to black, k = 10…90, and report the
change of the target's probability against the unperturbed image. A faithful map points at
everything the model uses, so removing the rest should change little (values near 0 are better).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from ...base.jobs import JobControl
from .scoring import Scorer, pixel_order

PERCENTS = (10, 20, 30, 40, 50, 60, 70, 80, 90)
NOISE = 0.01
# (row offset, column offset, weight)
NEIGHBOURS = (
    (1, 1, 1 / 12), (0, 1, 1 / 6), (-1, 1, 1 / 12), (1, -1, 1 / 12),
    (0, -1, 1 / 6), (-1, -1, 1 / 12), (1, 0, 1 / 6), (-1, 0, 1 / 6),
)


def impute(image: np.ndarray, removed: np.ndarray, noise: float = NOISE,
           rng: np.random.Generator | None = None) -> np.ndarray:
    """Noisy linear imputation of the ``removed`` (H, W) pixels of a (C, H, W) float image.

    For every removed pixel i: Σ_valid w_j · (x_j − x_i) = 0 over its in-image neighbours j, with
    known neighbours as constants. Noise is ``noise · N(0, 1)`` per removed value.
    """
    img = np.asarray(image, dtype=np.float64)
    c, h, w = img.shape
    miss = np.asarray(removed, dtype=bool).ravel()
    idx = np.flatnonzero(miss)
    out = img.reshape(c, -1).copy()
    if idx.size == 0:
        return out.reshape(c, h, w).astype(np.float32)
    var_of = np.full(h * w, -1, dtype=np.int64)
    var_of[idx] = np.arange(idx.size)
    rows, cols = idx // w, idx % w
    diag = np.zeros(idx.size)
    rhs = np.zeros((idx.size, c))
    a_rows, a_cols, a_vals = [], [], []
    for dr, dc, weight in NEIGHBOURS:
        r2, c2 = rows + dr, cols + dc
        valid = (r2 >= 0) & (r2 < h) & (c2 >= 0) & (c2 < w)
        eq = np.flatnonzero(valid)
        flat = r2[valid] * w + c2[valid]
        diag[eq] -= weight
        known = ~miss[flat]
        rhs[eq[known]] -= weight * out[:, flat[known]].T
        a_rows.append(eq[~known])
        a_cols.append(var_of[flat[~known]])
        a_vals.append(np.full(int((~known).sum()), weight))
    a_rows.append(np.arange(idx.size))
    a_cols.append(np.arange(idx.size))
    a_vals.append(diag)
    system = coo_matrix(
        (np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))),
        shape=(idx.size, idx.size),
    ).tocsc()
    solution = np.asarray(spsolve(system, rhs)).reshape(idx.size, c)
    if noise:
        rng = rng or np.random.default_rng(0)
        solution = solution + noise * rng.standard_normal(solution.shape)
    out[:, idx] = solution.T
    return out.reshape(c, h, w).astype(np.float32)


@dataclass
class RoadResult:
    percents: np.ndarray
    morf: np.ndarray  # target probability after removing the most relevant p %
    lerf: np.ndarray  # ... the least relevant p %

    @property
    def combined(self) -> float:
        """pytorch-grad-cam's ROADCombined: (mean LeRF − mean MoRF) / 2."""
        return float((self.lerf.mean() - self.morf.mean()) / 2.0)


def _count(percent: float, n_pixels: int) -> int:
    return round(percent / 100.0 * n_pixels)


def road_images(image: torch.Tensor, saliency: np.ndarray, percents: tuple[int, ...] = PERCENTS,
                noise: float = NOISE, seed: int = 0, job: JobControl | None = None
                ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The imputed MoRF and LeRF images (lists over ``percents``), seeded per run."""
    order = pixel_order(saliency)
    shape = tuple(image.shape[-2:])
    n_pixels = order.size
    rng = np.random.default_rng(seed)
    base = image.numpy()
    morf, lerf = [], []
    for i, p in enumerate(percents):
        k = _count(p, n_pixels)
        for sel, dest in ((order[:k], morf), (order[n_pixels - k:], lerf)):
            removed = np.zeros(n_pixels, dtype=bool)
            removed[sel] = True
            dest.append(torch.from_numpy(impute(base, removed.reshape(shape), noise, rng)))
        if job is not None:
            job.report((i + 1) / len(percents), "ROAD imputation")
    return morf, lerf


def road(scorer: Scorer, saliency: np.ndarray, percents: tuple[int, ...] = PERCENTS,
         noise: float = NOISE, seed: int = 0, job: JobControl | None = None) -> RoadResult:
    """ROAD MoRF and LeRF curves and their combined score for one map."""
    job = job or JobControl()
    morf, lerf = road_images(scorer.image, saliency, percents, noise, seed, job.sub(0.0, 0.6))
    stack = torch.stack(morf + lerf)
    scores = scorer.score(len(stack), lambda items: stack[list(items)], job.sub(0.6, 1.0), "ROAD")
    m = len(percents)
    return RoadResult(percents=np.asarray(percents, dtype=np.float64), morf=scores[:m], lerf=scores[m:])


@dataclass
class PerturbationResult:
    percents: np.ndarray
    deltas: np.ndarray  # p(least salient k % black) − p(original)

    @property
    def mean_delta(self) -> float:
        return float(self.deltas.mean())


def perturbation_images(image: torch.Tensor, saliency: np.ndarray,
                        percents: tuple[int, ...] = PERCENTS) -> torch.Tensor:
    """(len(percents), C, H, W): the least salient k % of pixels set to black."""
    order = pixel_order(saliency)
    n_pixels = order.size
    flat = image.reshape(image.shape[0], -1)
    out = []
    for p in percents:
        k = _count(p, n_pixels)
        img = flat.clone()
        img[:, order[n_pixels - k:]] = 0.0
        out.append(img.reshape(image.shape))
    return torch.stack(out)


def pixel_perturbation(scorer: Scorer, saliency: np.ndarray, percents: tuple[int, ...] = PERCENTS,
                       job: JobControl | None = None) -> PerturbationResult:
    """The thesis's pixel perturbation for one map."""
    images = perturbation_images(scorer.image, saliency, percents)
    scores = scorer.score(len(images), lambda items: images[list(items)], job, "pixel perturbation")
    percents_arr = np.asarray(percents, dtype=np.float64)
    return PerturbationResult(percents=percents_arr, deltas=scores - scorer.original())
