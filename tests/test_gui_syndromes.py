"""Composites and similar-patients tabs: what the panels show equals the core's results."""

from __future__ import annotations

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import FAST_METHODS, open_data, wait_idle  # noqa: E402

from gmxai_desktop.core.analysis.composites import ALL, compute_composites, face_uint8  # noqa: E402
from gmxai_desktop.core.analysis.embeddings import embed_gallery  # noqa: E402
from gmxai_desktop.core.analysis.metrics import spearman_rank_correlation, topk_overlap  # noqa: E402
from gmxai_desktop.core.analysis.similarity import rank_matches  # noqa: E402
from gmxai_desktop.gui.display import apply_sign, difference  # noqa: E402
from gmxai_desktop.gui.panels import FACE_PANEL  # noqa: E402
from gmxai_desktop.gui.syndrome_integration import install_syndrome_views  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


def _views(qtbot, gui_data, make_window):
    win = make_window(methods=["saliency"])
    views = install_syndrome_views(win)
    assert install_syndrome_views(win) is views  # idempotent: no second pair of tabs
    assert [win.tabs.tabText(i) for i in range(win.tabs.count())].count("Composites") == 1
    open_data(qtbot, win, gui_data)
    wait_idle(qtbot, win)
    return win, views


def test_composites_tab_matches_core_and_difference(qtbot, gui_data, make_window, config_dir) -> None:
    win, views = _views(qtbot, gui_data, make_window)
    cv = views.composites
    counts = [cv.classes.item(i).text() for i in range(cv.classes.count())]
    assert counts == ["hypertelorism  (3)", "unaffected  (3)"]
    win.show_tab(cv)
    cv.set_methods(FAST_METHODS)
    with qtbot.waitSignal(cv.computed, timeout=120_000):
        cv.compute()
    res = cv.results["primary"]
    want = compute_composites(win.controller.adapter, win.controller.labels, FAST_METHODS)
    assert res.counts == want.counts and res.complete
    rows = [c for c in want.classes if want.counts[c]]
    # first syndrome's face lives in the grid's face panel, later ones in their own face panels
    for i, cls in enumerate(rows):
        fp = cv.grid.face_panel if i == 0 else cv.grid.panel(f"{cls}\x1f{FACE_PANEL}")
        np.testing.assert_array_equal(fp.face_rgb, face_uint8(want.faces[cls]))
        for m in FAST_METHODS:
            p = cv.grid.panel(f"{cls}\x1f{m}")
            np.testing.assert_allclose(p.raw_map, want.maps[cls][m], rtol=1e-5, atol=1e-7)
            assert p.colorbar_shown
    assert cv.grid.columns == 1 + len(FAST_METHODS)
    # panels are linked: zooming one zooms all
    qtbot.wait(50)
    cv.grid.face_panel.view_box.setRange(xRange=(10, 40), yRange=(10, 40), padding=0)
    qtbot.wait(20)
    other = cv.grid.panel(f"{rows[-1]}\x1f{FAST_METHODS[-1]}").view_box.viewRange()[0]
    assert other == pytest.approx(cv.grid.face_panel.view_box.viewRange()[0], abs=0.5)

    # difference: syndrome A − generic map, with the agreement numbers of core.metrics
    cv.mode.setCurrentIndex(cv.mode.findData("diff"))
    cv.diff_a.setCurrentIndex(cv.diff_a.findData(rows[0]))
    cv.diff_method.setCurrentIndex(cv.diff_method.findData("saliency"))
    cv.diff_against.setCurrentIndex(cv.diff_against.findData("generic"))
    a, b = want.maps[rows[0]]["saliency"], want.maps[ALL]["saliency"]
    sign = win.controller.state.overlay.sign_mode
    d, _, _ = difference(a, b, cv.norm.currentData(), sign)
    np.testing.assert_allclose(cv.diff_grid.panel("D").raw_map, d, rtol=1e-5, atol=1e-6)
    rho = spearman_rank_correlation(apply_sign(a, sign), apply_sign(b, sign))
    assert np.isfinite(rho) and cv.last_values["spearman"] == pytest.approx(rho)
    assert cv.last_values["topk_overlap"] == pytest.approx(topk_overlap(apply_sign(a, sign),
                                                                        apply_sign(b, sign), 0.1))
    lo, hi = cv.diff_grid.panel("D").colorbar.levels()
    assert lo == pytest.approx(-hi)  # diverging, zero-centred
    # the comparison-model choice explains itself instead of drawing anything
    cv.diff_against.setCurrentIndex(cv.diff_against.findData("model"))
    assert "comparison model" in cv.summary.text() and cv.last_values == {}

    # a rerun is served from the disk cache (under GMXAI_CONFIG_DIR)
    assert any((config_dir / "cache").rglob("*.npz"))
    with qtbot.waitSignal(cv.computed, timeout=60_000):
        cv.compute()
    assert cv.results["primary"].computed == 0 and cv.results["primary"].cached == 6


def test_composites_cancel(qtbot, gui_data, make_window) -> None:
    win, views = _views(qtbot, gui_data, make_window)
    cv = views.composites
    cv.set_methods(["occlusion"])  # slow enough to still be running when cancelled
    cv.compute()
    qtbot.waitUntil(lambda: cv.progress.value() > 0, timeout=60_000)  # running, not just queued
    cv.cancel()
    assert cv.compute_btn.isEnabled() and "Cancelled" in cv.status.text()
    wait_idle(qtbot, win)  # the running job stops within one forward pass
    assert "primary" not in cv.results or not cv.results["primary"].complete
    assert cv.progress.value() < 1000
    # Compute again resumes: the finished images come from the cache
    cv.set_methods(["saliency"])
    with qtbot.waitSignal(cv.computed, timeout=60_000):
        cv.compute()
    assert cv.results["primary"].complete and cv.results["primary"].counts[ALL] == 6


def test_similar_patients_ranking_and_pair_maps(qtbot, gui_data, make_window) -> None:
    win, views = _views(qtbot, gui_data, make_window)
    sv = views.similarity
    with qtbot.waitSignal(sv.pair_shown, timeout=120_000):
        win.show_tab(sv)  # showing the tab embeds the gallery, ranks, draws match 1
    adapter, c = win.controller.adapter, win.controller
    gallery = embed_gallery(adapter, {p: c.labels.get(p) for p in c.paths})
    query = c.state.image
    row = [p.resolve() for p in gallery.paths].index(query.resolve())
    want = rank_matches(gallery.embeddings[row], gallery, top=10, exclude=(row,))
    assert [m.path for m in sv.matches] == [m.path for m in want]
    assert [m.similarity for m in sv.matches] == pytest.approx([m.similarity for m in want], abs=1e-5)
    assert sv.list.count() == len(want) == 5
    assert sv.list.item(0).text().startswith(f"1. {want[0].label}")

    # per syndrome: one entry per label, each syndrome's best image
    sv.per_syndrome.setChecked(True)
    per = rank_matches(gallery.embeddings[row], gallery, top=10, per_syndrome=True, exclude=(row,))
    assert [m.path for m in sv.matches] == [m.path for m in per] and len(per) == 2

    # pair maps of the selected match: the cells of both faces sum to the displayed cosine
    with qtbot.waitSignal(sv.pair_shown, timeout=60_000):
        sv.list.setCurrentRow(1)
    pair = sv.pair
    assert pair.method == "decomposition"  # GestaltMatcher v1's embedding is a spatial mean
    assert pair.cosine == pytest.approx(per[1].similarity, abs=1e-5)
    assert pair.cells_a.sum() == pytest.approx(pair.cosine, abs=1e-9)
    assert pair.cells_b.sum() == pytest.approx(pair.cosine, abs=1e-9)
    np.testing.assert_array_equal(sv.grid.panel("query").raw_map, pair.map_a)
    np.testing.assert_array_equal(sv.grid.panel("match").raw_map, pair.map_b)
    assert f"{pair.cosine:+.4f}" in sv.grid.panel("match").title_label.text()
    assert sv.grid.panel("match").colorbar_shown
