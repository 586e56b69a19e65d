"""Phenotype dock, atlas overlay and HPO regions tab: what they show equals the core's numbers."""

from __future__ import annotations

import pyqtgraph as pg
import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import open_data, wait_idle  # noqa: E402

from gmxai_desktop.core.phenotype.atlas import REGIONS  # noqa: E402
from gmxai_desktop.core.phenotype.comparison import compare  # noqa: E402
from gmxai_desktop.core.phenotype.expectations import expected_weights  # noqa: E402
from gmxai_desktop.gui.phenotype_integration import install_phenotype  # noqa: E402
from gmxai_desktop.gui.syndrome_integration import install_syndrome_views  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui

MAP_CSV = ("class,syndrome\nunaffected,HP:0000280\nhypertelorism,HP:0000316\nsynophrys,HP:0000664\n"
           "thin-upper-lip,HP:0000219;OMIM:122470\n")


def _setup(qtbot, gui_data, make_window, tmp_path):
    win = make_window(methods=["saliency"])
    install_syndrome_views(win)
    feature = install_phenotype(win)
    assert install_phenotype(win) is feature
    tabs = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert tabs.count("HPO regions") == 1
    (tmp_path / "map.csv").write_text(MAP_CSV)
    feature.load_syndrome_map(tmp_path / "map.csv")
    open_data(qtbot, win, gui_data)
    wait_idle(qtbot, win)
    qtbot.waitUntil(lambda: feature.panel.report is not None and bool(feature.panel.report.comparisons),
                    timeout=60_000)
    return win, feature


def test_dock_shows_the_core_comparison_and_exports(qtbot, gui_data, make_window, tmp_path) -> None:
    win, feature = _setup(qtbot, gui_data, make_window, tmp_path)
    rep = feature.panel.report
    name, how = feature.syndrome_of_current()
    assert rep.name == name and how in ("label", "predicted")
    assert rep.terms.facial_terms, "the syndrome map gives every class facial terms"
    res = next(r for r in win.controller.current.values() if r.method == "saliency")
    atlas = feature.atlas()
    want = compare(res.map, atlas, expected_weights(rep.terms, atlas.area_shares(res.map.shape)), rep.terms)
    got = rep.comparisons["saliency"]
    assert got.share == pytest.approx(want.share, nan_ok=True)
    assert got.expected == pytest.approx(want.expected)
    # the red bars are the face-normalised shares, the blue ones the expected weights
    bars = [b for b in feature.panel._bars if isinstance(b, pg.BarGraphItem)]
    face = sum(want.share.values())
    assert list(bars[0].opts["width"]) == pytest.approx([want.expected[r] for r in REGIONS])
    assert list(bars[1].opts["width"]) == pytest.approx([want.share[r] / face for r in REGIONS])
    assert feature.panel.summary.text()
    assert feature.panel.terms.topLevelItemCount() == len(rep.terms.facial_terms)
    out = feature.panel.export_figure(str(tmp_path / "pheno.png"))
    assert out is not None and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_atlas_overlay_toggles_on_every_panel(qtbot, gui_data, make_window, tmp_path) -> None:
    win, feature = _setup(qtbot, gui_data, make_window, tmp_path)
    assert all(not pa.items for pa in feature._panels)
    feature.atlas_action.setChecked(True)
    outlines = feature.atlas().outlines(feature.entry.grid_size)
    n_curves = sum(len(v) for v in outlines.values())
    panels = [pa for pa in feature._panels if pa.panel in win.grid.panels()]
    assert len(panels) >= 2  # the face and the saliency panel
    for pa in panels:
        curves = [it for it in pa.items if isinstance(it, pg.PlotCurveItem)]
        assert len(curves) == n_curves
    feature.atlas_action.setChecked(False)
    assert all(not pa.items for pa in feature._panels)


def test_syndrome_tab_uses_the_composites(qtbot, gui_data, make_window, tmp_path) -> None:
    win, feature = _setup(qtbot, gui_data, make_window, tmp_path)
    cv = install_syndrome_views(win).composites
    cv.set_methods(["saliency"])
    with qtbot.waitSignal(cv.computed, timeout=120_000):
        cv.compute()
    view = feature.syndrome_view
    qtbot.waitUntil(lambda: view.panel.report is not None, timeout=60_000)
    # the atlas also outlines the composites' panels (always in the template layout)
    feature.atlas_action.setChecked(True)
    comp = [pa for pa in feature._panels if pa.template_layout and pa.panel in cv.grid.panels()]
    assert comp and all(pa.items for pa in comp if pa.panel.grid_size is not None)
    res = cv.results["primary"]
    name = view.panel.report.name
    assert name in res.maps and view.classes.count() == sum(1 for c in res.classes if res.counts.get(c))
    atlas = feature.atlas()
    m = res.maps[name]["saliency"]
    want = compare(m, atlas, expected_weights(view.panel.report.terms, atlas.area_shares(m.shape)))
    assert view.panel.report.comparisons["saliency"].share == pytest.approx(want.share, nan_ok=True)
