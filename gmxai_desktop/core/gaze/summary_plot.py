"""``summary.png``: one bar per method and metric, between the centre-bias floor and the human ceiling.

A bar alone says little (an NSS of 1.2 is good or bad depending on how predictable the gaze is);
drawn between the floor band (grey) and the ceiling band (green), each with its 95 % confidence
interval, it shows at a glance how much of the explainable gaze a method captures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import HIGHER_IS_BETTER, METRIC_NAMES
from .study import CEILING, FLOOR, Summary

BAR_COLOR = "#3b6fb6"
FLOOR_COLOR = "#9e9e9e"
CEILING_COLOR = "#2e7d32"


def summary_figure(summary: Summary, title: str = "") -> Any:
    """A matplotlib Figure (Agg canvas, no pyplot) of the summary."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    methods = [m for m in summary.methods if m not in (CEILING, FLOOR)]
    cols = 4
    rows = math.ceil(len(METRIC_NAMES) / cols)
    width = max(9.0, 1.0 + cols * (0.9 + 0.35 * len(methods)))
    fig = Figure(figsize=(width, 2.6 * rows + 0.6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    x = np.arange(len(methods))
    for ax, metric in zip(axes, METRIC_NAMES, strict=False):
        for ref, color in ((FLOOR, FLOOR_COLOR), (CEILING, CEILING_COLOR)):
            if ref in summary.mean and math.isfinite(summary.mean[ref][metric]):
                ax.axhspan(summary.low[ref][metric], summary.high[ref][metric], color=color, alpha=0.2, lw=0)
                ax.axhline(summary.mean[ref][metric], color=color, lw=1.2, ls="--")
        means = np.array([summary.mean[m][metric] for m in methods], dtype=float)
        err = np.array([[summary.mean[m][metric] - summary.low[m][metric],
                         summary.high[m][metric] - summary.mean[m][metric]] for m in methods]).T \
            if methods else np.zeros((2, 0))
        ax.bar(x, np.nan_to_num(means), yerr=np.nan_to_num(err), color=BAR_COLOR, capsize=3, width=0.7)
        arrow = "↑" if HIGHER_IS_BETTER[metric] else "↓"
        ax.set_title(f"{metric} {arrow}", fontsize=10)
        ax.set_xticks(x)
        ax.set_xticklabels(methods, rotation=35, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes[len(METRIC_NAMES):]:
        ax.set_axis_off()
    n = max(summary.n_images.values(), default=0)
    fig.suptitle(title or f"Gaze prediction per method ({n} images; mean and 95 % CI over images). "
                 "Grey: centre-bias floor; green: human leave-one-out ceiling", fontsize=10)
    return fig


def save_summary_png(summary: Summary, path: str | Path, title: str = "") -> Path:
    from ..output.figure import save_figure

    return save_figure(summary_figure(summary, title), path, fmt="png")
