"""Tables a folder run produces: per-image rows, curves.csv, the summary with CIs and ranking.

Shared by ``gmxai faithfulness`` and the Evaluate tab's export, so the files match the screen.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .aggregate import DIRECTION, Summary, paired_comparison, ranking, summarise
from .evaluate import RANDOM, ImageEvaluation

SCALARS = ("deletion_auc", "insertion_auc", "road", "perturbation", "mprt")
CURVE_COLUMNS = ("image", "method", "metric", "fraction", "score")


@dataclass
class EvaluatedImage:
    name: str  # what tables call the image: its file name, or "current image"
    evaluation: ImageEvaluation


def rows(results: Sequence[EvaluatedImage]) -> list[dict[str, Any]]:
    """One dict per image × method: the ``--json`` objects."""
    return [{"image": r.name, **m.row()} for r in results for m in r.evaluation.methods]


def curves_csv(results: Sequence[EvaluatedImage]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CURVE_COLUMNS)
    for r in results:
        for m in r.evaluation.methods:
            for metric, fraction, score in m.curves():
                w.writerow([r.name, m.method, metric, f"{fraction:.6g}", f"{score:.8g}"])
    return buf.getvalue()


def scores_csv(results: Sequence[EvaluatedImage]) -> str:
    """One line per image × method with every scalar metric (empty where not computed)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "method", *SCALARS])
    for row in rows(results):
        values = [row.get(k) for k in SCALARS]
        w.writerow([row["image"], row["method"]] + [
            "" if v is None or not np.isfinite(v) else f"{v:.8g}" for v in values])
    return buf.getvalue()


def present_metrics(table: Sequence[dict[str, Any]]) -> list[str]:
    return [m for m in SCALARS if any(m in row for row in table)]


def summary_table(results: Sequence[EvaluatedImage]) -> dict[str, dict[str, Summary]]:
    table = rows(results)
    return summarise(table, present_metrics(table))


def versus(results: Sequence[EvaluatedImage], a: str, b: str, metric: str) -> dict[str, float | int]:
    """Paired comparison of methods ``a`` and ``b`` on the images both were scored on."""
    per: dict[str, dict[str, float]] = {}
    for row in rows(results):
        if metric in row and row["method"] in (a, b):
            per.setdefault(row["image"], {})[row["method"]] = float(row[metric])
    both = [v for v in per.values() if a in v and b in v]
    p = paired_comparison([v[a] for v in both], [v[b] for v in both], metric)
    return {"win_rate": p.win_rate, "p_value": p.p_value, "n": p.n}


def summary_dict(results: Sequence[EvaluatedImage], **context: Any) -> dict[str, Any]:
    """summary.json: per method × metric mean and 95 % CI, rankings, each method against random."""
    table = rows(results)
    metrics = present_metrics(table)
    summ = summarise(table, metrics)
    methods = list(summ)
    vs_random: dict[str, dict[str, Any]] = {}
    if RANDOM in summ:
        for m in methods:
            if m != RANDOM:
                vs_random[m] = {k: versus(results, m, RANDOM, k) for k in metrics if k != "mprt"}
    flagged = sorted({row["method"] for row in table if row.get("mprt_flagged")})
    return {
        **context,
        "images": len(results),
        "metrics": metrics,
        "direction": {k: ("higher is better" if DIRECTION[k] > 0 else "lower is better") for k in metrics},
        "summary": {m: {k: s.as_dict() for k, s in per.items()} for m, per in summ.items()},
        "ranking": {k: ranking(summ, k) for k in metrics},
        "versus_random": vs_random,
        "mprt_flagged": flagged,
    }


def mean_curve(results: Sequence[EvaluatedImage], method: str, metric: str
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """Average ``deletion`` / ``insertion`` curve of ``method`` over images (same step plan)."""
    curves = []
    for r in results:
        m = r.evaluation.by_method().get(method)
        c = getattr(m, metric, None) if m is not None else None
        if c is not None:
            curves.append(c)
    if not curves or any(c.fractions.shape != curves[0].fractions.shape for c in curves):
        return None
    return curves[0].fractions, np.mean([c.scores for c in curves], axis=0)


def mean_mprt(results: Sequence[EvaluatedImage], method: str) -> tuple[list[str], np.ndarray] | None:
    """Average Spearman ρ per cascade step of ``method`` over images."""
    runs = [r.evaluation.by_method()[method].mprt for r in results if method in r.evaluation.by_method()]
    runs = [m for m in runs if m is not None and m.spearman]
    if not runs:
        return None
    return runs[0].layers, np.nanmean([m.spearman for m in runs], axis=0)
