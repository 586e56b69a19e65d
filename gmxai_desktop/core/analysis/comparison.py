"""Do two models look at the same regions for each syndrome, and does that depend on class size?

Class imbalance is the rule in rare-disease data: a model sees hundreds of faces of a few
syndromes and a handful of most others. Comparing the syndrome-wise maps of two models (for
example one trained on balanced and one on imbalanced data, the bundled ``demo`` and
``demo-imbalanced``) per class, and setting the agreement against the class size, shows whether
the explanations of small classes are less stable.

Agreement of two maps of one class, both computed on raw signed maps at input resolution:

* ``rank_correlation``: Spearman's ρ over all pixels (scale-free, so models whose maps differ in
  magnitude still compare; :func:`~gmxai_desktop.core.analysis.metrics.spearman_rank_correlation`);
* ``top_overlap``: the fraction of the top ``top_fraction`` pixels (by value, i.e. the strongest
  positive evidence; or by absolute value with ``by="abs"``) that the two maps share
  (:func:`~gmxai_desktop.core.analysis.metrics.topk_overlap`). 1 means the same most-important
  region, ``top_fraction`` is what two unrelated maps share on average.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..base.errors import ParameterError
from ..models.base import ModelAdapter
from .composites import ALL, CompositeResult
from .metrics import spearman_rank_correlation, topk_overlap

COUNT_KEYS = ("train_counts", "training_counts", "class_counts")
"""Metadata keys that hold a model's per-class training image counts."""


@dataclass(frozen=True)
class ClassAgreement:
    """One row of the table; ``size`` is the class size used for the imbalance analysis."""

    name: str
    size: int
    images_first: int
    images_second: int
    rank_correlation: float  # Spearman ρ, NaN when a map is constant
    top_overlap: float  # in [0, 1]


@dataclass
class ComparisonTable:
    """Per-class agreement between two models' syndrome-wise maps of one method."""

    method: str
    top_fraction: float
    by: str
    size_source: str  # "training counts" or "composite counts"
    rows: list[ClassAgreement]
    generic: ClassAgreement | None  # the generic (all images) maps
    size_vs_rank_correlation: float  # Spearman ρ of class size vs rank_correlation; NaN if < 3 classes
    size_vs_top_overlap: float


def training_counts(adapter: ModelAdapter) -> dict[str, int] | None:
    """The model's per-class training counts from its metadata, if it ships them.

    Looked up in ``adapter.extra`` and in a ``.json`` file beside the checkpoint, under any key of
    :data:`COUNT_KEYS`; the value may map class names to counts or list counts in class order.
    """
    sources: list[Mapping[str, object]] = [adapter.extra]
    if adapter.source:
        meta = Path(adapter.source).with_suffix(".json")
        try:
            loaded = json.loads(meta.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                sources.append(loaded)
        except (OSError, ValueError):
            pass
    for src in sources:
        for key in COUNT_KEYS:
            value = src.get(key)
            if isinstance(value, Mapping):
                return {str(k): int(v) for k, v in value.items()}
            is_list = isinstance(value, Sequence) and not isinstance(value, str)
            if is_list and len(value) == adapter.num_classes:
                return {adapter.class_names[i]: int(v) for i, v in enumerate(value)}
    return None


def compare_composites(
    first: CompositeResult,
    second: CompositeResult,
    method: str,
    *,
    class_counts: Mapping[str, int] | None = None,
    top_fraction: float = 0.1,
    by: Literal["value", "abs"] = "value",
) -> ComparisonTable:
    """Agreement per class between two composite runs (one per model) for one method.

    ``class_counts`` gives the class sizes (e.g. :func:`training_counts` of the model whose
    imbalance is studied); without it the first run's composite image counts are used, which
    measure how many images the composite averages rather than how many the model was trained on.
    Classes missing from either run, or with no images in it, are left out.
    """
    for res, which in ((first, "first"), (second, "second")):
        if method not in res.methods:
            have = ", ".join(res.methods) or "none"
            raise ParameterError(f"the {which} composite run has no {method!r} maps (it has: {have})")
    names = [c for c in first.classes if first.counts.get(c) and second.counts.get(c)]
    if class_counts is not None:
        missing = [c for c in names if c not in class_counts]
        if missing:
            raise ParameterError(
                f"no class size given for {len(missing)} class(es): {', '.join(missing[:10])}"
            )
        sizes = {c: int(class_counts[c]) for c in names}
        source = "training counts"
    else:
        sizes = {c: int(first.counts[c]) for c in names}
        source = "composite counts"

    def row(name: str, size: int) -> ClassAgreement:
        a, b = first.maps[name][method], second.maps[name][method]
        return ClassAgreement(
            name=name,
            size=size,
            images_first=int(first.counts[name]),
            images_second=int(second.counts[name]),
            rank_correlation=spearman_rank_correlation(a, b),
            top_overlap=topk_overlap(a, b, top_fraction, by),
        )

    rows = [row(c, sizes[c]) for c in names]
    generic = None
    if first.counts.get(ALL) and second.counts.get(ALL):
        generic = row(ALL, sum(sizes.values()))

    def size_corr(values: list[float]) -> float:
        pairs = [(r.size, v) for r, v in zip(rows, values, strict=True) if math.isfinite(v)]
        if len(pairs) < 3:
            return math.nan
        s, v = zip(*pairs, strict=True)
        return spearman_rank_correlation(np.array(s), np.array(v))

    return ComparisonTable(
        method=method, top_fraction=top_fraction, by=by, size_source=source, rows=rows, generic=generic,
        size_vs_rank_correlation=size_corr([r.rank_correlation for r in rows]),
        size_vs_top_overlap=size_corr([r.top_overlap for r in rows]),
    )
