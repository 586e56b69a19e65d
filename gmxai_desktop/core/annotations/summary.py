"""The per-region CSV summary (spreadsheet-safe cells)."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from ..base.atomic import atomic_write_text
from .document import AnnotationDocument

# --------------------------------------------------------------------------------------------
# CSV summary
# --------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "image_sha256",
    "file_name",
    "region_id",
    "kind",
    "hpo_id",
    "hpo_name",
    "note",
    "confidence",
    "author",
    "created",
    "modified",
    "drawn_in",
    "original_x0",
    "original_y0",
    "original_x1",
    "original_y1",
    "original_pixels",
    "aligned_x0",
    "aligned_y0",
    "aligned_x1",
    "aligned_y1",
    "aligned_pixels",
)


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in free text (a note starting with '=' or '+' etc. would
    run as a formula in Excel/LibreOffice): such text gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv_rows(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV text (RFC 4180, UTF-8 friendly, formula-safe) for the given rows."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else csv_safe(_fmt(v))) for k, v in row.items()})
    return buf.getvalue()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    return v


def summary_rows(doc: AnnotationDocument, *, include_file_name: bool = False) -> list[dict[str, Any]]:
    """One row per region: identity, HPO term, note, provenance, bounding boxes and areas.

    Areas are pixel counts of the region's mask at each space's own resolution (the same
    pixel-centre rule the metrics use), so they are reproducible to the pixel.
    """
    rows = []
    for r in doc.regions:
        row: dict[str, Any] = {
            "image_sha256": doc.image.sha256,
            "file_name": doc.image.file_name if include_file_name else None,
            "region_id": r.id,
            "kind": r.kind,
            "hpo_id": r.hpo_id,
            "hpo_name": r.hpo_name,
            "note": r.note,
            "confidence": r.confidence,
            "author": r.author,
            "created": r.created,
            "modified": r.modified,
            "drawn_in": r.drawn_in,
        }
        spaces = ["original"] + (["aligned"] if doc.alignment is not None else [])
        for space in spaces:
            g = r.geometry_in(space, doc.alignment)
            x0, y0, x1, y1 = g.bounds()
            row.update(
                {
                    f"{space}_x0": x0,
                    f"{space}_y0": y0,
                    f"{space}_x1": x1,
                    f"{space}_y1": y1,
                    f"{space}_pixels": int(
                        g.rasterize(doc.space_size(space)[::-1], doc.space_size(space)).sum()
                    ),
                }
            )
        rows.append(row)
    return rows


def summary_csv(doc: AnnotationDocument, *, include_file_name: bool = False) -> str:
    return write_csv_rows(CSV_COLUMNS, summary_rows(doc, include_file_name=include_file_name))


def export_csv(
    doc: AnnotationDocument, path: str | os.PathLike[str], *, include_file_name: bool = False
) -> None:
    """Write the per-region summary as CSV (atomically; UTF-8 with BOM so Excel reads accents)."""
    atomic_write_text(path, "\ufeff" + summary_csv(doc, include_file_name=include_file_name))
