"""GestaltMatcher-Arc in the app: the Model dock, ensemble matching, similarity targets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from arc_fixtures import make_arc_files  # noqa: E402
from gui_helpers import wait_idle  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def arc_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("arcgui")
    a = make_arc_files(root / "a", seed=0)
    b = make_arc_files(root / "b", seed=1)  # a different second network, so that members can disagree
    ens = root / "saved_models"
    ens.mkdir()
    shutil.copy(
        a["pth_new"], ens / "s1_glint360k_r50_512d_gmdb__v1.0.3_bs64_size112_channels3_last_model.pth"
    )
    shutil.copy(b["onnx"], ens / "glint360k_r100.onnx")
    images = root / "images"
    rng = np.random.default_rng(11)
    for i in range(5):
        folder = images / f"syn{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)).save(folder / f"f{i}.png")
    return {"ens": ens, "images": images}


def _open_ensemble(qtbot, win, folder: Path) -> None:
    from gmxai_desktop.gui.controller import ModelRequest

    win.controller.set_align("none")
    with qtbot.waitSignal(win.controller.model_loaded, timeout=120_000):
        win.controller.open_model(ModelRequest(str(folder)))


def test_ensemble_in_the_app(qtbot, arc_data, make_window) -> None:
    from gmxai_desktop.core.analysis.similarity import rank_by_distance
    from gmxai_desktop.core.analysis.variants import (
        embed_variant_gallery,
        mean_cosine_distance,
        variants_for,
    )
    from gmxai_desktop.gui.arc_integration import install_arc
    from gmxai_desktop.gui.syndrome_integration import install_syndrome_views

    win = make_window(methods=["saliency"])
    views = install_syndrome_views(win)
    panel = install_arc(win)
    assert install_arc(win) is panel
    _open_ensemble(qtbot, win, arc_data["ens"])
    text = panel.info.text()
    assert "gestaltmatcher-arc" in text and "m0, m2" in text and "No code from the file was run" in text
    assert "Classes: 7 · embedding: 512-d" in text
    win.open_folder(arc_data["images"])
    wait_idle(qtbot, win, 120_000)
    sv = views.similarity
    with qtbot.waitSignal(sv.ranked, timeout=180_000):
        win.tabs.setCurrentWidget(sv)
    c = win.controller
    variants = variants_for(c.adapter)
    assert len(variants) == 8  # 2 members x flip x gray
    vg = embed_variant_gallery(variants, {p: c.labels.get(p) for p in c.paths}, align="none")
    row = [p.resolve() for p in vg.paths].index(c.state.image.resolve())
    want = rank_by_distance(
        mean_cosine_distance(vg.embeddings[row], vg.embeddings), vg.paths, vg.labels, top=10, exclude=(row,)
    )
    assert [m.path for m in sv.matches] == [m.path for m in want]
    assert [m.distance for m in sv.matches] == pytest.approx([m.distance for m in want], abs=1e-5)
    assert "distance" in sv.list.item(0).text()

    # Similarity targets: the current image, then a syndrome centroid from the embedded gallery.
    targets = [panel.target.itemText(i) for i in range(panel.target.count())]
    assert "Similarity to the syn0 centroid" in targets
    panel.target.setCurrentIndex(1)
    with qtbot.waitSignal(c.model_loaded, timeout=60_000):
        panel.apply_target()
    assert c.adapter.extra.get("scores_are_similarities") and c.adapter.class_names[0].startswith(
        "similarity to"
    )
    panel.target.setCurrentIndex(targets.index("Similarity to the syn0 centroid"))
    panel.apply_target()
    assert c.adapter.class_names == ["similarity to the syn0 centroid"]
    wait_idle(qtbot, win, 120_000)
    panel.target.setCurrentIndex(0)
    panel.apply_target()
    assert c.adapter.num_classes == 7


def test_ensemble_member_maps(qtbot, arc_data, make_window) -> None:
    """Two members: two member panels plus the mean; the mean and the agreement checked against
    numpy and scipy computed here from the members' cells."""
    import os

    from scipy.stats import spearmanr

    from gmxai_desktop.gui.controller import ModelRequest
    from gmxai_desktop.gui.ensemble_maps_view import MEAN, install_ensemble_maps
    from gmxai_desktop.gui.syndrome_integration import install_syndrome_views

    win = make_window(methods=["saliency"], size=(1366, 768))
    views = install_syndrome_views(win)
    view = install_ensemble_maps(win)
    assert install_ensemble_maps(win) is view
    _open_ensemble(qtbot, win, arc_data["ens"])
    assert [mid for mid, _ in view.members] == ["m0", "m2"]
    win.open_folder(arc_data["images"])
    wait_idle(qtbot, win, 120_000)
    with qtbot.waitSignal(view.computed, timeout=180_000):
        win.tabs.setCurrentWidget(views.similarity)
    assert view.isVisible()
    assert list(view.panels) == ["m0", "m2", MEAN]
    ens = view.result.maps
    assert view.result.match is views.similarity.shown_match
    members = [view.panels[m].raw_map for m in ("m0", "m2")]
    for got, pm in zip(members, ens.maps, strict=True):
        np.testing.assert_array_equal(got, pm.cells_a)
        assert got.shape == (7, 7) and np.ptp(got) > 0
    np.testing.assert_allclose(view.panels[MEAN].raw_map, np.mean(np.stack(members), axis=0), atol=1e-12)
    # Each member's cells plus its bias share is its cosine (the exact affine decomposition).
    for pm in ens.maps:
        assert pm.method == "affine"
        assert float(pm.cells_a.sum()) + pm.bias_a == pytest.approx(pm.cosine, abs=1e-5)
    rho = spearmanr(members[0].ravel(), members[1].ravel()).statistic
    assert abs(rho) < 0.999  # two different networks: the check below can fail
    assert view.table.rowCount() == view.table.columnCount() == 2
    for i, j in ((0, 1), (1, 0)):
        assert view.table.item(i, j).data(Qt.ItemDataRole.UserRole) == pytest.approx(rho, abs=1e-9)
    assert view.table.item(0, 0).data(Qt.ItemDataRole.UserRole) == pytest.approx(1.0)
    assert "m0" in view.panels["m0"].title_label.text() and "bias" in view.panels["m0"].title_label.text()

    # The match face: its own cells and agreement, from the members' match-face maps.
    view.face.setCurrentIndex(1)
    match_cells = [pm.cells_b for pm in ens.maps]
    np.testing.assert_allclose(view.panels[MEAN].raw_map, np.mean(match_cells, axis=0), atol=1e-12)
    rho_b = spearmanr(match_cells[0].ravel(), match_cells[1].ravel()).statistic
    assert view.table.item(0, 1).data(Qt.ItemDataRole.UserRole) == pytest.approx(rho_b, abs=1e-9)
    view.face.setCurrentIndex(0)
    shot = os.environ.get("GMXAI_ENSEMBLE_SCREENSHOT")
    if shot:
        qtbot.wait(300)
        assert win.grab().save(shot)

    # Cancel: a new request then a cancel leaves nothing running.
    view.compute()
    assert view.cancel_btn.isEnabled()
    view.cancel()
    assert not view.cancel_btn.isEnabled() and view._active is None
    wait_idle(qtbot, win, 60_000)

    # A single model hides the strip.
    a = arc_data["ens"] / "glint360k_r100.onnx"
    with qtbot.waitSignal(win.controller.model_loaded, timeout=120_000):
        win.controller.open_model(ModelRequest(str(a)))
    assert not view.isVisible()
