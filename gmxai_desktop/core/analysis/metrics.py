"""Metrics for attribution maps: localisation against ground truth and agreement between methods.
(The eye-tracking saliency metrics live in :mod:`gmxai_desktop.core.gaze.metrics`.)

All functions take raw (H, W) maps (any real values; signed attribution maps included) and
return plain Python numbers. They are deliberately small and closed-form so that each is tested
against a hand-computed case or an independent reference (``tests/test_metrics.py``).

Localisation, consistent with :mod:`gmxai_desktop.core.analysis.region_metrics` (the per-annotation
table in the GUI):

* :func:`pointing_game` (Zhang et al., 2016): a hit when the map's maximum lies in the mask.
  When several pixels share the maximum, **all** of them must lie inside, so a flat map cannot
  score. A map with no positive value points at no evidence and scores a miss.
* :func:`relevance_mass` (relevance mass accuracy, Arras et al., 2022): the share of the positive
  (or absolute) attribution that falls inside the mask; NaN when the map has no such mass. A
  uniform map scores the mask's area fraction, the chance level.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from ..base.errors import ParameterError


def _map(m: np.ndarray, name: str = "map") -> np.ndarray:
    arr = np.asarray(m, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ParameterError(f"{name} must be a non-empty 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} contains NaN or infinite values")
    return arr


def _mask(mask: np.ndarray, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.shape != shape:
        raise ParameterError(f"{name} shape {arr.shape} does not match the map shape {shape}")
    return arr.astype(bool) if arr.dtype != bool else arr


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ParameterError(f"the two maps differ in shape: {x.shape} and {y.shape}")
    if x.size == 0:
        raise ParameterError("the maps are empty")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ParameterError("a map contains NaN or infinite values")
    return x.ravel(), y.ravel()


# ----------------------------------------------------------------------------------------------
# Localisation


def pointing_game(m: np.ndarray, mask: np.ndarray) -> bool:
    """True when every pixel holding the map's (positive) maximum lies inside ``mask``."""
    arr = _map(m)
    inside = _mask(mask, arr.shape)
    peak = float(arr.max())
    if peak <= 0.0 or not inside.any():
        return False
    return bool(inside[arr == peak].all())


def relevance_mass(m: np.ndarray, mask: np.ndarray, mode: str = "positive") -> float:
    """Share of the positive (``mode="positive"``) or absolute attribution inside ``mask``.

    NaN when the map has no such mass (e.g. an all-negative map in positive mode): 0/0 is not
    "nothing inside", and averaging it as 0 would penalise a method for the model's decision.
    """
    if mode not in ("positive", "absolute"):
        raise ParameterError(f"relevance mass mode must be 'positive' or 'absolute', got {mode!r}")
    arr = _map(m)
    inside = _mask(mask, arr.shape)
    mass = np.maximum(arr, 0.0) if mode == "positive" else np.abs(arr)
    total = float(mass.sum())
    if total <= 0.0:
        return math.nan
    return float(mass[inside].sum()) / total


# ----------------------------------------------------------------------------------------------
# Agreement between two maps


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties given their average rank (``scipy.stats.rankdata``)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    # Start index of each run of equal values, and its length.
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    lengths = np.diff(np.r_[starts, v.size])
    avg = starts + (lengths + 1) / 2.0  # average of ranks starts+1 .. starts+length
    ranks = np.empty(v.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, lengths)
    return ranks


def spearman_rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ over all pixels (Pearson correlation of average-tie ranks).

    NaN when either map is constant (its ranks carry no order), as ``scipy.stats.spearmanr``.
    """
    x, y = _pair(a, b)
    return _pearson(rankdata(x), rankdata(y))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((xc * xc).sum()) * float((yc * yc).sum()))
    if denom == 0.0:
        return math.nan
    return float(np.clip((xc * yc).sum() / denom, -1.0, 1.0))


def top_k_indices(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values; ties broken by position (stable, deterministic)."""
    order = np.argsort(-np.asarray(values, dtype=np.float64).ravel(), kind="stable")
    return order[:k]


def topk_overlap(
    a: np.ndarray, b: np.ndarray, fraction: float = 0.1, by: Literal["value", "abs"] = "value"
) -> float:
    """|A ∩ B| / k for the top ``fraction`` of pixels A of ``a`` and B of ``b`` (|A| = |B| = k).

    The one top-k overlap of the project; its unit is a **fraction** in (0, 1] for both the
    argument and the result (callers showing percent convert at the display). k = ceil(fraction ·
    n), at least 1; pixels rank by value (the strongest positive evidence) or by absolute value
    with ``by="abs"``, ties broken by pixel order. With equal-sized sets this share equals both
    precision and recall of one set against the other; two unrelated maps score about
    ``fraction`` on average.
    """
    x, y = _pair(a, b)
    if not (0 < fraction <= 1):
        raise ParameterError(f"the top-k fraction must be in (0, 1], got {fraction}")
    if by not in ("value", "abs"):
        raise ParameterError(f"rank pixels by 'value' or 'abs' (got {by!r})")
    if by == "abs":
        x, y = np.abs(x), np.abs(y)
    k = max(1, math.ceil(fraction * x.size - 1e-9))
    common = np.intersect1d(top_k_indices(x, k), top_k_indices(y, k), assume_unique=True)
    return common.size / k
