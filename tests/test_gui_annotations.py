"""Annotation tools, region inspector, region metrics table and figure export in the GUI.

Shapes are drawn with real mouse events through pyqtgraph's scene (press, moves, release), so the
tools are tested the way a clinician uses them. Every check compares the panels with the document
(one document, N views), the document with closed-form coordinates, and the metrics table with
``core.region_metrics`` and with hand-computed values.
"""

from __future__ import annotations

import shutil
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import open_data  # noqa: E402

from gmxai_desktop.core.analysis.region_metrics import compute_region_metrics  # noqa: E402
from gmxai_desktop.core.annotations import (  # noqa: E402
    Alignment,
    AnnotationDocument,
    Geometry,
    ImageRef,
    autosave_path,
    load_document,
)
from gmxai_desktop.gui.annotation_layer import (  # noqa: E402
    AnnotationLayer,
    AnnotationToolbar,
    PanelFrame,
    path_points,
)
from gmxai_desktop.gui.panels import PanelGrid  # noqa: E402
from gmxai_desktop.gui.region_inspector import RegionInspector  # noqa: E402
from gmxai_desktop.gui.region_metrics_view import COLUMNS, RegionMetricsView  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui

GRID = (100, 100)  # panel (map) grid, h x w
CROP = (150, 150)  # aligned crop, w x h: 1.5 aligned pixels per panel pixel
# A rotation + scale + shift, as face alignment produces (so original != aligned coordinates).
MATRIX = ((0.5, 0.08, -12.0), (-0.08, 0.5, 9.0))


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


def make_doc() -> AnnotationDocument:
    ref = ImageRef("ab" * 32, 400, 320, pixel_sha256="cd" * 32)
    return AnnotationDocument(ref, Alignment(MATRIX, CROP, "test"), author="Dr. Test")


class Scene:
    """A panel grid with face + two map panels, a layer on every panel and a document."""

    def __init__(self, qtbot) -> None:
        self.grid = PanelGrid()
        self.grid.set_panel_ids(["a", "b"])
        face = np.full((200, 200, 3), 120, np.uint8)
        face[60:80, 40:90] = 40
        self.grid.set_face(face, GRID)
        self.win = QMainWindow()
        self.win.setCentralWidget(self.grid)
        self.layer = AnnotationLayer()
        self.toolbar = AnnotationToolbar(self.layer)
        self.win.addToolBar(self.toolbar)
        self.grid.add_overlay_factory(self.layer.attach)
        self.doc = make_doc()
        self.layer.set_document(self.doc, PanelFrame(GRID, CROP))
        qtbot.addWidget(self.win)
        self.win.resize(1000, 420)
        self.win.show()
        qtbot.waitExposed(self.win)
        qtbot.wait(30)

    def panel(self, pid: str):
        return self.grid.face_panel if pid == "face" else self.grid.panel(pid)

    def panel_geometry(self, region_id: str) -> Geometry:
        return self.layer.panel_geometry(self.doc.get(region_id))


@pytest.fixture()
def scene(qtbot) -> Scene:
    return Scene(qtbot)


def _send(panel, kind: QEvent.Type, x: float, y: float, button, buttons) -> None:
    vp = panel.graphics.viewport()
    wp = panel.graphics.mapFromScene(panel.view_box.mapViewToScene(QPointF(x, y)))
    glob = QPointF(vp.mapToGlobal(wp))
    ev = QMouseEvent(kind, QPointF(wp), glob, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def drag(panel, points: list[tuple[float, float]]) -> None:
    """Press at the first point, move through the others, release at the last (view coordinates)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send(panel, QEvent.Type.MouseButtonPress, *points[0], left, left)
    for p in points[1:]:
        time.sleep(0.012)  # pyqtgraph drops mouse moves faster than 100 per second, as from a real mouse
        _send(panel, QEvent.Type.MouseMove, *p, none, left)
        QApplication.processEvents()
    _send(panel, QEvent.Type.MouseButtonRelease, *points[-1], left, none)
    QApplication.processEvents()


def click(panel, x: float, y: float) -> None:
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send(panel, QEvent.Type.MouseButtonPress, x, y, left, left)
    _send(panel, QEvent.Type.MouseButtonRelease, x, y, left, none)
    QApplication.processEvents()


def screen_px(panel) -> float:
    """View units per screen pixel: mouse positions are exact only to this."""
    return float(max(panel.view_box.viewPixelSize()))


def views_agree(layer: AnnotationLayer, region_id: str) -> np.ndarray:
    """Every view draws exactly the same outline for the region; returns it."""
    paths = [path_points(v.region_path(region_id)) for v in layer.views()]
    for p in paths[1:]:
        np.testing.assert_array_equal(p, paths[0])
    return paths[0]


# --------------------------------------------------------------------------------------------
# Drawing tools
# --------------------------------------------------------------------------------------------


def test_rectangle_drawn_in_one_panel_appears_in_every_panel_at_the_same_place(scene, qtbot) -> None:
    layer, doc = scene.layer, scene.doc
    scene.toolbar.tool_actions["rect"].trigger()
    assert layer.tool == "rect"
    drag(scene.panel("b"), [(20, 30), (25, 36), (40, 50), (50, 60)])
    assert len(doc) == 1
    region = doc.regions[0]
    assert region.kind == "rect" and region.drawn_in == "aligned" and region.author == "Dr. Test"
    tol = 1.5 * screen_px(scene.panel("b"))
    # stored in aligned-crop pixels: panel pixels x 1.5
    aligned = doc.geometry_in(region.id, "aligned").array()
    expected = 1.5 * np.array([(20, 30), (50, 30), (50, 60), (20, 60)])
    np.testing.assert_allclose(aligned, expected, atol=1.5 * tol)
    # canonical copy on the photo: the inverse of the alignment, computed independently here
    m = np.array(MATRIX)
    a, t = m[:, :2], m[:, 2]
    photo = (np.linalg.inv(a) @ (aligned - 0.5 - t).T).T + 0.5  # aligned = A (orig - .5) + t + .5
    np.testing.assert_allclose(region.geometry.array(), photo, atol=1e-9)
    # every panel (face, a, b) draws the same outline, at the document's coordinates
    assert len(layer.views()) == 3
    drawn = views_agree(layer, region.id)
    np.testing.assert_allclose(drawn[:4], aligned / 1.5, atol=1e-9)
    assert layer.selected == region.id
    # a panel created later (another method ticked) shows it too
    scene.grid.set_panel_ids(["a", "b", "c"])
    qtbot.wait(10)
    assert len(layer.views()) == 4
    np.testing.assert_allclose(views_agree(layer, region.id)[:4], aligned / 1.5, atol=1e-9)


def test_ellipse_polygon_brush_and_lasso_tools(scene) -> None:
    layer, doc = scene.layer, scene.doc
    panel = scene.panel("a")
    tol = 1.5 * screen_px(panel)

    layer.set_tool("ellipse")
    drag(panel, [(60, 20), (65, 24), (80, 30), (90, 40)])
    ell = doc.regions[-1]
    c, u, v = layer.panel_geometry(ell).ellipse_axes()
    np.testing.assert_allclose(c, (75, 30), atol=tol)
    np.testing.assert_allclose(np.abs(u), (15, 0), atol=tol)
    np.testing.assert_allclose(np.abs(v), (0, 10), atol=tol)

    layer.set_tool("polygon")
    corners = [(10, 70), (30, 65), (35, 90), (12, 92)]
    for p in corners:
        click(panel, *p)
    assert doc.regions[-1].id == ell.id  # still open: nothing added yet
    click(panel, 10.3, 70.2)  # on the first corner: closes the polygon
    poly = doc.regions[-1]
    assert poly.kind == "polygon"
    np.testing.assert_allclose(layer.panel_geometry(poly).array(), corners, atol=tol)

    layer.set_tool("brush")
    layer.set_brush_width(6)
    drag(panel, [(50, 70), (55, 72), (60, 75), (65, 76), (70, 74)])
    brush = doc.regions[-1]
    assert brush.kind == "brush"
    assert doc.geometry_in(brush.id, "aligned").width == pytest.approx(6 * 1.5)
    assert layer.panel_geometry(brush).array()[0] == pytest.approx((50, 70), abs=tol)

    layer.set_tool("lasso")
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    ring = [(40 + 12 * np.cos(a), 40 + 12 * np.sin(a)) for a in t]
    drag(panel, [*ring, ring[0]])
    lasso = doc.regions[-1]
    assert lasso.kind == "lasso"
    pts = layer.panel_geometry(lasso).array()
    assert 6 <= len(pts) <= 30  # 60 freehand points simplified to editable corners
    np.testing.assert_allclose(np.hypot(pts[:, 0] - 40, pts[:, 1] - 40), 12, atol=1.0)
    assert len(doc) == 4
    for r in doc.regions:
        views_agree(layer, r.id)


def test_undo_redo_through_the_document_restore_every_view(scene) -> None:
    layer, doc = scene.layer, scene.doc
    rect = layer.add_box("rect", 10, 10, 30, 20)
    poly = layer.add_outline("polygon", [(50, 50), (70, 50), (60, 70)], tolerance=0)
    before = scene.panel_geometry(rect.id)
    start = doc.geometry_in(rect.id, "aligned")
    for step in (2.0, 4.0, 6.0):  # one drag = one undo step
        layer.translate(rect.id, start, step, step / 2, merge_key=("drag", 1))
    moved = before.array() + np.array((6, 3))
    np.testing.assert_allclose(scene.panel_geometry(rect.id).array(), moved, atol=1e-9)
    assert doc.undo_text == "Move region"
    layer.undo()
    np.testing.assert_allclose(scene.panel_geometry(rect.id).array(), before.array(), atol=1e-9)
    np.testing.assert_allclose(views_agree(layer, rect.id)[:4], before.array(), atol=1e-9)
    layer.undo()
    assert [r.id for r in doc.regions] == [rect.id]
    assert all(poly.id not in v.items for v in layer.views())
    layer.redo()
    layer.redo()
    assert [r.id for r in doc.regions] == [rect.id, poly.id]
    np.testing.assert_allclose(views_agree(layer, rect.id)[:4], moved, atol=1e-9)
    assert all(poly.id in v.items for v in layer.views())


def test_dragging_a_corner_handle_edits_the_rectangle_in_every_panel(scene) -> None:
    layer, doc = scene.layer, scene.doc
    rect = layer.add_box("rect", 20, 20, 50, 40)
    assert layer.selected == rect.id
    editors = [v.editor for v in layer.views()]
    assert all(e is not None and e.region_id == rect.id for e in editors)
    depth = len(doc._undo)
    panel = scene.panel("face")
    drag(panel, [(50, 40), (53, 42), (58, 46), (62, 50)])  # bottom-right corner handle
    g = scene.panel_geometry(rect.id).array()
    tol = 1.5 * screen_px(panel)
    np.testing.assert_allclose(g, [(20, 20), (62, 20), (62, 50), (20, 50)], atol=tol)
    assert len(doc._undo) == depth + 1  # the whole drag is one step
    for v in layer.views():
        np.testing.assert_allclose(v.editor.control_points(), g, atol=1e-9)
    # a body drag moves the region; handles everywhere follow
    drag(panel, [(40, 35), (37, 33), (34, 31), (30, 30)])
    QApplication.processEvents()
    moved = scene.panel_geometry(rect.id).array()
    np.testing.assert_allclose(moved, g + np.array((-10, -5)), atol=tol)
    for v in layer.views():
        np.testing.assert_allclose(v.editor.control_points(), moved, atol=1e-9)
    layer.undo()
    np.testing.assert_allclose(scene.panel_geometry(rect.id).array(), g, atol=1e-9)


def test_polygon_vertices_move_insert_and_delete(scene) -> None:
    layer, doc = scene.layer, scene.doc
    poly = layer.add_outline("polygon", [(10, 10), (40, 10), (40, 40), (10, 40)], tolerance=0)
    layer.move_vertex(poly.id, 2, 50, 45)
    assert scene.panel_geometry(poly.id).points[2] == pytest.approx((50, 45))
    layer.insert_vertex_near(poly.id, 25, 9)  # near the top edge (between corners 0 and 1)
    pts = scene.panel_geometry(poly.id).points
    assert len(pts) == 5 and pts[1] == pytest.approx((25, 9))
    assert all(len(v.editor.handles) == 5 for v in layer.views())
    layer.delete_vertex(poly.id, 1)
    assert len(scene.panel_geometry(poly.id).points) == 4
    assert all(len(v.editor.handles) == 4 for v in layer.views())
    assert doc.undo()  # the deleted corner comes back
    assert len(scene.panel_geometry(poly.id).points) == 5


def test_delete_selected_region_and_undo(scene) -> None:
    layer, doc = scene.layer, scene.doc
    keep = layer.add_box("ellipse", 60, 60, 80, 75)
    gone = layer.add_box("rect", 10, 10, 30, 20)
    layer.select(gone.id)
    layer.delete_selected()
    assert [r.id for r in doc.regions] == [keep.id]
    assert layer.selected is None
    assert all(gone.id not in v.items and v.editor is None for v in layer.views())
    layer.undo()
    assert [r.id for r in doc.regions] == [keep.id, gone.id]
    assert all(gone.id in v.items for v in layer.views())


def test_clicking_a_region_selects_it_and_clicking_empty_image_deselects(scene) -> None:
    layer = scene.layer
    a = layer.add_box("rect", 10, 10, 30, 30)
    b = layer.add_box("rect", 60, 60, 80, 80)
    assert layer.selected == b.id
    click(scene.panel("b"), 20, 20)
    assert layer.selected == a.id
    click(scene.panel("a"), 45, 45)
    assert layer.selected is None
    # pressing on an unselected region and dragging selects and moves it, as one undo step
    depth = len(scene.doc._undo)
    before = scene.panel_geometry(a.id).array()
    drag(scene.panel("face"), [(20, 20), (24, 22), (28, 24), (32, 26)])
    assert layer.selected == a.id
    tol = 1.5 * screen_px(scene.panel("face"))
    np.testing.assert_allclose(scene.panel_geometry(a.id).array(), before + np.array((12, 6)), atol=tol)
    assert len(scene.doc._undo) == depth + 1
    np.testing.assert_allclose(scene.panel_geometry(b.id).array()[0], (60, 60))


# --------------------------------------------------------------------------------------------
# Region inspector
# --------------------------------------------------------------------------------------------


def test_inspector_hpo_search_note_confidence_author(scene, qtbot) -> None:
    layer, doc = scene.layer, scene.doc
    insp = RegionInspector(layer)
    qtbot.addWidget(insp)
    insp.show()
    region = layer.add_box("ellipse", 30, 35, 45, 45)
    assert insp.list.count() == 1 and insp.editor.isEnabled()
    assert insp.author.text() == "Dr. Test"
    qtbot.keyClicks(insp.search, "hypertel")
    texts = [insp.results.item(i).text() for i in range(insp.results.count())]
    assert texts[0] == "Hypertelorism (HP:0000316)"
    qtbot.keyClick(insp.search, Qt.Key.Key_Return)
    got = doc.get(region.id)
    assert (got.hpo_id, got.hpo_name) == ("HP:0000316", "Hypertelorism")
    assert "Hypertelorism (HP:0000316)" in insp.term_label.text()
    assert insp.list.item(0).text() == "1. Hypertelorism"
    # a synonym finds the term too, and says which synonym matched
    insp.search.clear()
    qtbot.keyClicks(insp.search, "widely spaced ey")
    assert insp.results.item(0).text() == "Hypertelorism (HP:0000316) — “Widely spaced eyes”"

    insp.note.setPlainText("inner canthal distance also increased")
    insp.commit_pending()
    insp.note.setPlainText("inner canthal distance also increased (measured)")
    insp.commit_pending()
    assert doc.get(region.id).note == "inner canthal distance also increased (measured)"
    insp.confidence.setValue(0.8)
    assert doc.get(region.id).confidence == pytest.approx(0.8)
    assert insp.confidence_words.text() == "high"
    insp.confidence.setValue(insp.confidence.minimum())
    assert doc.get(region.id).confidence is None
    insp.author.setText("Dr. Müller")
    insp.author.editingFinished.emit()
    assert doc.get(region.id).author == "Dr. Müller"
    doc.undo()  # author
    doc.undo()  # confidence (both changes: one merged step)
    assert doc.get(region.id).confidence is None and insp.author.text() == "Dr. Test"
    doc.undo()  # the note: both edits merged into one step
    assert doc.get(region.id).note == "" and insp.note.toPlainText() == ""
    doc.undo()
    assert doc.get(region.id).hpo_id is None
    # selecting in the list selects on the panels
    other = layer.add_box("rect", 5, 5, 15, 15)
    insp.list.setCurrentRow(0)
    assert layer.selected == region.id
    layer.select(other.id)
    assert insp.list.currentRow() == 1


# --------------------------------------------------------------------------------------------
# Region metrics table
# --------------------------------------------------------------------------------------------


def test_metrics_table_matches_core_and_closed_form(qtbot, tmp_path) -> None:
    doc = AnnotationDocument(ImageRef("ef" * 32, 100, 100), Alignment.scaling((100, 100), (100, 100)))
    term = {"hpo_id": "HP:0000316", "hpo_name": "Hypertelorism"}
    doc.add_region(Geometry.rect(0, 0, 50, 100), "aligned", **term)
    doc.add_region(Geometry.rect(80, 80, 100, 100), "aligned", note="chin")
    m = np.zeros((100, 100), np.float32)
    m[:, :50] = 1.0  # all positive evidence in the left half, every maximum there
    m[90, 90] = -3.0
    grad = np.tile(np.linspace(-1, 1, 100, dtype=np.float32), (100, 1))  # maxima: the whole right column
    results = [
        SimpleNamespace(method="saliency", map=m, target_name="A"),
        SimpleNamespace(method="gradcam", map=grad, target_name="A"),
    ]
    view = RegionMetricsView()
    qtbot.addWidget(view)
    view.update_from(doc, results, method_labels={"saliency": "Saliency", "gradcam": "Grad-CAM"})
    assert view.rows == compute_region_metrics(doc, results)
    model = view.model
    assert model.rowCount() == 4  # region-major: left x (saliency, gradcam), chin x (saliency, gradcam)
    keys = [c[0] for c in COLUMNS]

    def cell(row: int, key: str) -> str:
        return model.data(model.index(row, keys.index(key)))

    # left half on m: all positive mass inside, half the area, 2x chance, the maxima all inside
    assert (cell(0, "region"), cell(0, "method"), cell(0, "target")) == ("Hypertelorism", "Saliency", "A")
    assert cell(0, "area_fraction") == "50.0 %"
    assert cell(0, "mass_positive") == "100.0 %"
    assert cell(0, "enrichment_positive") == "2.00×"
    assert cell(0, "mass_absolute") == f"{100 * 5000 / 5003:.1f} %"
    assert cell(0, "pointing_hit") == "hit"
    # left half on the gradient: no positive value there, half of |m| by symmetry
    row1 = (cell(1, "method"), cell(1, "mass_positive"), cell(1, "mass_absolute"))
    assert row1 == ("Grad-CAM", "0.0 %", "50.0 %")
    assert cell(1, "pointing_hit") == "miss"
    # the chin corner: 4 % of the image; on m only the negative pixel lies there
    row2 = (cell(2, "region"), cell(2, "area_fraction"), cell(2, "mass_positive"))
    assert row2 == ("chin", "4.0 %", "0.0 %")
    assert cell(2, "mass_absolute") == f"{100 * 3 / 5003:.1f} %"
    pos = np.maximum(grad, 0)
    share = pos[80:, 80:].sum() / pos.sum()
    assert cell(3, "mass_positive") == f"{100 * share:.1f} %"
    assert cell(3, "enrichment_positive") == f"{share / 0.04:.2f}×"
    assert cell(3, "pointing_hit") == "miss"  # the maxima run the full height: not all inside
    # an all-negative map has no positive mass: undefined, not 0
    view.update_from(doc, [SimpleNamespace(method="saliency", map=-np.abs(m) - 1, target_name="A")])
    assert cell(0, "mass_positive") == "—" and cell(0, "pointing_hit") == "miss"
    view.update_from(doc, results)
    out = view.export_to(tmp_path / "metrics")
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert out.suffix == ".csv" and lines[0].startswith("image_sha256,region_id,region,hpo_id,method")
    assert len(lines) == 5 and ",saliency," in lines[1]


# --------------------------------------------------------------------------------------------
# The real window: files, recovery, figure export (tiny random model, real core)
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def image_folder(gui_data, tmp_path) -> Path:
    """Three of the shared synthetic faces, copied so annotation files stay in this test's folder."""
    folder = tmp_path / "images"
    folder.mkdir()
    for p in gui_data.paths[:3]:
        shutil.copy(p, folder / p.name)
    return folder


def open_annotated_window(qtbot, make_window, gui_data, folder: Path):
    from gmxai_desktop.gui.annotations_integration import install_annotations

    win = make_window(methods=["saliency", "gradcam"], size=(1300, 850))
    feat = install_annotations(win)
    data = SimpleNamespace(model=gui_data.model, images=folder)
    open_data(qtbot, win, data)
    qtbot.waitUntil(lambda: feat.layer.document is not None, timeout=20_000)
    return win, feat


def wait_document(qtbot, feat, path: Path) -> None:
    qtbot.waitUntil(lambda: feat.path == path and feat.layer.document is not None, timeout=60_000)


def test_window_annotations_follow_images_autosave_save_and_recover(
    qtbot, gui_data, make_window, image_folder, monkeypatch
) -> None:
    from gmxai_desktop.gui.annotations_integration import recovery_dir

    win, feat = open_annotated_window(qtbot, make_window, gui_data, image_folder)
    paths = sorted(image_folder.glob("*.png"))
    c = win.controller
    layer = feat.layer
    # one view per panel of the grid and of the Difference tab; installing twice changes nothing
    from gmxai_desktop.gui.annotations_integration import install_annotations

    assert install_annotations(win) is feat
    assert len(layer.views()) == len(win.grid.panels()) + 3
    entry = c.prepared_cache.get(c.state.prepare_key(c.adapter.model_id))
    assert layer.frame == PanelFrame(entry.grid_size, (entry.face_shape[1], entry.face_shape[0]))
    assert feat.doc_path == paths[0].with_name("face00.gmxai-annotations.json")

    r0 = layer.add_box("ellipse", 30, 35, 50, 48)
    views_agree(layer, r0.id)
    feat.update_metrics()
    assert feat.metrics.rows == compute_region_metrics(feat.doc, feat.current_results())
    assert [row.method for row in feat.metrics.rows] == ["saliency", "gradcam"]
    # autosave while unsaved; a normal save (moving to the next image) replaces it
    written = feat.autosave_tick(force=True)
    assert written == autosave_path(feat.doc_path) and written.exists()
    saved_geometry = feat.doc.get(r0.id).geometry
    win.browser.select_path(paths[1])
    wait_document(qtbot, feat, paths[1])
    file0 = paths[0].with_name("face00.gmxai-annotations.json")
    assert file0.exists() and not autosave_path(file0).exists()
    on_disk = load_document(file0)
    assert [r.geometry for r in on_disk.regions] == [saved_geometry]
    assert len(feat.doc) == 0 and not layer.views()[0].items

    # a crash with unsaved work on image 1: the autosave is offered when the image opens again
    r1 = layer.add_box("rect", 10, 10, 20, 20)
    feat.autosave_tick(force=True)
    feat._close_document()  # the process "dies": nothing saved
    feat._docs.clear()
    offered = []
    feat.confirm_recovery = lambda rec: offered.append(rec) or True
    feat.on_image_changed(paths[1])
    feat.on_prepared(paths[1], c.prepared_cache.get(c.state.prepare_key(c.adapter.model_id)))
    wait_document(qtbot, feat, paths[1])
    assert len(offered) == 1 and offered[0].regions_in_autosave == 1 and offered[0].regions_in_saved is None
    assert [r.id for r in feat.doc.regions] == [r1.id] and feat.doc.is_modified

    # back to image 0: image 1 is saved; image 0 comes from its file (not from memory)
    feat._docs.clear()
    win.browser.select_path(paths[0])
    wait_document(qtbot, feat, paths[0])
    assert load_document(paths[1].with_name("face01.gmxai-annotations.json")).regions[0].id == r1.id
    assert [r.geometry for r in feat.doc.regions] == [saved_geometry]
    assert not feat.doc.is_modified

    # a folder that cannot be written: the regions go to the recovery folder and come back
    blocked = image_folder / "not-a-folder"
    blocked.write_text("x")
    warnings = []
    monkeypatch.setattr(
        "gmxai_desktop.gui.annotations.documents.QMessageBox.warning", lambda *a: warnings.append(a)
    )
    feat.set_annotation_folder(blocked)
    wait_document(qtbot, feat, paths[0])
    assert len(feat.doc) == 0  # the folder holds no annotations of this image
    r2 = layer.add_box("rect", 60, 60, 70, 70)
    assert not feat.save_current() and len(warnings) == 1
    kept = list((recovery_dir()).glob("*.autosave"))
    assert len(kept) == 1 and load_document(kept[0]).regions[0].id == r2.id

    # closing the window saves (back to files next to the images)
    feat.set_annotation_folder(None)
    wait_document(qtbot, feat, paths[0])
    layer.add_box("rect", 70, 20, 80, 30)
    win.close()
    assert len(load_document(file0)) == 2


def test_figure_dialog_exports_png_svg_pdf_and_every_image(
    qtbot, gui_data, make_window, image_folder, tmp_path
) -> None:
    from PIL import Image

    win, feat = open_annotated_window(qtbot, make_window, gui_data, image_folder)
    region = feat.layer.add_box("ellipse", 30, 35, 50, 48)
    feat.doc.update_region(region.id, hpo_id="HP:0000316", hpo_name="Hypertelorism")
    dlg = feat.open_figure_dialog()
    dlg.dpi.setValue(100)  # small files keep the test fast; the DPI itself is tested in test_figure.py
    qtbot.waitUntil(lambda: dlg.preview_rgb is not None, timeout=30_000)
    assert dlg.options().methods == ["saliency", "gradcam"]
    spec = dlg.current_spec()
    assert [p.title for p in spec.panels] == ["Face", "Saliency (gradient)", "Grad-CAM"]
    assert all(len(p.annotations) == 1 for p in spec.panels)
    # extra panels: the Difference tab's A − B (recomputed from the raw maps) and a provider's panel
    from gmxai_desktop.core.output.figure import PanelSpec
    from gmxai_desktop.gui.display import difference
    from gmxai_desktop.gui.figure_dialog import ExtraPanel

    win.difference_view().select("saliency", "gradcam")
    sim = np.outer(np.hanning(20), np.hanning(20)).astype(np.float32)
    sim_panel = PanelSpec(kind="similarity", map=sim)
    extra = ExtraPanel("similarity", "Similarity to a gallery face", sim_panel, None)
    feat.add_figure_panel_provider(lambda: [extra])
    dlg.refresh()
    labels = [dlg.panel_list.item(i).text() for i in range(dlg.panel_list.count())]
    assert labels[-2:] == ["Difference: Saliency (gradient) − Grad-CAM", "Similarity to a gallery face"]
    for i in (dlg.panel_list.count() - 2, dlg.panel_list.count() - 1):
        dlg.panel_list.item(i).setCheckState(Qt.CheckState.Checked)
    spec = dlg.current_spec()
    assert [p.kind for p in spec.panels][-2:] == ["difference", "similarity"]
    current = win.controller.current
    diff = win.difference_view()  # what its combo boxes show, independently of choice()
    how, sign = diff.norm.currentData(), diff.sign.currentData()
    expected, _a, _b = difference(current["saliency"].map, current["gradcam"].map, how, sign)
    np.testing.assert_array_equal(spec.panels[-2].map, expected)
    assert len(spec.panels[-2].annotations) == 1 and len(spec.panels[-1].annotations) == 0
    for i in (dlg.panel_list.count() - 2, dlg.panel_list.count() - 1):
        dlg.panel_list.item(i).setCheckState(Qt.CheckState.Unchecked)

    out = tmp_path / "figures"
    out.mkdir()
    for fmt in ("png", "svg", "pdf"):
        with qtbot.waitSignal(dlg.exported, timeout=60_000) as sig:
            assert dlg.export_to(out / f"figure.{fmt}")
        assert sig.args[0] == out / f"figure.{fmt}"
    with Image.open(out / "figure.png") as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert 450 < rgb.shape[1] < 560  # 3 panels of 1.7 in at 100 dpi
    cyan = (np.abs(rgb - (0, 229, 255)).sum(axis=2) < 60).sum()  # the first region colour, #00e5ff
    assert cyan > 50, "the annotation outline is not in the PNG"
    svg = (out / "figure.svg").read_text()
    ids = {el.get("id") for el in ET.fromstring(svg).iter()}
    assert {"annotation-0-0", "annotation-1-0", "annotation-2-0"} <= ids
    assert "Hypertelorism" in svg and "face00" not in svg
    pdf = (out / "figure.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"face00" not in pdf
    dlg.include_name.setChecked(True)
    with qtbot.waitSignal(dlg.exported, timeout=60_000):
        dlg.export_to(out / "named.svg")
    assert "face00.png" in (out / "named.svg").read_text()
    dlg.include_name.setChecked(False)

    # every image of the folder, as SVG; only image 0 has annotations
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("svg"))
    batch = tmp_path / "batch"
    with qtbot.waitSignal(dlg.batch_finished, timeout=180_000) as sig:
        assert dlg.start_batch(batch)
    assert sig.args[0] == 3 and sig.args[1] == 3 and sig.args[2] == []
    names = sorted(p.name for p in batch.iterdir())
    assert names == ["face00.svg", "face01.svg", "face02.svg"]
    assert "annotation-0-0" in (batch / "face00.svg").read_text()
    assert "annotation-0-0" not in (batch / "face01.svg").read_text()
    assert load_document(image_folder / "face00.gmxai-annotations.json").regions[0].hpo_id == "HP:0000316"

    # existing files: asked before replacing; cancelling stops the export
    dlg.ask = lambda *a: QMessageBox.StandardButton.No
    assert not dlg.start_batch(batch)
    with qtbot.waitSignal(dlg.batch_finished, timeout=30_000) as sig:
        assert dlg.start_batch(tmp_path / "batch2")
        dlg.cancel_batch()
    assert sig.args[0] == 0 and "cancelled" in dlg.status.text()
    qtbot.waitUntil(lambda: win.controller.worker.pending_count() == 0, timeout=60_000)
    assert len(list((tmp_path / "batch2").iterdir())) <= 1
