"""Does the model use what medicine knows? Expected against observed attribution per region.

For one attribution map (a syndrome-wise mean map, or one patient's map) and one syndrome's
expected weights (:mod:`.expectations`):

* ``share[r]``: the share of the map's *positive* attribution inside region r, over the whole
  map (:func:`~gmxai_desktop.core.analysis.metrics.relevance_mass`, the project's one
  definition). Positive only, because positive attribution is evidence *for* the explained
  class; negative evidence is a different question. Shares sum to at most 1; the rest,
  ``outside``, fell on background, clothing or the crop border.
* ``chance[r]``: the region's share of the atlas area (sums to 1 over the face).
* ``enrichment[r] = face_share[r] / chance[r]``, with ``face_share`` the share renormalised over
  the face. 1 means "as much as a map spread evenly over the face gives it"; renormalising keeps
  background attribution from making every region look under-used.
* ``rank_correlation``: Spearman's rho between expected weight and enrichment over the regions
  (the project's :func:`~gmxai_desktop.core.analysis.metrics.spearman_rank_correlation`).
  Enrichment, not share, so a big region does not look "used" by its size alone.
* known = expected weight >= ``known_min`` (default 0.05 of the syndrome's facial weight);
  used = enrichment >= ``used_min`` (default 1, above chance). "Known and used", "known, not
  used" (with the HPO terms the model seems to ignore) and "used, not known" (candidate novel
  features, or confounders such as hair and background) follow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..analysis.metrics import relevance_mass, spearman_rank_correlation
from ..base.errors import ParameterError
from .atlas import REGION_LABELS, REGIONS, Atlas
from .expectations import SyndromeTerms, TermInfo
from .mapping import WHOLE_FACE

KNOWN_MIN = 0.05
USED_MIN = 1.0


@dataclass
class RegionComparison:
    """Expected vs observed for one map and one syndrome; see the module docstring."""

    expected: dict[str, float]
    chance: dict[str, float]
    share: dict[str, float]
    outside: float
    enrichment: dict[str, float]
    rank_correlation: float
    known_used: list[str] = field(default_factory=list)
    known_not_used: list[str] = field(default_factory=list)
    used_not_known: list[str] = field(default_factory=list)
    ignored_terms: list[TermInfo] = field(default_factory=list)

    @property
    def top_observed(self) -> str | None:
        """The region with the highest attribution share (None for a map without positive mass)."""
        vals = [(v, r) for r, v in self.share.items() if math.isfinite(v)]
        return max(vals)[1] if vals and max(vals)[0] > 0 else None

    @property
    def top_enriched(self) -> str | None:
        """The region with the highest enrichment (attribution per area), None without mass."""
        vals = [(v, r) for r, v in self.enrichment.items() if math.isfinite(v)]
        return max(vals)[1] if vals else None

    @property
    def top_expected(self) -> str | None:
        vals = [(v, r) for r, v in self.expected.items()]
        return max(vals)[1] if vals and max(vals)[0] > 0 else None


def region_shares(m: np.ndarray, atlas: Atlas) -> tuple[dict[str, float], float]:
    """(share of positive attribution per region, share outside every region) for a raw map.

    NaN everywhere for a map without positive attribution (0/0 is not "nothing inside").
    """
    arr = np.asarray(m, dtype=np.float64)
    if arr.ndim != 2:
        raise ParameterError(f"an attribution map must be 2-D, got shape {arr.shape}")
    masks = atlas.masks(arr.shape)
    shares = {r: relevance_mass(arr, masks[r], "positive") for r in REGIONS}
    if any(math.isnan(v) for v in shares.values()):
        return dict.fromkeys(REGIONS, math.nan), math.nan
    return shares, max(0.0, 1.0 - sum(shares.values()))


def compare(m: np.ndarray, atlas: Atlas, expected: Mapping[str, float],
            terms: SyndromeTerms | None = None, *, known_min: float = KNOWN_MIN,
            used_min: float = USED_MIN) -> RegionComparison:
    """Compare one map with a syndrome's expected weights (see the module docstring)."""
    shape = np.asarray(m).shape
    share, outside = region_shares(m, atlas)
    chance = atlas.area_shares(shape)
    face_total = sum(v for v in share.values() if math.isfinite(v))
    enrichment = {
        r: (share[r] / face_total / chance[r] if face_total > 0 and chance[r] > 0 else math.nan)
        for r in REGIONS
    }
    exp = {r: float(expected.get(r, 0.0)) for r in REGIONS}
    rho = math.nan
    if all(math.isfinite(v) for v in enrichment.values()) and sum(exp.values()) > 0:
        rho = spearman_rank_correlation(np.array([exp[r] for r in REGIONS]),
                                        np.array([enrichment[r] for r in REGIONS]))
    known = [r for r in REGIONS if exp[r] >= known_min and exp[r] > 0]
    used = [r for r in REGIONS if math.isfinite(enrichment[r]) and enrichment[r] >= used_min]
    result = RegionComparison(
        expected=exp, chance=chance, share=share, outside=outside, enrichment=enrichment,
        rank_correlation=rho,
        known_used=[r for r in known if r in used],
        known_not_used=[r for r in known if r not in used],
        used_not_known=[r for r in used if r not in known],
    )
    if terms is not None:
        not_used = set(result.known_not_used)
        result.ignored_terms = [t for t in terms.facial_terms
                                if t.frequency.value > 0 and WHOLE_FACE not in t.regions
                                and all(r in not_used for r in t.regions)]
    return result


def _pct(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v * 100:.0f} %"


def plain_summary(c: RegionComparison, max_terms: int = 6) -> list[str]:
    """The comparison in sentences a clinician can read without the bar chart."""
    lines: list[str] = []
    if not any(v > 0 for v in c.expected.values()):
        return ["No facial HPO features are known for this syndrome, so there is nothing to compare."]
    if not math.isfinite(c.outside):
        return ["The map has no positive attribution, so it shows no region the model used."]
    if c.known_used:
        lines.append("Known and used: " + ", ".join(REGION_LABELS[r] for r in c.known_used) + ".")
    if c.known_not_used:
        terms = ", ".join(f"{t.name} ({t.frequency.describe()})" for t in c.ignored_terms[:max_terms])
        more = f" and {len(c.ignored_terms) - max_terms} more" if len(c.ignored_terms) > max_terms else ""
        regions = ", ".join(f"{REGION_LABELS[r]} ({_pct(c.share[r])} of the attribution, "
                            f"{_pct(c.chance[r])} of the face)" for r in c.known_not_used)
        lines.append(f"Known, not used: {regions}." + (f" Features the model seems to ignore: {terms}{more}."
                                                       if terms else ""))
    if c.used_not_known:
        regions = ", ".join(f"{REGION_LABELS[r]} ({c.enrichment[r]:.1f}x chance)" for r in c.used_not_known)
        lines.append(f"Used, not known: {regions}. A new feature, or a confounder?")
    if c.outside >= 0.2:
        lines.append(f"{_pct(c.outside)} of the attribution lies outside the face regions "
                     "(background, clothing, crop border): check for confounders.")
    if math.isfinite(c.rank_correlation):
        lines.append(f"Rank correlation of expected weight and enrichment: {c.rank_correlation:+.2f}.")
    return lines


def comparison_json(c: RegionComparison) -> dict[str, object]:
    """JSON-ready numbers (NaN -> null)."""
    def clean(d: Mapping[str, float]) -> dict[str, float | None]:
        return {k: (round(v, 6) if math.isfinite(v) else None) for k, v in d.items()}

    return {
        "share": clean(c.share),
        "outside": round(c.outside, 6) if math.isfinite(c.outside) else None,
        "enrichment": clean(c.enrichment),
        "rank_correlation": round(c.rank_correlation, 6) if math.isfinite(c.rank_correlation) else None,
        "known_used": c.known_used,
        "known_not_used": c.known_not_used,
        "used_not_known": c.used_not_known,
        "ignored_terms": [t.id for t in c.ignored_terms],
    }


def compare_all(maps: Mapping[str, Mapping[str, np.ndarray]], atlas: Atlas,
                expected: Mapping[str, Mapping[str, float]],
                terms: Mapping[str, SyndromeTerms] | None = None,
                classes: Sequence[str] | None = None) -> dict[str, dict[str, RegionComparison]]:
    """{class: {method: comparison}} for the composites' syndrome-wise maps."""
    out: dict[str, dict[str, RegionComparison]] = {}
    for cls in classes if classes is not None else list(maps):
        if cls not in maps or cls not in expected:
            continue
        out[cls] = {meth: compare(m, atlas, expected[cls], (terms or {}).get(cls))
                    for meth, m in maps[cls].items()}
    return out
