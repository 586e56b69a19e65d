"""Folder-level statistics: means with bootstrap confidence intervals, paired comparisons.

Faithfulness scores vary a lot from face to face, so a mean alone cannot say whether one method
beats another. Each method × metric gets a 95 % percentile-bootstrap interval over images
(seeded, 2000 resamples), and two methods are compared on the *same* images: the share of images
on which A is better (ties count half) and the Wilcoxon signed-rank p-value of the paired
differences (scipy's two-sided test, zero differences dropped as in Wilcoxon's original rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ...base.errors import ParameterError

# +1: higher is more faithful; -1: lower is. Perturbation is a (usually negative) probability
# change after removing what the map calls unimportant: closer to zero, i.e. higher, is better.
DIRECTION: dict[str, int] = {
    "deletion_auc": -1,
    "insertion_auc": +1,
    "road": +1,
    "perturbation": +1,
    "mprt": -1,
}
LABELS: dict[str, str] = {
    "deletion_auc": "Deletion AUC",
    "insertion_auc": "Insertion AUC",
    "road": "ROAD",
    "perturbation": "Pixel perturbation",
    "mprt": "MPRT ρ",
}


@dataclass
class Summary:
    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n}

    def text(self, digits: int = 3) -> str:
        if self.n == 0:
            return "–"
        if self.n == 1:
            return f"{self.mean:.{digits}f}"
        half = (self.high - self.low) / 2
        return f"{self.mean:.{digits}f} ± {half:.{digits}f}"


def bootstrap_ci(values: Sequence[float], level: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> Summary:
    """Mean and percentile-bootstrap interval of the finite ``values`` (NaNs are left out)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Summary(math.nan, math.nan, math.nan, 0)
    mean = float(v.mean())
    if v.size == 1:
        return Summary(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Summary(mean, float(low), float(high), int(v.size))


@dataclass
class Paired:
    win_rate: float  # share of images where A is better (ties count half)
    p_value: float  # Wilcoxon signed-rank, two-sided; NaN when undefined
    n: int


def paired_comparison(a: Sequence[float], b: Sequence[float], metric: str) -> Paired:
    """Compare method A with method B on the same images for one metric."""
    if metric not in DIRECTION:
        raise ParameterError(f"unknown metric {metric!r}")
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ParameterError("paired comparison needs the same images for both methods")
    keep = np.isfinite(x) & np.isfinite(y)
    d = (x[keep] - y[keep]) * DIRECTION[metric]
    if d.size == 0:
        return Paired(math.nan, math.nan, 0)
    win = float(((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size)
    p = math.nan
    if np.any(d != 0):
        from scipy.stats import wilcoxon

        p = float(wilcoxon(d, zero_method="wilcox").pvalue)
    return Paired(win, p, int(d.size))


def summarise(rows: Sequence[Mapping[str, object]], metrics: Sequence[str]
              ) -> dict[str, dict[str, Summary]]:
    """{method: {metric: Summary}} from per-image rows with ``method`` and metric keys."""
    by_method: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        per = by_method.setdefault(str(row["method"]), {m: [] for m in metrics})
        for m in metrics:
            value = row.get(m)
            if isinstance(value, (int, float)):
                per[m].append(float(value))
    return {meth: {m: bootstrap_ci(vals[m]) for m in metrics} for meth, vals in by_method.items()}


def ranking(summary: Mapping[str, Mapping[str, Summary]], metric: str) -> list[str]:
    """Methods ordered best first by their mean ``metric`` (methods without it last)."""
    sign = DIRECTION[metric]

    def key(method: str) -> tuple[int, float]:
        s = summary[method].get(metric)
        if s is None or s.n == 0:
            return (1, 0.0)
        return (0, -sign * s.mean)

    return sorted(summary, key=key)
