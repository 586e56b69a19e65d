"""The per-syndrome region report: one JSON schema and one bar chart for the CLI and the GUI.

Kept in core so ``gmxai hpo-regions --json``, its ``--out`` figures and the app's Phenotype panel
export the very same numbers and drawing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .atlas import REGION_COLORS, REGION_SHORT, REGIONS, Atlas
from .comparison import RegionComparison, compare, comparison_json
from .expectations import SyndromeTerms, expected_weights
from .mapping import RegionMapping, default_mapping


@dataclass
class SyndromeReport:
    """One class: its terms, expected weights, chance levels and per-method comparisons."""

    name: str
    terms: SyndromeTerms
    expected: dict[str, float]
    chance: dict[str, float]
    comparisons: dict[str, RegionComparison] = field(default_factory=dict)
    images: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.terms.source,
            "hpo_terms": [t.as_json() for t in self.terms.facial_terms],
            "other_terms": len(self.terms.terms) - len(self.terms.facial_terms),
            "expected": {r: round(v, 6) for r, v in self.expected.items()},
            "chance": {r: round(v, 6) for r, v in self.chance.items()},
        }
        if self.images is not None:
            out["images"] = self.images
            out["attribution"] = {m: comparison_json(c)["share"] for m, c in self.comparisons.items()}
            out["comparison"] = {m: {k: v for k, v in comparison_json(c).items() if k != "share"}
                                 for m, c in self.comparisons.items()}
        return out


def build_reports(
    terms: Mapping[str, SyndromeTerms],
    atlas: Atlas,
    shape: tuple[int, int],
    maps: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    counts: Mapping[str, int] | None = None,
) -> dict[str, SyndromeReport]:
    """Reports for every class in ``terms``; with ``maps`` ({class: {method: map}}) compared too."""
    chance = atlas.area_shares(shape)
    out: dict[str, SyndromeReport] = {}
    for cls, st in terms.items():
        exp = expected_weights(st, chance)
        rep = SyndromeReport(cls, st, exp, chance)
        if maps is not None:
            rep.images = int((counts or {}).get(cls, 0))
            rep.comparisons = {m: compare(arr, atlas, exp, st) for m, arr in (maps.get(cls) or {}).items()}
        out[cls] = rep
    return out


def report_json(reports: Mapping[str, SyndromeReport], atlas: Atlas,
                mapping: RegionMapping | None = None) -> dict[str, Any]:
    """The ``gmxai hpo-regions --json`` document (schema in docs/hpo_regions.md)."""
    mapping = mapping or default_mapping()
    return {
        "atlas": atlas.template,
        "regions": list(REGIONS),
        "hpo_release": mapping.hpo_release,
        "mapping_version": mapping.table_version,
        "classes": {c: r.as_json() for c, r in reports.items()},
    }


def safe_name(name: str) -> str:
    """A class name as a file name (no path separators, no control characters)."""
    s = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("._")
    return s[:80] or "class"


def bar_figure(rep: SyndromeReport, methods: Sequence[str] | None = None, width_in: float = 7.0) -> Any:
    """Grouped bars per region: expected weight, chance (area share) and each method's share.

    Shares are renormalised over the face (like ``expected``), so all bars of one colour sum to
    1 and are comparable; the share outside the face is given in the legend.
    """
    from matplotlib.figure import Figure

    methods = list(methods if methods is not None else rep.comparisons)
    fig = Figure(figsize=(width_in, 3.4), dpi=150)
    ax = fig.add_subplot(1, 1, 1)
    series: list[tuple[str, list[float], str]] = [
        ("expected (HPO)", [rep.expected[r] for r in REGIONS], "#1f4e79"),
        ("chance (area)", [rep.chance[r] for r in REGIONS], "#bbbbbb"),
    ]
    palette = ["#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    for i, m in enumerate(methods):
        c = rep.comparisons[m]
        face = sum(v for v in c.share.values() if math.isfinite(v))
        vals = [c.share[r] / face if face > 0 else 0.0 for r in REGIONS]
        out = f", {c.outside * 100:.0f} % outside" if math.isfinite(c.outside) else ""
        series.append((f"{m}{out}", vals, palette[i % len(palette)]))
    n = len(series)
    x = np.arange(len(REGIONS))
    w = 0.8 / n
    for i, (label, vals, colour) in enumerate(series):
        ax.bar(x + (i - (n - 1) / 2) * w, vals, w, label=label, color=colour)
    ax.set_xticks(x, [REGION_SHORT[r] for r in REGIONS], rotation=30, ha="right", fontsize=8)
    for tick, r in zip(ax.get_xticklabels(), REGIONS, strict=True):
        tick.set_color(np.array(REGION_COLORS[r]) / 255.0 * 0.8)
    ax.set_ylabel("share of the face", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=7, frameon=False, ncols=min(n, 4), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(rep.name, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
