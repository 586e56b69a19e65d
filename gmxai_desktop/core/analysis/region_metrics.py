"""Does the model look where the clinician looks? Attribution inside annotated regions.

For every region and every method this computes, on the raw map at model input resolution:

* ``mass_positive``: the share of the positive attribution mass that falls inside the region,
  sum(max(m, 0) in R) / sum(max(m, 0)). Positive evidence for the explained class.
* ``mass_absolute``: the same for |m|, so strong *negative* evidence inside the region counts too.
* ``area_fraction``: the share of the image the region covers. A map that ignores the region
  (uniform attribution) gets mass = area fraction, so ``enrichment = mass / area_fraction`` says
  how many times more attribution the region holds than chance (1 = chance level).
* ``pointing_hit``: whether the map's maximum lies in the region (the pointing game of Zhang et
  al., 2016), optionally with a tolerance in map pixels. When several pixels share the maximum,
  all of them must be inside, so a flat map cannot score; a map with no positive value is a miss.

The per-map definitions are those of :mod:`gmxai_desktop.core.analysis.metrics` (used here), so the
annotation table and the dataset evaluation agree.

Regions are rasterised onto the map grid with the pixel-centre rule of
:mod:`gmxai_desktop.core.annotations`; a region covering no pixel centre at map resolution gets
``pixels = 0`` and undefined shares rather than a misleading 0.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..annotations import Alignment, AnnotationDocument, write_csv_rows
from ..base.atomic import atomic_write_text
from ..base.errors import ParameterError
from ..output.render import check_map
from .metrics import pointing_game, relevance_mass


def mass_share(m: np.ndarray, mask: np.ndarray, mode: str = "positive") -> float:
    """Share of the attribution mass inside ``mask``; NaN when the map has no such mass.

    The same definition as :func:`gmxai_desktop.core.analysis.metrics.relevance_mass`, which does the work.
    """
    check_map(m)
    return relevance_mass(m, mask, mode)


def pointing_hit(m: np.ndarray, mask: np.ndarray, tolerance_px: float = 0.0) -> bool:
    """True when the map's maximum lies in the region (within ``tolerance_px`` map pixels).

    Without tolerance this is :func:`gmxai_desktop.core.analysis.metrics.pointing_game`. With tolerance,
    every pixel sharing the maximum must lie within that distance (pixel centre to pixel centre)
    of the region. A map without a positive value is a miss, as in ``pointing_game``.
    """
    arr = check_map(m)
    if tolerance_px < 0:
        raise ParameterError("the pointing-game tolerance cannot be negative")
    if tolerance_px == 0:
        return pointing_game(arr, mask)
    inside = np.asarray(mask, dtype=bool)
    if inside.shape != arr.shape:
        raise ParameterError(f"mask shape {inside.shape} does not match map shape {arr.shape}")
    peak = float(arr.max())
    if peak <= 0.0 or not inside.any():
        return False
    pts = np.argwhere(inside).astype(np.float64)
    for r, c in np.argwhere(arr == peak):
        d2 = (pts[:, 0] - r) ** 2 + (pts[:, 1] - c) ** 2
        if float(d2.min()) > tolerance_px * tolerance_px:
            return False
    return True


@dataclass(frozen=True)
class RegionMetric:
    """One row of the region × method table."""

    image_sha256: str
    region_id: str
    region: str
    hpo_id: str | None
    method: str
    target: str
    pixels: int
    area_fraction: float
    mass_positive: float
    mass_absolute: float
    enrichment_positive: float
    enrichment_absolute: float
    pointing_hit: bool | None  # None only when the region covers no pixel of the map


CSV_COLUMNS = tuple(RegionMetric.__dataclass_fields__)


def region_masks(
    doc: AnnotationDocument,
    shape_hw: tuple[int, int],
    *,
    space: str = "aligned",
    alignment: Alignment | None = None,
) -> dict[str, np.ndarray]:
    """Every region as a boolean mask on an (H, W) grid covering ``space``.

    ``alignment`` overrides the document's, e.g. to score a model whose template differs from
    the one active when the regions were drawn (regions are anchored to the photo, so they
    follow any alignment).
    """
    al = alignment if alignment is not None else doc.alignment
    if space == "aligned" and al is None:
        raise ParameterError(
            "the annotations have no face alignment, so they cannot be placed on the model's input; "
            "open them with the image and model so the alignment is known"
        )
    size = doc.image.size if space == "original" else al.size  # type: ignore[union-attr]
    return {r.id: r.geometry_in(space, al).rasterize(shape_hw, size) for r in doc.regions}


def _iter_maps(results: Iterable[Any] | Mapping[str, np.ndarray]) -> list[tuple[str, str, np.ndarray]]:
    """Accept AttributionResult-like objects (.method, .map, .target_name) or {method: map}."""
    if isinstance(results, Mapping):
        return [(str(k), "", np.asarray(v)) for k, v in results.items()]
    out = []
    for r in results:
        out.append((str(r.method), str(getattr(r, "target_name", "") or ""), np.asarray(r.map)))
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and not math.isnan(a) else math.nan


def compute_region_metrics(
    doc: AnnotationDocument,
    results: Iterable[Any] | Mapping[str, np.ndarray],
    *,
    space: str = "aligned",
    alignment: Alignment | None = None,
    tolerance_px: float = 0.0,
) -> list[RegionMetric]:
    """The region × method table for one image.

    ``results`` are the engine's AttributionResults (raw maps at model input resolution, which
    covers the aligned face) or a ``{method: map}`` dict. Rows are ordered region-major.
    """
    maps = _iter_maps(results)
    masks_by_shape: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    rows = []
    for region in doc.regions:
        for method, target, m in maps:
            shape = (int(m.shape[0]), int(m.shape[1]))
            if shape not in masks_by_shape:
                masks_by_shape[shape] = region_masks(doc, shape, space=space, alignment=alignment)
            mask = masks_by_shape[shape][region.id]
            pixels = int(mask.sum())
            area = pixels / mask.size
            if pixels == 0:
                pos = ab = math.nan
                hit: bool | None = None
            else:
                pos = mass_share(m, mask, "positive")
                ab = mass_share(m, mask, "absolute")
                hit = pointing_hit(m, mask, tolerance_px)
            rows.append(
                RegionMetric(
                    image_sha256=doc.image.sha256, region_id=region.id, region=region.label,
                    hpo_id=region.hpo_id, method=method, target=target, pixels=pixels, area_fraction=area,
                    mass_positive=pos, mass_absolute=ab, enrichment_positive=_ratio(pos, area),
                    enrichment_absolute=_ratio(ab, area), pointing_hit=hit,
                )
            )
    return rows


def metrics_csv(rows: Sequence[RegionMetric]) -> str:
    """CSV text of the table (empty cells for undefined values)."""
    return write_csv_rows(CSV_COLUMNS, (asdict(r) for r in rows))


def export_metrics_csv(rows: Sequence[RegionMetric], path: str | os.PathLike[str]) -> None:
    """Write the table as CSV, atomically (UTF-8 with BOM for spreadsheet programs)."""
    atomic_write_text(path, "\ufeff" + metrics_csv(rows))
