"""Analysis › Compare with demo-imbalanced: both bundled models, side by side, table and scatter."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from scipy.stats import spearmanr  # noqa: E402

from gmxai_desktop.core.demo import demo_model_paths  # noqa: E402
from gmxai_desktop.gui.display import apply_sign, difference  # noqa: E402
from gmxai_desktop.gui.model_comparison_view import install_model_comparison  # noqa: E402
from gmxai_desktop.gui.syndrome_integration import install_syndrome_views  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


def test_compare_with_demo_imbalanced_needs_no_configuration(qtbot, make_window, config_dir) -> None:
    win = make_window(methods=["gradcam"])
    action = install_model_comparison(win)
    cv = install_syndrome_views(win).composites
    assert action in win.menu("Analysis").actions() and action.text() == "Compare with demo-imbalanced"
    with qtbot.waitSignal(win.all_results_shown, timeout=120_000):
        win.controller.open_demo("demo")
    cv.set_methods(["gradcam"])
    action.trigger()
    qtbot.waitUntil(lambda: {"primary", "compare"} <= set(cv.results) and not cv._active
                    and cv.results["compare"].complete, timeout=600_000)
    assert "demo-imbalanced" in str(win.controller.compare_adapter.source)
    assert cv.mode.currentData() == "agreement" and win.tabs.currentWidget() is cv

    first, second = cv.results["primary"], cv.results["compare"]
    box = cv.table_box
    assert box.isVisible() and box.method.currentData() == "gradcam"
    meta_b = demo_model_paths("demo-imbalanced")[0].with_suffix(".json")
    counts_b = json.loads(meta_b.read_text())["train_counts"]
    assert [r.class_name for r in box.rows] == [c for c in first.classes if first.counts[c]]
    assert box.model.rowCount() == len(box.rows) == 7
    for r in box.rows:
        a, b = first.maps[r.class_name]["gradcam"], second.maps[r.class_name]["gradcam"]
        want = spearmanr(a.ravel(), b.ravel()).statistic
        assert r.spearman == pytest.approx(want, abs=1e-6) or (math.isnan(want) and math.isnan(r.spearman))
        assert r.train_images_b == counts_b[r.class_name]  # class sizes from the model's JSON
        assert r.test_images == first.counts[r.class_name] == 8
        assert 0.0 <= r.top1_a <= 1.0 and 0.0 <= r.top1_b <= 1.0

    # side by side: A's map, B's map and their difference for every syndrome
    cls = box.rows[-1].class_name
    how, sign = cv.norm.currentData(), win.controller.state.overlay.sign_mode
    d, na, nb = difference(first.maps[cls]["gradcam"], second.maps[cls]["gradcam"], how, sign)
    np.testing.assert_allclose(cv.models_grid.panel(f"{cls}\x1fA").raw_map, na, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cv.models_grid.panel(f"{cls}\x1fB").raw_map, nb, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cv.models_grid.panel(f"{cls}\x1fD").raw_map, d, rtol=1e-5, atol=1e-7)

    # the scatter has one point per syndrome with a known size; clicking one opens that syndrome
    scatter = box.scatter
    assert sorted(p[2] for p in scatter.points) == sorted(r.class_name for r in box.rows)
    spots = scatter.scatter.points()
    target = next(s for s in spots if s.data() == "micrognathia")
    assert 10 ** target.pos().x() == pytest.approx(counts_b["micrognathia"])  # log-x axis
    scatter.scatter.sigClicked.emit(scatter.scatter, [target], None)
    assert cv.mode.currentData() == "diff" and cv.diff_a.currentData() == "micrognathia"
    assert cv.diff_against.currentData() == "model"
    a, b = (apply_sign(r.maps["micrognathia"]["gradcam"], sign) for r in (first, second))
    assert cv.last_values["spearman"] == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-6)
