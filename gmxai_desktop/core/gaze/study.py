"""The study: every metric per image × method × observer, with a ceiling and a floor.

Rows (``metrics.csv``, columns :data:`CSV_COLUMNS`):

* one row per method and observer: the map predicts that observer's fixations (binary map) and
  density; one row with observer ``all``: the map predicts everybody's fixations pooled;
* :data:`CEILING` (``human_ceiling``, human consistency): each observer predicted by the density of
  the *other* observers of the same image (leave-one-out, same σ); its ``all`` row is the mean over observers.
  No map can be expected to predict a person better than other people do.
* :data:`FLOOR` (``centre_bias_floor``): the :func:`~gmxai_desktop.core.gaze.density.centre_bias` map. A
  method below it tells us nothing about gaze that "look at the middle" does not.

Per-observer rows of methods and of the ceiling are directly comparable (one map predicting one
person); the summary therefore averages per-observer rows. The pooled ``all`` rows are what
studies such as Duong et al. (2024) report (one heat map of a group against a model's map).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .density import centre_bias, fixation_density
from .metrics import METRIC_NAMES, all_metrics, fixation_map, map_part
from .transform import inside_grid

CEILING = "human_ceiling"
FLOOR = "centre_bias_floor"
ALL = "all"
CSV_COLUMNS = ("image", "method", "observer", *METRIC_NAMES)


@dataclass
class ImageGaze:
    """One image's fixations on the model grid (every point kept; see ``inside``)."""

    image: str
    observer: list[str]
    points: np.ndarray  # (N, 2) model-grid coordinates, edge convention
    duration_ms: np.ndarray
    grid_shape: tuple[int, int]  # (h, w)
    sigma_px: float

    @property
    def inside(self) -> np.ndarray:
        return inside_grid(self.points, self.grid_shape)

    @property
    def n_outside(self) -> int:
        return int((~self.inside).sum())

    def observers(self) -> list[str]:
        """Observers with at least one fixation on the grid, sorted."""
        ins = self.inside
        return sorted({o for o, ok in zip(self.observer, ins, strict=True) if ok})

    def points_of(self, observer: str | None = None, exclude: str | None = None) -> np.ndarray:
        sel = self.inside.copy()
        if observer is not None:
            sel &= np.array([o == observer for o in self.observer])
        if exclude is not None:
            sel &= np.array([o != exclude for o in self.observer])
        return self.points[sel]

    def density(self, observer: str | None = None, exclude: str | None = None) -> np.ndarray:
        return fixation_density(self.points_of(observer, exclude), self.grid_shape, self.sigma_px)

    def fixations(self, observer: str | None = None) -> np.ndarray:
        return fixation_map(self.points_of(observer), self.grid_shape)


def evaluate_image(gaze: ImageGaze, maps: Mapping[str, np.ndarray], sign: str = "positive",
                   other_fixations: np.ndarray | None = None, top_percent: float = 10.0,
                   references: bool = True) -> list[dict[str, object]]:
    """Metric rows for one image: every method, then (``references``) the ceiling and the floor."""
    observers = gaze.observers()
    if not observers:
        return []
    baseline = centre_bias(gaze.grid_shape)
    targets = [(o, gaze.fixations(o), gaze.density(o)) for o in observers]
    pooled = (ALL, gaze.fixations(), gaze.density())

    def row(method: str, observer: str, values: Mapping[str, float]) -> dict[str, object]:
        return {"image": gaze.image, "method": method, "observer": observer, **values}

    def score(saliency: np.ndarray, fix: np.ndarray, dens: np.ndarray) -> dict[str, float]:
        return all_metrics(saliency, fix, dens, other_fixations, baseline, top_percent)

    rows = []
    for method, raw in maps.items():
        sal = map_part(raw, sign)
        for observer, fix, dens in [*targets, pooled]:
            rows.append(row(method, observer, score(sal, fix, dens)))
    if not references:
        return rows
    loo = []
    for observer, fix, dens in targets:
        others = gaze.points_of(exclude=observer)
        if len(others) == 0:
            values = dict.fromkeys(METRIC_NAMES, math.nan)
        else:
            values = score(gaze.density(exclude=observer), fix, dens)
        loo.append(values)
        rows.append(row(CEILING, observer, values))
    rows.append(row(CEILING, ALL, {k: _nanmean([v[k] for v in loo]) for k in METRIC_NAMES}))
    for observer, fix, dens in [*targets, pooled]:
        rows.append(row(FLOOR, observer, score(baseline, fix, dens)))
    return rows


def other_fixation_map(images: Sequence[ImageGaze], index: int) -> np.ndarray | None:
    """Binary map of every on-grid fixation of the *other* images (sAUC negatives)."""
    me = images[index]
    out = np.zeros(me.grid_shape, dtype=bool)
    for j, g in enumerate(images):
        if j != index and g.grid_shape == me.grid_shape:
            out |= g.fixations()
    return out if out.any() else None


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def format_metrics_csv(rows: Sequence[Mapping[str, object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([r["image"], r["method"], r["observer"],
                    *[_fmt(r[k]) for k in METRIC_NAMES]])  # type: ignore[arg-type]
    return buf.getvalue()


def _fmt(v: object) -> str:
    f = float(v)  # type: ignore[arg-type]
    return "nan" if not math.isfinite(f) else f"{f:.6g}"


@dataclass
class Summary:
    """Mean and 95 % confidence interval per method and metric, over images."""

    methods: list[str]
    mean: dict[str, dict[str, float]]
    low: dict[str, dict[str, float]]
    high: dict[str, dict[str, float]]
    n_images: dict[str, int]


def summarise(rows: Sequence[Mapping[str, object]], observer_rows: bool = True) -> Summary:
    """Per method and metric: the mean over images of the image-level value, with a t-interval.

    ``observer_rows``: the image-level value is the mean of the per-observer rows (the default,
    comparable with the leave-one-out ceiling); otherwise the pooled ``all`` row.
    """
    from scipy import stats

    per: dict[str, dict[str, dict[str, list[float]]]] = {}
    for r in rows:
        if (r["observer"] == ALL) == observer_rows:
            continue
        m, img = str(r["method"]), str(r["image"])
        for k in METRIC_NAMES:
            per.setdefault(m, {}).setdefault(k, {}).setdefault(img, []).append(float(r[k]))  # type: ignore[arg-type]
    methods = list(per)
    mean: dict[str, dict[str, float]] = {}
    low: dict[str, dict[str, float]] = {}
    high: dict[str, dict[str, float]] = {}
    n_images: dict[str, int] = {}
    for m in methods:
        mean[m], low[m], high[m] = {}, {}, {}
        for k in METRIC_NAMES:
            vals = np.array([_nanmean(v) for v in per[m][k].values()])
            vals = vals[np.isfinite(vals)]
            n_images[m] = max(n_images.get(m, 0), int(vals.size))
            if vals.size == 0:
                mean[m][k] = low[m][k] = high[m][k] = math.nan
                continue
            mu = float(vals.mean())
            half = float(stats.t.ppf(0.975, vals.size - 1) * vals.std(ddof=1) / math.sqrt(vals.size)) \
                if vals.size > 1 else 0.0
            mean[m][k], low[m][k], high[m][k] = mu, mu - half, mu + half
    return Summary(methods, mean, low, high, n_images)


def markdown_table(summary: Summary, metrics: Sequence[str] = METRIC_NAMES) -> str:
    """The summary as a Markdown table (README, ``--json`` consumers), mean [95 % CI]."""
    head = "| method | " + " | ".join(metrics) + " |"
    sep = "|---|" + "---|" * len(metrics)
    lines = [head, sep]
    for m in summary.methods:
        cells = [f"{summary.mean[m][k]:.2f}" if math.isfinite(summary.mean[m][k]) else "–" for k in metrics]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
