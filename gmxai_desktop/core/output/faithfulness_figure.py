"""summary.png / the Evaluate tab's figure export: mean deletion and insertion curves per method
(area under each curve shaded) and the ranking with 95 % confidence intervals.

Built on a bare matplotlib ``Figure`` (no pyplot, as in :mod:`.figure`) and saved through
:func:`.figure.save_figure`, which strips matplotlib's identifying metadata.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.faithfulness.aggregate import DIRECTION, LABELS
from ..analysis.faithfulness.evaluate import RANDOM
from ..analysis.faithfulness.report import EvaluatedImage, mean_curve, summary_table
from .figure import save_figure

# tab20 pairs a dark and a light shade of each hue: take the ten dark ones first.
_ORDER = list(range(0, 20, 2)) + list(range(1, 20, 2))


def method_colours(methods: Sequence[str]) -> dict[str, Any]:
    """Stable colours per method; the random control is always grey."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    out: dict[str, Any] = {}
    i = 0
    for m in methods:
        if m == RANDOM:
            out[m] = (0.45, 0.45, 0.45, 1.0)
        else:
            out[m] = cmap(_ORDER[i % 20])
            i += 1
    return out


def summary_figure(results: Sequence[EvaluatedImage], metric: str = "deletion_auc") -> Any:
    """A (3-panel) matplotlib Figure of deletion and insertion curves and the ranking."""
    from matplotlib.figure import Figure

    summ = summary_table(results)
    methods = list(summ)
    colours = method_colours(methods)
    fig = Figure(figsize=(13, 4.2), dpi=120)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.15]})
    n = len(results)
    for ax, kind in zip(axes[:2], ("deletion", "insertion"), strict=True):
        drawn = False
        for m in methods:
            mc = mean_curve(results, m, kind)
            if mc is None:
                continue
            x, y = mc
            style = "--" if m == RANDOM else "-"
            ax.plot(x, y, style, color=colours[m], lw=1.4, label=f"{m} ({np.trapezoid(y, x):.3f})")
            ax.fill_between(x, 0, y, color=colours[m], alpha=0.06)
            drawn = True
        ax.set_title(f"{kind.capitalize()} (mean of {n} image{'s' if n != 1 else ''}; AUC)")
        ax.set_xlabel("fraction of pixels " + ("removed" if kind == "deletion" else "restored"))
        ax.set_ylabel("target probability")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        if drawn:
            ax.legend(fontsize=6.5, loc="upper right" if kind == "deletion" else "lower right")
    ax = axes[2]
    available = [k for k in DIRECTION if any(summ[m].get(k) is not None and summ[m][k].n for m in methods)]
    if metric not in available and available:
        metric = available[0]
    order = [m for m in methods if summ[m].get(metric) is not None and summ[m][metric].n]
    order.sort(key=lambda m: -DIRECTION[metric] * summ[m][metric].mean)
    y = np.arange(len(order))[::-1]
    for yi, m in zip(y, order, strict=True):
        s = summ[m][metric]
        ax.errorbar(s.mean, yi, xerr=[[s.mean - s.low], [s.high - s.mean]], fmt="o", color=colours[m],
                    capsize=3)
    ax.set_yticks(y, order)
    better = "higher" if DIRECTION.get(metric, 1) > 0 else "lower"
    ax.set_title(f"{LABELS.get(metric, metric)}: mean, 95 % CI ({better} is better)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def save_summary_figure(results: Sequence[EvaluatedImage], path: str | os.PathLike[str],
                        metric: str = "deletion_auc") -> Path:
    return save_figure(summary_figure(results, metric), path)
