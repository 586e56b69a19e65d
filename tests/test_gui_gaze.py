"""Gaze in the app: fixations on every panel, the Gaze panel, and tables equal to the core's."""

from __future__ import annotations

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import FAST_METHODS, open_data, wait_idle  # noqa: E402

from gmxai_desktop.core.gaze import image_gaze  # noqa: E402
from gmxai_desktop.core.gaze.density import Sigma  # noqa: E402
from gmxai_desktop.core.gaze.fixations import read_fixations  # noqa: E402
from gmxai_desktop.core.gaze.metrics import METRIC_NAMES  # noqa: E402
from gmxai_desktop.core.gaze.study import ALL, CEILING, FLOOR, evaluate_image  # noqa: E402
from gmxai_desktop.core.gaze.transform import grid_transform  # noqa: E402
from gmxai_desktop.gui.gaze_integration import GAZE_PANEL, install_gaze  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


def _fixations(tmp_path, paths):
    rng = np.random.default_rng(5)
    lines = ["image,observer,x,y,duration_ms"]
    for p in paths[:3]:
        for obs in ("a", "b", "c"):
            for _ in range(6):
                x, y = rng.uniform(30, 80, 2)
                lines.append(f"{p.name},{obs},{x:.2f},{y:.2f},{rng.integers(100, 400)}")
    f = tmp_path / "fix.csv"
    f.write_text("\n".join(lines) + "\n")
    return f


def test_fixations_on_every_panel_gaze_panel_and_image_table(qtbot, gui_data, make_window, tmp_path):
    win = make_window(methods=FAST_METHODS)
    feature = install_gaze(win)
    open_data(qtbot, win, gui_data)
    wait_idle(qtbot, win)
    errors = []
    win.show_error = lambda title, msg: errors.append(msg)
    assert feature.load(_fixations(tmp_path, gui_data.paths)) and not errors
    panel = win.grid.panel(GAZE_PANEL)
    assert panel is not None and panel not in win.grid.map_panels()
    path = win.controller.state.image
    table = read_fixations(tmp_path / "fix.csv")
    entry = feature.entry
    tf = grid_transform(path, entry.matrix, entry.face_shape, entry.grid_size)
    want = image_gaze(path.name, table.for_image(path.name), tf, Sigma(4.0))
    # Every synchronised panel draws the same on-grid points; the Gaze panel shows the density.
    drawn = [s for _p, s, _d in feature._items]
    assert len(drawn) >= 1 + len(FAST_METHODS)
    for s in drawn:
        xs, ys = s.getData()
        np.testing.assert_allclose(np.c_[xs, ys], want.points)
    np.testing.assert_allclose(panel.raw_map, want.density())
    assert panel.colorbar_shown
    # Panels change with the method selection; the Gaze panel stays last.
    win.controller.set_methods(["saliency"])
    qtbot.waitUntil(lambda: [p.panel_id for p in win.grid.panels()][-1] == GAZE_PANEL)
    win.controller.set_methods(FAST_METHODS)
    wait_idle(qtbot, win)
    qtbot.waitUntil(lambda: feature.view.image_table.rowCount() == len(FAST_METHODS) + 2, timeout=30_000)
    maps = feature._current_maps()
    rows = evaluate_image(want, maps, "positive", None)
    pooled = [r for r in rows if r["observer"] == ALL]
    pooled = pooled[-2:] + pooled[:-2]  # the table lists the ceiling and the floor first
    t = feature.view.image_table
    for i, r in enumerate(pooled):
        for j, k in enumerate(METRIC_NAMES, start=1):
            v = float(r[k])
            assert t.item(i, j).text() == ("–" if not np.isfinite(v) else f"{v:.3f}")
    assert [str(r["method"]) for r in pooled][:2] == [CEILING, FLOOR]
    # Toggles hide the markers and show the density overlay.
    feature.view.show_points.setChecked(False)
    assert all(len(s.getData()[0]) == 0 for _p, s, _d in feature._items)
    feature.view.show_density.setChecked(True)
    assert all(d.image is not None for _p, _s, d in feature._items)


def test_bad_fixation_file_is_one_clear_error(qtbot, gui_data, make_window, tmp_path):
    win = make_window(methods=["saliency"])
    feature = install_gaze(win)
    open_data(qtbot, win, gui_data)
    errors = []
    win.show_error = lambda title, msg: errors.append(msg)
    bad = tmp_path / "bad.csv"
    bad.write_text("image,observer,x,y\nnot-here.png,a,1,1\n")
    assert not feature.load(bad)
    assert errors == ["bad.csv: unknown image 'not-here.png': it is not among the 6 images given"]
    assert win.grid.panel(GAZE_PANEL) is None


def test_folder_table_matches_the_core_study(qtbot, gui_data, make_window, tmp_path):
    from gmxai_desktop.core.gaze.run import run_study
    from gmxai_desktop.core.gaze.study import summarise

    win = make_window(methods=["saliency"])
    feature = install_gaze(win)
    open_data(qtbot, win, gui_data)
    feature.load(_fixations(tmp_path, gui_data.paths))
    feature.compute_folder()
    qtbot.waitUntil(lambda: bool(feature.folder_rows), timeout=120_000)
    by_key = {k: p for p, k in feature.keys.items()}
    want = run_study(win.controller.adapter, by_key, feature.table, ["saliency"], {}, feature.options())
    s = summarise(want.rows)
    t = feature.view.folder_table
    assert t.rowCount() == 3
    for i, m in enumerate(s.methods[-2:] + s.methods[:-2]):
        for j, k in enumerate(METRIC_NAMES, start=1):
            v = s.mean[m][k]
            assert t.item(i, j).text() == ("–" if not np.isfinite(v) else f"{v:.3f}")


def test_demo_folder_loads_the_bundled_fixations(qtbot, make_window):
    from gmxai_desktop.core.demo import demo_data_dir
    from gmxai_desktop.core.inputs.imageio import iter_image_paths

    win = make_window(methods=["saliency"])
    feature = install_gaze(win)
    started = []
    feature.compute_folder = lambda: started.append(True)  # the study itself is tested above
    images = demo_data_dir() / "images"
    win.controller.folder = images
    win.controller.paths = iter_image_paths([images])
    feature.on_folder_loaded(win.controller.paths, {})
    assert feature.source == demo_data_dir() / "fixations.csv"
    assert len(set(feature.keys.values())) == 56 and win.grid.panel(GAZE_PANEL) is not None
    qtbot.wait(50)
    assert not started  # the study waits for the first image's maps (one worker: they come first)
    win.all_results_shown.emit()
    qtbot.waitUntil(lambda: bool(started))
    win.all_results_shown.emit()  # later images do not start it again
    qtbot.wait(50)
    assert started == [True]
