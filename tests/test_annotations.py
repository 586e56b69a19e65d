"""Annotation model, coordinate mapping, rasterisation, undo/redo, file format, autosave, CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from gmxai_desktop.core import annotations as A
from gmxai_desktop.core.annotations import (
    Alignment,
    AnnotationDocument,
    AnnotationError,
    Geometry,
    ImageRef,
)

SHA = "0123456789abcdef" * 4


def rotation_alignment(angle_deg=20.0, scale=0.5, tx=-30.0, ty=15.0, size=(112, 112)) -> Alignment:
    a = math.radians(angle_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return Alignment(((c, -s, tx), (s, c, ty)), size, "arcface112")


def make_doc(alignment=None, clock=None) -> AnnotationDocument:
    ticks = iter(range(10_000))
    clock = clock or (lambda: f"2025-01-01T00:00:{next(ticks):05d}Z")
    return AnnotationDocument(
        ImageRef(SHA, 400, 300, file_name="photo.jpg", pixel_sha256="f" * 64),
        alignment if alignment is not None else rotation_alignment(),
        author="Dr. Müller",
        hpo_release="2025-01-16",
        clock=clock,
    )


def every_kind() -> list[Geometry]:
    return [
        Geometry.rect(10.25, 20.5, 60.125, 90.0),
        Geometry.ellipse(120.0, 80.0, 30.0, 12.5, angle_deg=33.0),
        Geometry.polygon([(200.0, 10.0), (260.0, 30.0), (240.0, 90.5), (190.0, 70.0)]),
        Geometry.lasso([(300.0 + 20 * math.cos(t), 150.0 + 15 * math.sin(t)) for t in np.linspace(0, 6, 40)]),
        Geometry.brush([(50.0, 200.0), (80.5, 210.0), (120.0, 190.25)], 7.5),
    ]


# --- geometry and rasterisation ----------------------------------------------------------------


def test_rect_mask_uses_pixel_centres_at_any_resolution():
    g = Geometry.rect(2, 3, 10, 7)  # covers pixel centres x = 2.5..9.5, y = 3.5..6.5
    m = g.rasterize((20, 20), (20, 20))
    expect = np.zeros((20, 20), bool)
    expect[3:7, 2:10] = True
    np.testing.assert_array_equal(m, expect)
    m2 = g.rasterize((40, 40), (20, 20))  # twice the resolution: exactly twice the extent
    expect2 = np.zeros((40, 40), bool)
    expect2[6:14, 4:20] = True
    np.testing.assert_array_equal(m2, expect2)


def test_polygon_mask_matches_skimage():
    from skimage.draw import polygon as sk_polygon

    rng = np.random.default_rng(3)
    for _ in range(5):
        pts = rng.uniform(5, 95, size=(7, 2))
        pts = pts[np.argsort(np.arctan2(pts[:, 1] - 50, pts[:, 0] - 50))]  # simple (star-shaped)
        ours = Geometry.polygon(pts).rasterize((100, 100), (100, 100))
        ref = np.zeros((100, 100), bool)
        # skimage puts pixel centres at integer coordinates: shift by half a pixel.
        rr, cc = sk_polygon(pts[:, 1] - 0.5, pts[:, 0] - 0.5, shape=(100, 100))
        ref[rr, cc] = True
        assert np.count_nonzero(ours != ref) <= 2  # only pixels exactly on an edge may differ
        assert ours.sum() > 100


def test_lasso_uses_even_odd_fill():
    # A pentagram: even-odd leaves the central pentagon empty, the tips filled.
    c, r = np.array([50.0, 50.0]), 45.0
    star = [
        c + r * np.array([math.sin(4 * math.pi * k / 5), -math.cos(4 * math.pi * k / 5)]) for k in range(5)
    ]
    m = Geometry.lasso(star).rasterize((100, 100), (100, 100))
    assert not m[50, 50]
    assert m[10, 50]  # the top tip


def test_ellipse_mask_matches_closed_form():
    cx, cy, rx, ry, ang = 40.3, 55.1, 25.0, 10.0, 30.0
    m = Geometry.ellipse(cx, cy, rx, ry, ang).rasterize((100, 120), (120, 100))
    ys, xs = np.mgrid[0:100, 0:120] + 0.5
    t = math.radians(ang)
    u = (xs - cx) * math.cos(t) + (ys - cy) * math.sin(t)
    v = -(xs - cx) * math.sin(t) + (ys - cy) * math.cos(t)
    ref = (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
    assert np.count_nonzero(m != ref) <= 1
    assert abs(m.sum() - math.pi * rx * ry) / (math.pi * rx * ry) < 0.02


def test_brush_mask_is_a_stadium():
    g = Geometry.brush([(20.0, 30.0), (70.0, 30.0)], 10.0)
    m = g.rasterize((60, 100), (100, 60))
    ys, xs = np.mgrid[0:60, 0:100] + 0.5
    d = np.where(
        xs < 20, np.hypot(xs - 20, ys - 30), np.where(xs > 70, np.hypot(xs - 70, ys - 30), abs(ys - 30))
    )
    np.testing.assert_array_equal(m, d <= 5.0)
    single = Geometry.brush([(10.0, 10.0)], 6.0).rasterize((20, 20), (20, 20))
    assert single.sum() == np.count_nonzero(np.hypot(*(np.mgrid[0:20, 0:20] + 0.5 - 10)) <= 3)


def test_brush_outline_encloses_exactly_the_mask():
    g = Geometry.brush([(20.0, 20.0), (60.0, 45.0), (80.0, 20.0)], 8.0)
    (outline,) = A.outlines(g)
    poly = Geometry.polygon(outline).rasterize((64, 100), (100, 64))
    assert np.count_nonzero(poly != g.rasterize((64, 100), (100, 64))) <= 2


def test_geometry_validation():
    with pytest.raises(AnnotationError, match="at least 3"):
        Geometry.polygon([(0, 0), (1, 1)])
    with pytest.raises(AnnotationError, match="finite"):
        Geometry.rect(0, 0, float("nan"), 1)
    with pytest.raises(AnnotationError, match="positive width"):
        Geometry.brush([(0, 0)], 0)
    with pytest.raises(AnnotationError, match="unknown region kind"):
        Geometry("circle", ((0, 0),))


# --- coordinate mapping -------------------------------------------------------------------------


def test_alignment_matches_cv2_warp_affine():
    """A region mapped with the stored matrix lands where cv2.warpAffine moves its pixels."""
    al = rotation_alignment(angle_deg=25.0, scale=0.6, tx=-20.0, ty=30.0, size=(150, 150))
    doc = make_doc(al)
    r = doc.add_region(Geometry.polygon([(80, 60), (200, 80), (170, 190), (90, 170)]))
    orig_mask = doc.mask(r.id, (300, 400), "original").astype(np.float32)
    warped = cv2.warpAffine(orig_mask, np.asarray(al.matrix), (150, 150), flags=cv2.INTER_LINEAR) > 0.5
    aligned_mask = doc.mask(r.id, (150, 150), "aligned")
    iou = np.count_nonzero(warped & aligned_mask) / np.count_nonzero(warped | aligned_mask)
    assert iou > 0.95
    # Centroids agree to a fraction of a pixel (a half-pixel convention error would show here).
    cy_w, cx_w = np.argwhere(warped).mean(axis=0)
    cy_a, cx_a = np.argwhere(aligned_mask).mean(axis=0)
    assert abs(cx_w - cx_a) < 0.2 and abs(cy_w - cy_a) < 0.2


def test_plain_resize_alignment_maps_corners_to_corners():
    al = Alignment.scaling((400, 300), (100, 100))
    g = Geometry.rect(0, 0, 400, 300).transformed(al.doc_matrix())
    np.testing.assert_allclose(g.array(), [[0, 0], [100, 0], [100, 100], [0, 100]], atol=1e-12)

    class Face:
        image = np.zeros((100, 100, 3), np.uint8)
        matrix = None

    assert Alignment.from_face(Face(), (300, 400, 3)) == al


def test_region_drawn_in_aligned_space_round_trips():
    doc = make_doc()
    drawn = Geometry.rect(30, 40, 70, 60)
    r = doc.add_region(drawn, "aligned", hpo_id="HP:0000316", hpo_name="Hypertelorism")
    assert r.drawn_in == "aligned"
    back = doc.geometry_in(r.id, "aligned")
    np.testing.assert_allclose(back.array(), drawn.array(), atol=1e-9)
    # In the photo it is rotated by the alignment's inverse, scaled by 1/0.5.
    orig = r.geometry.array()
    edge = orig[1] - orig[0]
    assert math.degrees(math.atan2(edge[1], edge[0])) == pytest.approx(-20.0)
    assert np.hypot(*edge) == pytest.approx(80.0)


def test_brush_width_scales_with_the_alignment():
    doc = make_doc()
    r = doc.add_region(Geometry.brush([(10, 10), (50, 20)], 4.0), "aligned")
    assert r.geometry.width == pytest.approx(8.0)  # the photo is 2x larger than the crop
    assert doc.geometry_in(r.id, "aligned").width == pytest.approx(4.0)


# --- undo / redo --------------------------------------------------------------------------------


def test_undo_redo_add_modify_remove_and_events():
    doc = make_doc()
    events = []
    unsubscribe = doc.subscribe(lambda e: events.append((e.kind, e.region_id)))
    assert not doc.is_modified and not doc.can_undo
    a = doc.add_region(Geometry.rect(0, 0, 10, 10), note="a")
    b = doc.add_region(Geometry.ellipse(50, 50, 5, 5), note="b")
    doc.update_region(a.id, note="a edited", confidence=0.7)
    doc.remove_region(b.id)
    assert [r.note for r in doc.regions] == ["a edited"]
    assert doc.undo_text == "Delete region"
    assert doc.undo() and [r.note for r in doc.regions] == ["a edited", "b"]
    assert doc.undo() and doc.get(a.id).note == "a" and doc.get(a.id).confidence is None
    assert doc.undo() and doc.undo() and len(doc) == 0 and not doc.can_undo
    assert not doc.is_modified
    while doc.redo():
        pass
    assert [r.note for r in doc.regions] == ["a edited"]
    assert doc.is_modified
    assert events[:4] == [("added", a.id), ("added", b.id), ("changed", a.id), ("removed", b.id)]
    unsubscribe()
    doc.undo()
    assert len(events) == 4 + 4 + 4  # nothing new after unsubscribing


def test_drag_merges_into_one_undo_step_and_new_edit_clears_redo():
    doc = make_doc()
    r = doc.add_region(Geometry.rect(0, 0, 10, 10))
    for _ in range(25):
        doc.move_region(r.id, 1.0, 0.5, merge_key="drag-1")
    np.testing.assert_allclose(doc.get(r.id).geometry.bounds(), (25, 12.5, 35, 22.5))
    doc.undo()
    np.testing.assert_allclose(doc.get(r.id).geometry.bounds(), (0, 0, 10, 10))
    assert doc.can_redo
    doc.update_region(r.id, note="x")
    assert not doc.can_redo


def test_group_is_one_step_and_save_point_tracks_modification():
    doc = make_doc()
    with doc.group("Paste"):
        for k in range(3):
            doc.add_region(Geometry.rect(k, k, k + 5, k + 5))
    assert len(doc) == 3 and doc.undo_text == "Paste"
    doc.mark_saved()
    assert not doc.is_modified
    r = doc.regions[0]
    doc.move_region(r.id, 1, 1, merge_key="m")
    assert doc.is_modified
    doc.undo()
    assert not doc.is_modified
    # A drag after saving must not merge into the saved step (that would hide the change).
    doc.move_region(r.id, 1, 1, merge_key="m")
    doc.mark_saved()
    doc.move_region(r.id, 1, 1, merge_key="m")
    assert doc.is_modified
    doc.undo()
    assert not doc.is_modified


def test_vertex_editing():
    doc = make_doc()
    r = doc.add_region(Geometry.rect(0, 0, 10, 10), "aligned")
    doc.set_vertex(r.id, 2, 20, 15, "aligned")  # drag the bottom-right corner
    np.testing.assert_allclose(
        doc.geometry_in(r.id, "aligned").array(), [[0, 0], [20, 0], [20, 15], [0, 15]], atol=1e-9
    )
    p = doc.add_region(Geometry.polygon([(0, 0), (10, 0), (10, 10)]))
    doc.insert_vertex(p.id, 2, 0, 10)
    assert len(doc.get(p.id).geometry.points) == 4
    doc.delete_vertex(p.id, 0)
    assert doc.get(p.id).geometry.points[0] == (10.0, 0.0)
    with pytest.raises(AnnotationError, match="at least 3"):
        doc.delete_vertex(p.id, 0)
    with pytest.raises(AnnotationError, match="fixed number"):
        doc.insert_vertex(r.id, 0, 1, 1)


def test_set_alignment_keeps_regions_on_the_photo():
    doc = make_doc()
    r = doc.add_region(Geometry.rect(10, 10, 20, 20), "aligned")
    before = doc.get(r.id).geometry
    doc.set_alignment(Alignment.scaling((400, 300), (100, 100), "gm-v1"))
    assert doc.get(r.id).geometry == before
    assert doc.space_size("aligned") == (100, 100)


# --- file format --------------------------------------------------------------------------------


NOTES = [
    "plain",
    'Ünïcödé — ñ, 中文注释, עברית, emoji 👁️‍🗨️ and a "quoted" \\ backslash',
    "multi\nline\r\nnote\twith tab",
    "",
    '=HYPERLINK("http://x")',
]


def full_doc() -> AnnotationDocument:
    doc = make_doc()
    for k, g in enumerate(every_kind()):
        doc.add_region(
            g,
            "aligned" if k % 2 else "original",
            hpo_id=f"HP:{316 + k:07d}",
            hpo_name=f"Term {k} ✓",
            note=NOTES[k],
            confidence=[None, 0.0, 0.5, 1.0, 0.123456789][k],
            author=["", "Dr. Müller", "李医生", "a", "b"][k],
            color=[None, "#ff0000", "#00FF00", None, "#123abc"][k],
        )
    return doc


def test_every_region_type_and_field_round_trips(tmp_path):
    doc = full_doc()
    path = tmp_path / "x.gmxai-annotations.json"
    A.save_document(doc, path)
    loaded = A.load_document(path)
    assert loaded.regions == doc.regions  # every field, every float bit
    assert loaded.image == doc.image and loaded.alignment == doc.alignment
    assert (loaded.created, loaded.modified, loaded.hpo_release) == (doc.created, doc.modified, "2025-01-16")
    assert [r.kind for r in loaded.regions] == list(A.KINDS)
    assert A.dumps(loaded) == A.dumps(doc)  # byte-stable re-save
    assert not loaded.is_modified and not loaded.can_undo


def test_json_stores_original_and_aligned_coordinates_and_matrix():
    doc = full_doc()
    data = json.loads(A.dumps(doc))
    assert data["format"] == "gmxai-annotations" and data["version"] == 1
    assert data["alignment"]["matrix"] == [list(r) for r in doc.alignment.matrix]
    m = doc.alignment.doc_matrix()
    for rj, r in zip(data["regions"], doc.regions, strict=True):
        orig = np.array(rj["original"]["points"])
        np.testing.assert_allclose(np.array(rj["aligned"]["points"]), orig @ m[:, :2].T + m[:, 2], atol=1e-9)
        assert rj["kind"] == r.kind and rj["hpo"]["id"] == r.hpo_id
    # A writer that only knows aligned coordinates is read through the inverse map.
    for rj in data["regions"]:
        rj.pop("original")
    loaded = A.from_json_dict(data)
    for a, b in zip(loaded.regions, doc.regions, strict=True):
        np.testing.assert_allclose(a.geometry.array(), b.geometry.array(), atol=1e-9)


def test_export_leaves_out_the_file_name_and_never_writes_paths(tmp_path):
    doc = full_doc()
    out = tmp_path / "share.json"
    A.export_document(doc, out)
    raw = out.read_bytes()
    assert b"photo.jpg" not in raw and str(tmp_path).encode() not in raw
    assert json.loads(raw)["image"]["file_name"] is None
    assert doc.is_modified  # exporting a copy is not saving the document


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="other"), "not a gmxai annotation file"),
        (lambda d: d.update(version=99), "format version 99"),
        (lambda d: d["regions"][0].update(kind="circle"), "unknown kind"),
        (lambda d: d["regions"][0]["original"].update(points=[[0, 0], [1]]), "number pairs"),
        (lambda d: d["regions"][1].update(id=d["regions"][0]["id"]), "used twice"),
        (lambda d: d["regions"][0].update(confidence=1.5), "between 0 and 1"),
        (lambda d: d["regions"][0].update(hpo={"id": "hypertelorism"}), "not an HPO id"),
        (lambda d: d["image"].update(sha256="xyz"), "64 lower-case hex"),
        (lambda d: d.pop("regions"), "'regions' is missing"),
    ],
)
def test_invalid_files_are_rejected_with_readable_errors(mutate, message):
    data = json.loads(A.dumps(full_doc()))
    mutate(data)
    with pytest.raises(AnnotationError, match=message):
        A.from_json_dict(data)


def test_broken_json_names_the_file(tmp_path):
    p = tmp_path / "broken.json"
    p.write_text('{"format": "gmxai-annotations", "vers', encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"broken\.json: .*not valid JSON"):
        A.load_document(p)


def test_import_merges_regions_as_one_undo_step(tmp_path):
    doc = full_doc()
    other = make_doc()
    shared_id = doc.regions[0].id
    other.insert_region(A.Region(Geometry.rect(1, 1, 5, 5), id=shared_id, note="dup id"))
    other.add_region(Geometry.ellipse(9, 9, 3, 3), note="new")
    p = tmp_path / "other.json"
    A.save_document(other, p)
    added = A.import_document(doc, p)
    assert len(doc) == 7 and len({r.id for r in doc.regions}) == 7
    assert added[0].id != shared_id and added[0].note == "dup id"
    doc.undo()
    assert len(doc) == 5
    foreign = AnnotationDocument(ImageRef("e" * 64, 10, 10))
    with pytest.raises(AnnotationError, match="different image"):
        doc.import_regions(foreign)


def test_image_identity_by_content_not_name(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    a = tmp_path / "patient_name.png"
    b = tmp_path / "anonymised.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Someone")
    Image.fromarray(rgb).save(a, pnginfo=info)
    Image.fromarray(rgb).save(b)  # same pixels, metadata stripped
    ra = ImageRef.from_file(a, rgb)
    rb = ImageRef.from_file(b, rgb, keep_name=False)
    assert ra.sha256 == hashlib.sha256(a.read_bytes()).hexdigest()
    assert ra.sha256 != rb.sha256 and ra.matches(rb)
    assert ra.file_name == "patient_name.png" and rb.file_name is None
    doc = AnnotationDocument(ra, None)
    A.save_document(doc, tmp_path / "ann.json")
    assert A.find_for_image(rb, [tmp_path]).image == ra


# --- autosave and recovery ----------------------------------------------------------------------


def test_autosave_recovery_cycle(tmp_path):
    path = tmp_path / "case.gmxai-annotations.json"
    doc = full_doc()
    A.save_document(doc, path)
    assert A.find_recovery(path) is None

    now = [0.0]
    saver = A.Autosaver(doc, path, interval_s=10, monotonic=lambda: now[0])
    assert saver.tick() is None  # nothing changed
    doc.update_region(doc.regions[0].id, note="unsaved work")
    now[0] = 11
    written = saver.tick()
    assert written == A.autosave_path(path) and written.exists()
    doc.update_region(doc.regions[0].id, note="more")
    now[0] = 12
    assert saver.tick() is None  # interval not reached
    assert saver.tick(force=True) == written

    # "Crash": the saved file still has the old note, the autosave the new one.
    rec = A.find_recovery(path)
    assert rec is not None and rec.regions_in_autosave == 5 and rec.regions_in_saved == 5
    assert rec.document.regions[0].note == "more"
    assert A.load_document(path).regions[0].note == NOTES[0]
    restored = rec.restore()
    assert restored.is_modified and not restored.can_undo  # closing it must ask to save

    # An autosave older than the saved file is not offered.
    old = time.time() - 100
    os.utime(written, (old, old))
    assert A.find_recovery(path) is None
    os.utime(written, None)

    # Saving removes the autosave.
    A.save_document(restored, path)
    assert not restored.is_modified
    assert not written.exists() and A.find_recovery(path) is None
    assert A.load_document(path).regions[0].note == "more"
    # Declining a recovery deletes the autosave.
    A.write_autosave(full_doc(), path)
    rec = A.find_recovery(path)
    rec.discard()
    assert not written.exists()


def test_undo_to_saved_state_drops_the_autosave(tmp_path):
    path = tmp_path / "c.json"
    doc = full_doc()
    A.save_document(doc, path)
    saver = A.Autosaver(doc, path, interval_s=0)
    doc.update_region(doc.regions[0].id, note="temp")
    assert saver.tick() is not None
    doc.undo()
    assert saver.tick() is None
    assert not A.autosave_path(path).exists()


def test_corrupt_autosave_is_ignored_and_untitled_recovery_works(tmp_path):
    path = tmp_path / "c.json"
    A.autosave_path(path).write_text("{ not json", encoding="utf-8")
    assert A.find_recovery(path) is None
    doc = full_doc()
    target = A.untitled_autosave_path(tmp_path / "recovery", doc.image)
    target.parent.mkdir()
    A.write_autosave(doc, target)
    assert "photo" not in target.name
    (rec,) = A.list_untitled_recoveries(tmp_path / "recovery")
    assert rec.document.regions == doc.regions and rec.saved_time is None


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_summary(tmp_path):
    doc = full_doc()
    p = tmp_path / "summary.csv"
    A.export_csv(doc, p)
    text = p.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5 and tuple(rows[0]) == A.CSV_COLUMNS
    assert rows[1]["note"] == NOTES[1]
    assert rows[2]["note"] == NOTES[2].replace("\r\n", "\n") or rows[2]["note"] == NOTES[2]
    assert rows[4]["note"] == "'" + NOTES[4]  # a formula would run in a spreadsheet: neutralised
    assert rows[0]["confidence"] == "" and rows[2]["confidence"] == "0.5"
    assert rows[0]["file_name"] == "" and "photo.jpg" not in text
    r0 = doc.regions[0]
    want = int(r0.geometry.rasterize((300, 400), (400, 300)).sum())
    assert int(rows[0]["original_pixels"]) == want == 50 * 70  # rect 10.25..60.125 × 20.5..90
    assert int(rows[0]["aligned_pixels"]) == 0  # rotated out of the face crop
    assert int(rows[2]["aligned_pixels"]) > 0
    named = A.summary_csv(doc, include_file_name=True)
    assert "photo.jpg" in named
