"""Saliency metrics: how well a map predicts where people looked.

The definitions are those of the MIT/Tübingen saliency benchmark (Bylinskii et al., "What do
different evaluation metrics tell us about saliency models?", TPAMI 2018; the benchmark's MATLAB
code), written out in ``docs/gaze_metrics.md``. Each function takes raw (H, W) arrays and returns a
plain float, and each is tested against a hand-computed case (``tests/test_gaze_metrics.py``).

Inputs:

* ``saliency``: the map being judged (an attribution map after :func:`map_part`, or a baseline).
* ``fixations``: the **binary** fixation map, True where at least one fixation fell
  (:func:`fixation_map`: a fixation at (x, y) marks pixel (floor(y), floor(x)); each pixel counts
  once however often it was fixated).
* ``density``: the continuous fixation density (:mod:`gmxai_desktop.core.gaze.density`).

A map that carries no information (constant, or with no mass where a distribution is needed)
gives NaN rather than a number that would look like a result: a method whose positive part is
empty for an image did not predict anything there.
"""

from __future__ import annotations

import math

import numpy as np

from ..base.errors import ParameterError
from ..output.render import check_map

EPS = 2.2204e-16
"""The benchmark's ε (MATLAB ``eps``, written as the issue and the MIT code state it)."""

SIGNS = ("positive", "abs")


def map_part(m: np.ndarray, sign: str = "positive") -> np.ndarray:
    """The part of a signed attribution map that is compared with gaze: max(m, 0) or |m|.

    Saliency metrics read a map as "where the evidence is"; a negative attribution says a pixel
    argues *against* the class, which is not a reason to look there.
    """
    if sign not in SIGNS:
        raise ParameterError(f"unknown sign {sign!r}; choose one of: {', '.join(SIGNS)}")
    arr = _map(m)
    return np.maximum(arr, 0.0) if sign == "positive" else np.abs(arr)


def fixation_map(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Binary (H, W) map: pixel (floor(y), floor(x)) is True for each (x, y) inside the grid.

    Points outside [0, W) x [0, H) are left out here; callers count them (see
    :func:`gmxai_desktop.core.gaze.transform.inside_grid`).
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), dtype=bool)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if pts.size == 0:
        return out
    ix, iy = np.floor(pts[:, 0]), np.floor(pts[:, 1])
    ok = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    out[iy[ok].astype(int), ix[ok].astype(int)] = True
    return out


def _map(m: np.ndarray, name: str = "map") -> np.ndarray:
    """A finite 2-D float64 map (the renderer's check: what is never drawn is never scored)."""
    arr = check_map(m)
    if arr.size == 0:
        raise ParameterError(f"the {name} is empty")
    return arr


def _fix(f: np.ndarray, shape: tuple[int, ...], name: str = "fixation map") -> np.ndarray:
    arr = np.asarray(f)
    if arr.shape != shape:
        raise ParameterError(f"{name} shape {arr.shape} does not match the map shape {shape}")
    arr = arr.astype(bool)
    if not arr.any():
        raise ParameterError(f"the {name} has no fixations inside the grid")
    return arr


def _same_shape(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = _map(a), _map(b, "density")
    if x.shape != y.shape:
        raise ParameterError(f"the two maps differ in shape: {x.shape} and {y.shape}")
    return x, y


def _minmax(v: np.ndarray) -> np.ndarray | None:
    lo, hi = float(v.min()), float(v.max())
    return None if hi <= lo else (v - lo) / (hi - lo)


def nss(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """Normalised scanpath saliency: mean of the z-scored map (population std) at fixated pixels."""
    s = _map(saliency)
    f = _fix(fixations, s.shape)
    sd = float(s.std())  # ddof=0: the population standard deviation
    if sd == 0.0:
        return math.nan
    return float(((s[f] - s.mean()) / sd).mean())


def auc_judd(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """AUC-Judd without jitter: thresholds are the min-max-normalised map's values at the fixated
    pixels, descending; tp = i/Nfix, fp = (count(map >= t) - i)/(Npix - Nfix); trapezoidal area
    of the curve from (0, 0) to (1, 1)."""
    s = _map(saliency)
    f = _fix(fixations, s.shape)
    n_fix, n_pix = int(f.sum()), s.size
    if n_fix == n_pix:
        raise ParameterError("every pixel is fixated; AUC is undefined")
    norm = _minmax(s)
    if norm is None:
        return math.nan
    values = norm.ravel()
    thresholds = np.sort(values[f.ravel()])[::-1]
    sorted_all = np.sort(values)
    at_least = n_pix - np.searchsorted(sorted_all, thresholds, side="left")  # count(map >= t)
    i = np.arange(1, n_fix + 1)
    tp = np.r_[0.0, i / n_fix, 1.0]
    fp = np.r_[0.0, (at_least - i) / (n_pix - n_fix), 1.0]
    return float(np.sum((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1]) / 2.0))


def auc_shuffled(saliency: np.ndarray, fixations: np.ndarray, other_fixations: np.ndarray) -> float:
    """Shuffled AUC: positives are the map at this image's fixated pixels, negatives the map at the
    pixels fixated on the *other* images of the folder (the same grid, so a centre bias shared by
    all images earns nothing).

    Computed exactly over every threshold (the Mann-Whitney statistic, ties counting one half),
    where the MIT code averages 100 random draws of Nfix negatives on a 0.1 threshold grid; both
    estimate the same probability P(map at a fixation > map at another image's fixation).
    """
    s = _map(saliency)
    f = _fix(fixations, s.shape)
    other = _fix(other_fixations, s.shape, "other images' fixation map")
    pos, neg = s[f], s[other]
    if float(s.max()) <= float(s.min()):
        return math.nan
    neg_sorted = np.sort(neg)
    below = np.searchsorted(neg_sorted, pos, side="left")
    ties = np.searchsorted(neg_sorted, pos, side="right") - below
    return float((below + 0.5 * ties).sum() / (pos.size * neg.size))


def cc(saliency: np.ndarray, density: np.ndarray) -> float:
    """Pearson correlation of the map and the fixation density; NaN if either is constant."""
    x, y = _same_shape(saliency, density)
    xc, yc = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((xc * xc).sum()) * float((yc * yc).sum()))
    if denom == 0.0:
        return math.nan
    return float(np.clip((xc * yc).sum() / denom, -1.0, 1.0))


def sim(saliency: np.ndarray, density: np.ndarray) -> float:
    """Similarity: min-max normalise each map, divide each by its sum, sum the element-wise minimum."""
    x, y = _same_shape(saliency, density)
    nx, ny = _minmax(x), _minmax(y)
    if nx is None or ny is None:
        return math.nan
    return float(np.minimum(nx / nx.sum(), ny / ny.sum()).sum())


def kld(saliency: np.ndarray, density: np.ndarray) -> float:
    """KL divergence Σ P·log(ε + P/(Q + ε)), P = density/sum, Q = map/sum (lower is better)."""
    q, p = _same_shape(saliency, density)
    if float(q.min()) < 0 or float(p.min()) < 0:
        raise ParameterError("KLD needs non-negative maps; compare the positive or absolute part")
    if float(p.sum()) <= 0:
        raise ParameterError("the fixation density is empty")
    if float(q.sum()) <= 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(EPS + p / (q + EPS))))


def information_gain(saliency: np.ndarray, baseline: np.ndarray, fixations: np.ndarray) -> float:
    """Information gain in bits per fixation over ``baseline`` (the MIT ``InfoGain.m``): both maps
    min-max normalised and divided by their sums, then the mean of
    log2(ε + map) − log2(ε + baseline) over the fixated pixels."""
    s, b = _same_shape(saliency, baseline)
    f = _fix(fixations, s.shape)
    ns, nb = _minmax(s), _minmax(b)
    if ns is None or nb is None:
        return math.nan
    ns, nb = ns / ns.sum(), nb / nb.sum()
    return float(np.mean(np.log2(EPS + ns[f]) - np.log2(EPS + nb[f])))


def top_fraction_mask(m: np.ndarray, percent: float) -> np.ndarray:
    """The top ``percent`` % pixels of ``m``: k = ceil(percent/100 · Npix), at least 1; ties at the
    threshold are broken by raster position (first pixel first), so |mask| is exactly k."""
    arr = _map(m)
    if not (0 < percent <= 100):
        raise ParameterError(f"the top-region percentage must be in (0, 100], got {percent}")
    k = max(1, math.ceil(percent / 100.0 * arr.size - 1e-9))
    order = np.argsort(-arr.ravel(), kind="stable")
    out = np.zeros(arr.size, dtype=bool)
    out[order[:k]] = True
    return out.reshape(arr.shape)


def iou_top(saliency: np.ndarray, density: np.ndarray, percent: float = 10.0) -> float:
    """Intersection over union of the top ``percent`` % of the map and of the fixation density."""
    x, y = _same_shape(saliency, density)
    if float(x.max()) <= float(x.min()):
        return math.nan
    a, b = top_fraction_mask(x, percent), top_fraction_mask(y, percent)
    return float((a & b).sum() / (a | b).sum())


METRIC_NAMES = ("NSS", "AUC_Judd", "sAUC", "CC", "SIM", "KLD", "IG", "IoU")
HIGHER_IS_BETTER = {name: name != "KLD" for name in METRIC_NAMES}


def all_metrics(saliency: np.ndarray, fixations: np.ndarray, density: np.ndarray,
                other_fixations: np.ndarray | None, baseline: np.ndarray,
                top_percent: float = 10.0) -> dict[str, float]:
    """Every metric of one map against one set of fixations (``METRIC_NAMES`` order).

    ``other_fixations`` None (no other image has fixations) gives sAUC = NaN.
    """
    sauc = math.nan
    if other_fixations is not None and np.asarray(other_fixations).any():
        sauc = auc_shuffled(saliency, fixations, other_fixations)
    return {
        "NSS": nss(saliency, fixations),
        "AUC_Judd": auc_judd(saliency, fixations),
        "sAUC": sauc,
        "CC": cc(saliency, density),
        "SIM": sim(saliency, density),
        "KLD": kld(saliency, density),
        "IG": information_gain(saliency, baseline, fixations),
        "IoU": iou_top(saliency, density, top_percent),
    }
