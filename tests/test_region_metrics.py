"""Attribution inside annotated regions (core/region_metrics.py): closed-form cases."""

from __future__ import annotations

import csv
import io
import math
from types import SimpleNamespace

import numpy as np
import pytest

from gmxai_desktop.core.analysis import region_metrics as RM
from gmxai_desktop.core.annotations import Alignment, AnnotationDocument, Geometry, ImageRef
from gmxai_desktop.core.base.errors import GmxaiError


def doc_with_rect(x0=20, y0=30, x1=50, y1=40, alignment=None) -> tuple[AnnotationDocument, str]:
    """A 400×400 photo whose aligned crop is the photo scaled to 100×100 (unless given)."""
    al = alignment or Alignment.scaling((400, 400), (100, 100), "gm-v1")
    doc = AnnotationDocument(ImageRef("a" * 64, 400, 400), al)
    r = doc.add_region(
        Geometry.rect(x0, y0, x1, y1), "aligned", hpo_id="HP:0000316", hpo_name="Hypertelorism"
    )
    return doc, r.id


def test_map_that_is_one_inside_the_rectangle():
    doc, _rid = doc_with_rect()
    m = np.zeros((100, 100), np.float32)
    m[30:40, 20:50] = 1.0  # exactly the rectangle's pixels
    (row,) = RM.compute_region_metrics(doc, {"saliency": m})
    assert row.pixels == 300 and row.area_fraction == pytest.approx(0.03)
    assert row.mass_positive == 1.0 and row.mass_absolute == 1.0
    assert row.enrichment_positive == pytest.approx(1 / 0.03)
    assert row.pointing_hit is True
    assert row.region == "Hypertelorism" and row.hpo_id == "HP:0000316" and row.method == "saliency"


def test_negative_values_count_only_in_the_absolute_variant():
    doc, _ = doc_with_rect()
    m = np.zeros((100, 100))
    m[30:40, 20:50] = 1.0  # 300 px of +1 inside
    m[80:90, 80:90] = -2.0  # 100 px of -2 outside
    m[35, 25] = -0.5  # one negative pixel inside
    (row,) = RM.compute_region_metrics(doc, {"ig": m})
    assert row.mass_positive == pytest.approx(299 / 299)
    assert row.mass_absolute == pytest.approx((299 + 0.5) / (299 + 0.5 + 200))
    assert row.pointing_hit is True


def test_uniform_map_scores_chance_level():
    doc, _ = doc_with_rect()
    (row,) = RM.compute_region_metrics(doc, {"flat": np.full((100, 100), 0.3)})
    assert row.mass_positive == pytest.approx(row.area_fraction)
    assert row.enrichment_positive == pytest.approx(1.0)
    assert row.pointing_hit is False  # every pixel ties for the maximum: a flat map cannot point


def test_pointing_miss_tolerance_and_ties():
    doc, rid = doc_with_rect()
    m = np.zeros((100, 100))
    m[30:40, 20:50] = 1.0
    m[45, 35] = 5.0  # the peak, 6 rows below the region's last row (39)
    mask = doc.mask(rid, (100, 100))
    assert RM.pointing_hit(m, mask) is False
    assert RM.pointing_hit(m, mask, tolerance_px=5.9) is False
    assert RM.pointing_hit(m, mask, tolerance_px=6.0) is True
    m[35, 35] = 5.0  # a tie inside and outside: still a miss
    assert RM.pointing_hit(m, mask) is False
    assert RM.pointing_hit(-np.abs(m), mask) is False  # no positive evidence at all
    with pytest.raises(GmxaiError):
        RM.pointing_hit(m, mask, tolerance_px=-1)


def test_zero_map_and_region_outside_the_crop_are_undefined_not_zero():
    doc, _ = doc_with_rect()
    (row,) = RM.compute_region_metrics(doc, {"zero": np.zeros((100, 100))})
    assert math.isnan(row.mass_positive) and math.isnan(row.mass_absolute)
    assert row.pointing_hit is False
    outside = AnnotationDocument(ImageRef("a" * 64, 400, 400), Alignment.scaling((400, 400), (100, 100)))
    outside.add_region(Geometry.rect(500, 500, 600, 600))  # beyond the photo
    (row,) = RM.compute_region_metrics(outside, {"m": np.ones((100, 100))})
    assert row.pixels == 0 and math.isnan(row.mass_positive) and row.pointing_hit is None


def test_maps_at_another_resolution_rescale_the_region():
    doc, _ = doc_with_rect(20, 30, 50, 40)
    m = np.zeros((50, 50))
    m[15:20, 10:25] = 1.0  # the same rectangle at half resolution
    (row,) = RM.compute_region_metrics(doc, {"gradcam": m})
    assert row.pixels == 75 and row.mass_positive == 1.0


def test_region_drawn_on_the_photo_follows_a_rotated_alignment():
    # 90° rotation: original (x, y) -> aligned (99 - y, x) in OpenCV's pixel-centre convention.
    al = Alignment(((0.0, -1.0, 99.0), (1.0, 0.0, 0.0)), (100, 100))
    doc = AnnotationDocument(ImageRef("a" * 64, 100, 100), al)
    doc.add_region(Geometry.rect(10, 60, 30, 70), "original")  # x 10..30, y 60..70 on the photo
    m = np.zeros((100, 100))
    m[10:30, 30:40] = 1.0  # aligned: x = 100 - y in 30..40, y = x in 10..30
    (row,) = RM.compute_region_metrics(doc, {"m": m})
    assert row.pixels == 200 and row.mass_positive == 1.0 and row.pointing_hit is True
    # Another model's alignment can be passed explicitly.
    identity = Alignment.scaling((100, 100), (100, 100))
    (row2,) = RM.compute_region_metrics(doc, {"m": m}, alignment=identity)
    assert row2.mass_positive == 0.0


def test_attribution_results_and_csv(tmp_path):
    doc, _ = doc_with_rect()
    doc.add_region(Geometry.ellipse(300, 300, 40, 20), note="=cmd|' /C calc'!A0")
    m = np.zeros((100, 100))
    m[30:40, 20:50] = 1.0
    results = [
        SimpleNamespace(method="saliency", map=m, target_name="Syndrome A"),
        SimpleNamespace(method="gradcam", map=np.zeros((100, 100)), target_name="Syndrome A"),
    ]
    rows = RM.compute_region_metrics(doc, results)
    assert [(r.region, r.method) for r in rows] == [
        ("Hypertelorism", "saliency"),
        ("Hypertelorism", "gradcam"),
        ("=cmd|' /C calc'!A0", "saliency"),
        ("=cmd|' /C calc'!A0", "gradcam"),
    ]
    path = tmp_path / "metrics.csv"
    RM.export_metrics_csv(rows, path)
    parsed = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert tuple(parsed[0]) == RM.CSV_COLUMNS
    assert parsed[0]["mass_positive"] == "1" and parsed[0]["pointing_hit"] == "true"
    assert parsed[1]["mass_positive"] == "" and parsed[1]["target"] == "Syndrome A"
    assert parsed[2]["region"].startswith("'=")  # spreadsheet formula neutralised
    assert parsed[2]["mass_positive"] == "0"


def test_invalid_inputs():
    doc, _rid = doc_with_rect()
    with pytest.raises(GmxaiError, match="NaN"):
        RM.compute_region_metrics(doc, {"m": np.full((100, 100), np.nan)})
    with pytest.raises(GmxaiError, match="does not match"):
        RM.mass_share(np.zeros((10, 10)), np.zeros((5, 5), bool))
    no_alignment = AnnotationDocument(ImageRef("a" * 64, 10, 10))
    no_alignment.add_region(Geometry.rect(0, 0, 5, 5))
    with pytest.raises(GmxaiError, match="no face alignment"):
        RM.compute_region_metrics(no_alignment, {"m": np.ones((4, 4))})
    (row,) = RM.compute_region_metrics(no_alignment, {"m": np.ones((10, 10))}, space="original")
    assert row.pixels == 25
