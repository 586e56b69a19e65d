"""Difference view: A − B of two methods or of one method on two models, with agreement numbers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import expected_maps, open_data, wait_idle, write_model  # noqa: E402

from gmxai_desktop.core.analysis.metrics import spearman_rank_correlation, topk_overlap  # noqa: E402
from gmxai_desktop.gui.display import apply_sign, difference  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


def test_difference_of_two_methods(qtbot, gui_data, make_window) -> None:
    win = make_window(methods=["saliency", "guided_backprop"])
    open_data(qtbot, win, gui_data)
    d = win.difference_view()
    win.show_tab(d)
    d.select("saliency", "guided_backprop")
    d.norm.setCurrentIndex(d.norm.findData("zscore"))
    d.sign.setCurrentIndex(d.sign.findData("absolute"))
    d.percent.setValue(20.0)
    qtbot.wait(20)
    a = win.grid.panel("saliency").raw_map
    b = win.grid.panel("guided_backprop").raw_map
    want, na, nb = difference(a, b, "zscore", "absolute")
    np.testing.assert_allclose(d.panel_d.raw_map, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d.panel_a.raw_map, na, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(d.panel_b.raw_map, nb, rtol=1e-6, atol=1e-6)
    rho = spearman_rank_correlation(apply_sign(a, "absolute"), apply_sign(b, "absolute"))
    overlap = topk_overlap(apply_sign(a, "absolute"), apply_sign(b, "absolute"), 0.2)
    assert d.last_values["spearman"] == pytest.approx(rho)
    assert d.last_values["topk_overlap"] == pytest.approx(overlap)
    assert f"{rho:+.3f}" in d.summary.text() and f"{overlap:.0%}" in d.summary.text()
    assert d.panel_d.colorbar_shown
    lo, hi = d.panel_d.colorbar.levels()
    assert lo == pytest.approx(-hi)  # a diverging, zero-centred scale
    # the same map against itself: zero difference, perfect agreement
    d.select("guided_backprop", "guided_backprop")
    qtbot.wait(20)
    assert np.abs(d.panel_d.raw_map).max() == 0.0
    assert d.last_values["spearman"] == pytest.approx(1.0) and d.last_values["topk_overlap"] == 1.0


def test_difference_against_a_comparison_model(qtbot, gui_data, make_window, tmp_path) -> None:
    from gmxai_desktop.core.attribution.engine import explain
    from gmxai_desktop.core.inputs.pipeline import prepare_file
    from gmxai_desktop.core.models import load_model
    from gmxai_desktop.gui.controller import COMPARE, ModelRequest

    other = write_model(tmp_path / "other.pt", seed=5)
    win = make_window(methods=["gradcam"])
    open_data(qtbot, win, gui_data)
    c = win.controller
    with qtbot.waitSignal(c.model_loaded, timeout=30_000, check_params_cb=lambda role, _a: role == COMPARE):
        c.open_model(ModelRequest(str(other)), COMPARE)
    d = win.difference_view()
    win.show_tab(d)
    assert d.b.findData("cmp:gradcam") >= 0
    with qtbot.waitSignal(c.compare_result, timeout=30_000, check_params_cb=lambda m, r: r is not None):
        d.select("gradcam", "cmp:gradcam")
    wait_idle(qtbot, win)
    qtbot.wait(20)
    primary = win.grid.panel("gradcam").result
    adapter_b = load_model(str(other))
    ref_b = explain(adapter_b, prepare_file(adapter_b, gui_data.paths[0]).x, ["gradcam"],
                    target=f"name:{primary.target_name}")[0]
    # model B explains the class model A's panel explains, whatever B itself predicts
    assert d._maps["cmp:gradcam"].target_name == primary.target_name
    want, _, _ = difference(primary.map, ref_b.map, d.norm.currentData(), d.sign.currentData())
    np.testing.assert_allclose(d.panel_d.raw_map, want, rtol=1e-5, atol=1e-6)
    ref_a = expected_maps(c.adapter, gui_data.paths[0], ["gradcam"])["gradcam"][0]
    assert not np.allclose(ref_a.map, ref_b.map)
    assert "other.pt" in d.b.currentText()
