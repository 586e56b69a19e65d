"""Main flows of the desktop app with the real core: open, browse, compute, cancel, race, cache.

Every map a panel shows is compared with the core's result computed directly for the same image
and settings, so a map landing in the wrong panel (wrong image, method, target or parameters)
fails a test.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import CLASSES, FAST_METHODS, expected_maps, open_data, wait_idle  # noqa: E402

from gmxai_desktop.gui import controller_compute  # noqa: E402  (where the controller submits explain jobs)
from gmxai_desktop.gui.state import JobKey  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


def shown_maps(win) -> dict[str, np.ndarray]:
    return {p.panel_id: p.raw_map for p in win.grid.map_panels() if p.raw_map is not None}


def assert_panels_match(win, path: Path, methods: list[str], target: str = "predicted") -> None:
    expected = expected_maps(win.controller.adapter, path, methods, target)
    shown = shown_maps(win)
    for spec in win.controller.state.panels():
        ref = expected[spec.method][spec.rank]
        assert spec.panel_id in shown, f"panel {spec.panel_id} shows no map"
        np.testing.assert_allclose(shown[spec.panel_id], ref.map, rtol=1e-5, atol=1e-7)
        assert win.grid.panel(spec.panel_id).result.target == ref.target


def test_open_model_and_folder_shows_correct_maps(qtbot, gui_data, make_window) -> None:
    win = make_window()
    open_data(qtbot, win, gui_data)
    first = gui_data.paths[0]
    assert win.controller.state.image == first
    assert_panels_match(win, first, FAST_METHODS)
    for panel in win.grid.map_panels():
        res = panel.result
        assert res.target_name in panel.title_label.text()
        assert f"{res.probability:.2f}" in panel.title_label.text()
        assert panel.colorbar_shown
    assert "CPU" in win.device_label.text() or "GPU" in win.device_label.text()
    assert win.progress.value() == win.progress.maximum() == len(FAST_METHODS)
    assert "face prepared" in win.timing_label.text()
    # the face panel shows the aligned face, the prediction sits beside it
    assert win.grid.face_panel.face_rgb is not None
    top = win.controller.prepared_cache.get(win.controller.state.prepare_key(win.controller.adapter.model_id))
    assert top.prediction.top[0][1] in win.prediction_label.text()
    assert "label: unaffected" in win.prediction_label.text()  # from labels.csv


def test_switching_images_while_a_job_runs_never_shows_a_stale_map(
    qtbot,
    gui_data,
    make_window,
    monkeypatch,
) -> None:
    """A job for image A is held back until the user has moved to image B; its map must never appear."""
    win = make_window(methods=["saliency"])
    open_data(qtbot, win, gui_data)
    path_a, path_b = gui_data.paths[1], gui_data.paths[2]
    gate, started = threading.Event(), threading.Event()
    real = controller_compute.explain_job

    def held(adapter, entry, key, shared, job):
        if key.image == str(path_a):
            started.set()
            gate.wait(10)  # ignores cancellation on purpose: the worst case of a slow forward pass
            from gmxai_desktop.core.base.jobs import JobControl

            return real(adapter, entry, key, shared, JobControl())
        return real(adapter, entry, key, shared, job)

    monkeypatch.setattr(controller_compute, "explain_job", held)
    landed: list[tuple[str, object]] = []
    win.controller.panel_result.connect(lambda pid, res: landed.append((pid, res)))
    win.browser.select_path(path_a)
    qtbot.waitUntil(started.is_set, timeout=30_000)
    win.browser.select_path(path_b)  # the user moves on while A's job is still running
    assert win.controller.state.image == path_b
    gate.set()
    with qtbot.waitSignal(win.all_results_shown, timeout=30_000):
        pass
    wait_idle(qtbot, win)
    expected_b = expected_maps(win.controller.adapter, path_b, ["saliency"])["saliency"][0].map
    expected_a = expected_maps(win.controller.adapter, path_a, ["saliency"])["saliency"][0].map
    assert not np.allclose(expected_a, expected_b)
    assert landed, "image B's map never landed"
    for _pid, res in landed:  # nothing from image A ever reached a panel
        np.testing.assert_allclose(res.map, expected_b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(shown_maps(win)["saliency"], expected_b, rtol=1e-5, atol=1e-7)


def test_result_with_a_non_current_key_is_dropped(qtbot, gui_data, make_window) -> None:
    win = make_window(methods=["saliency"])
    open_data(qtbot, win, gui_data)
    c = win.controller
    current = c.state.job_key(c.adapter.model_id, "saliency")
    stale_keys = [
        JobKey(str(gui_data.paths[3]), current.model_id, "saliency", current.params, current.target, "auto"),
        JobKey(current.image, "other-model", "saliency", current.params, current.target, "auto"),
        JobKey(current.image, current.model_id, "saliency", (("abs", False),), current.target, "auto"),
        JobKey(current.image, current.model_id, "saliency", current.params, "top:2", "auto"),
        JobKey(current.image, current.model_id, "saliency", current.params, current.target, "none"),
    ]
    before = win.grid.panel("saliency").raw_map.copy()
    results = expected_maps(c.adapter, gui_data.paths[3], ["saliency"])["saliency"]
    landed: list[object] = []
    c.panel_result.connect(lambda pid, res: landed.append(res))
    for key in stale_keys:
        assert key != current
        c._on_finished(key, results, 0.1)
    assert landed == []
    assert all(c.results.get(k) is results for k in stale_keys)  # kept for a later visit
    np.testing.assert_array_equal(win.grid.panel("saliency").raw_map, before)


def test_rapid_browsing_ends_on_the_right_maps(qtbot, gui_data, make_window) -> None:
    win = make_window(methods=["saliency", "gradcam"])
    open_data(qtbot, win, gui_data)
    for _ in range(4):  # hold "next" down: each step cancels or demotes the previous image's work
        qtbot.keyClick(win, "N")
        qtbot.wait(15)
    final = gui_data.paths[4]
    assert win.controller.state.image == final
    qtbot.waitUntil(lambda: len(shown_maps(win)) == 2, timeout=60_000)
    wait_idle(qtbot, win)
    assert_panels_match(win, final, ["saliency", "gradcam"])
    qtbot.keyClick(win, "P")
    assert win.controller.state.image == gui_data.paths[3]


def test_revisiting_an_image_is_served_from_the_cache(qtbot, gui_data, make_window) -> None:
    win = make_window()
    open_data(qtbot, win, gui_data)
    c = win.controller
    with qtbot.waitSignal(win.all_results_shown, timeout=60_000):
        win.browser.select_path(gui_data.paths[1])
    wait_idle(qtbot, win)
    submitted: list[object] = []
    real_submit = c.worker.submit
    c.worker.submit = lambda key, *a, **k: (submitted.append(key), real_submit(key, *a, **k))[1]
    win.browser.select_path(gui_data.paths[0])  # back: everything is shown synchronously
    assert not [k for k in submitted if isinstance(k, JobKey)]
    assert len(shown_maps(win)) == len(FAST_METHODS)
    assert_panels_match(win, gui_data.paths[0], FAST_METHODS)
    assert c.results.hits >= len(FAST_METHODS)


def test_cancel_stops_the_job_and_no_map_lands(qtbot, gui_data, make_window) -> None:
    win = make_window(methods=["saliency"])
    open_data(qtbot, win, gui_data)
    c = win.controller
    c.set_params("occlusion", {"window": 4, "stride": 1})  # thousands of forward passes
    with qtbot.waitSignal(c.panel_progress, timeout=30_000):
        c.toggle_method("occlusion", True)
    cancelled: list[object] = []
    c.worker.cancelled.connect(cancelled.append)
    from PySide6.QtCore import Qt

    qtbot.keyClick(win, Qt.Key.Key_Escape)  # Image > Cancel
    qtbot.waitUntil(lambda: bool(cancelled), timeout=30_000)  # within one forward pass
    wait_idle(qtbot, win)
    panel = win.grid.panel("occlusion")
    assert panel.raw_map is None
    assert "cancelled" in panel.message_item.toPlainText()
    assert not win.cancel_button.isEnabled()


def test_parameter_change_recomputes_only_that_method(qtbot, gui_data, make_window) -> None:
    from PySide6.QtWidgets import QCheckBox

    win = make_window(methods=["saliency", "gradcam"])
    open_data(qtbot, win, gui_data)
    gradcam_before = win.grid.panel("gradcam").result
    from PySide6.QtCore import Qt

    row = next(
        i
        for i in range(win.methods.list.count())
        if win.methods.list.item(i).data(Qt.ItemDataRole.UserRole) == "saliency"
    )
    win.methods.list.setCurrentRow(row)
    box = win.methods.editor.findChild(QCheckBox, "param:abs")
    assert box is not None and box.isChecked()  # generated from the Param spec (default True)
    with qtbot.waitSignal(
        win.controller.panel_result, timeout=30_000, check_params_cb=lambda pid, res: pid == "saliency"
    ):
        box.setChecked(False)
    wait_idle(qtbot, win)
    res = win.grid.panel("saliency").result
    assert res.params["abs"] is False
    assert float(res.map.min()) < 0  # a signed gradient now
    ref = expected_maps(
        win.controller.adapter, gui_data.paths[0], ["saliency"], params={"saliency": {"abs": False}}
    )["saliency"][0]
    np.testing.assert_allclose(res.map, ref.map, rtol=1e-5, atol=1e-7)
    assert win.grid.panel("gradcam").result is gradcam_before  # untouched, not recomputed


def test_parameter_editors_follow_the_param_specs(qtbot, make_window) -> None:
    from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

    from gmxai_desktop.core.attribution.methods import list_methods

    win = make_window()
    for row, cls in enumerate(list_methods()):
        win.methods.list.setCurrentRow(row)
        for p in cls.params:
            w = win.methods.editor.findChild(object, f"param:{p.name}")
            assert w is not None, (cls.name, p.name)
            if p.kind is bool:
                assert isinstance(w, QCheckBox) and w.isChecked() == p.default
            elif p.choices is not None:
                assert isinstance(w, QComboBox)
                assert [w.itemData(i) for i in range(w.count())] == list(p.choices)
                assert w.currentData() == p.default
            elif p.kind is int:
                assert isinstance(w, QSpinBox) and w.value() == p.default
                if p.minimum is not None:
                    assert w.minimum() == p.minimum
                if p.maximum is not None:
                    assert w.maximum() == p.maximum
            elif p.kind is float:
                assert isinstance(w, QDoubleSpinBox) and w.value() == pytest.approx(p.default)
            else:
                assert isinstance(w, QLineEdit)
            assert w.toolTip() == p.help


def test_top_k_and_named_targets(qtbot, gui_data, make_window) -> None:
    win = make_window(methods=["gradcam"])
    open_data(qtbot, win, gui_data)
    with qtbot.waitSignal(win.all_results_shown, timeout=30_000):
        win.target.set_target("top:3")
        win.target.target_changed.emit(win.target.target())
    assert [p.panel_id for p in win.grid.map_panels()] == ["gradcam#1", "gradcam#2", "gradcam#3"]
    wait_idle(qtbot, win)
    assert_panels_match(win, gui_data.paths[0], ["gradcam"], target="top:3")
    top = [r.target for r in (win.grid.panel(f"gradcam#{i}").result for i in (1, 2, 3))]
    assert len(set(top)) == 3
    with qtbot.waitSignal(win.all_results_shown, timeout=30_000):
        win.target.mode.setCurrentIndex(2)
        win.target.cls.setCurrentText(CLASSES[3])
        win.target.cls.activated.emit(0)
    wait_idle(qtbot, win)
    assert win.controller.state.target == f"name:{CLASSES[3]}"
    assert win.grid.panel("gradcam").result.target_name == CLASSES[3]
    assert_panels_match(win, gui_data.paths[0], ["gradcam"], target=f"name:{CLASSES[3]}")


def test_overlay_controls_change_colours_not_maps(qtbot, gui_data, make_window) -> None:
    from gmxai_desktop.core.output import render

    win = make_window(methods=["saliency", "gradcam"])
    open_data(qtbot, win, gui_data)
    panels = win.grid.map_panels()
    raw_before = [p.raw_map.copy() for p in panels]
    oc = win.overlay_controls
    oc.sign.setCurrentIndex(oc.sign.findData("positive"))
    oc.scale.setCurrentIndex(1)  # shared
    qtbot.wait(20)
    assert win.controller.state.overlay.sign_mode == "positive" and win.controller.state.overlay.shared_scale
    levels = [tuple(p.colorbar.levels()) for p in panels]
    s = render.shared_scale(
        [p.raw_map for p in panels], "positive", win.controller.state.overlay.clip_percentile
    )
    for lo, hi in levels:
        assert lo == pytest.approx(0.0) and hi == pytest.approx(s, rel=1e-5)
    oc.scale.setCurrentIndex(0)
    oc.opacity.setValue(30)
    qtbot.wait(20)
    assert win.controller.state.overlay.opacity == pytest.approx(0.3)
    alpha = panels[0].overlay_item.image[:, :, 3]
    assert alpha.max() <= round(0.3 * 255) + 1
    for p, raw in zip(panels, raw_before, strict=True):
        np.testing.assert_array_equal(p.raw_map, raw)


def test_crosshair_reads_raw_values_at_the_same_pixel(qtbot, gui_data, make_window) -> None:
    win = make_window()
    open_data(qtbot, win, gui_data)
    face = win.grid.face_panel
    from PySide6.QtCore import QPointF

    from gmxai_desktop.gui.panels import format_value

    face._on_mouse(face.view_box.mapViewToScene(QPointF(37.5, 61.5)))
    for panel in win.grid.map_panels():
        value = float(panel.raw_map[61, 37])
        assert "(37, 61)" in panel.readout.text()
        assert format_value(value) in panel.readout.text()
        assert panel.vline.isVisible() and panel.vline.line().x1() == pytest.approx(37.5)
        assert panel.hline.line().y1() == pytest.approx(61.5)
    assert "RGB" in face.readout.text()


def test_zoom_and_pan_are_linked(qtbot, gui_data, make_window) -> None:
    win = make_window()
    open_data(qtbot, win, gui_data)
    a = win.grid.map_panels()[0].view_box
    a.setRange(xRange=(10, 30), yRange=(20, 40), padding=0)
    qtbot.wait(20)
    ref = [np.array(r) for r in a.viewRange()]
    for panel in win.grid.panels():
        for got, want in zip(panel.view_box.viewRange(), ref, strict=True):
            np.testing.assert_allclose(got, want, atol=0.5)
    assert panel.view_box.state["yInverted"] and panel.view_box.state["aspectLocked"]


def test_grid_reflows_with_the_window(qtbot) -> None:
    from gmxai_desktop.gui.panels import PanelGrid

    assert PanelGrid.best_columns(5, 1500, 500) == 5
    assert PanelGrid.best_columns(5, 500, 1500) == 1
    assert PanelGrid.best_columns(4, 800, 800) == 2
    grid = PanelGrid()
    qtbot.addWidget(grid)
    grid.set_panel_ids(["a", "b", "c"])  # four panels with the face
    grid.resize(1600, 400)
    grid.show()
    qtbot.wait(20)
    assert grid.columns == 4
    grid.resize(400, 1600)
    qtbot.wait(20)
    assert grid.columns == 1
    grid.resize(800, 800)
    qtbot.wait(20)
    assert grid.columns == 2


def test_keyboard_method_toggles(qtbot, make_window) -> None:
    from PySide6.QtCore import Qt

    from gmxai_desktop.core.attribution.methods import list_methods

    win = make_window(methods=["gradcam"])
    first = list_methods()[0].name
    qtbot.keyClick(win, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert first in win.controller.state.methods
    assert win.grid.panel(first) is not None
    qtbot.keyClick(win, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert first not in win.controller.state.methods and win.grid.panel(first) is None


def test_browser_filter_and_status(qtbot, gui_data, make_window) -> None:
    from gmxai_desktop.gui.browser import STATUS_ROLE

    win = make_window()
    open_data(qtbot, win, gui_data)
    b = win.browser
    assert b.proxy.rowCount() == len(gui_data.paths)
    b.filter.setText("face03")
    assert b.proxy.rowCount() == 1
    b.filter.setText("HYPERtel")  # the label, case-insensitive
    assert b.proxy.rowCount() == sum(v == "hypertelorism" for v in gui_data.labels.values())
    b.filter.setText("")
    assert "3 of" not in b.count_label.text()
    # statuses (prediction, alignment) arrive lazily, only for the thumbnails on screen
    qtbot.waitUntil(lambda: bool(b.model.statuses.get(gui_data.paths[0])), timeout=60_000)
    st = b.model.index(0).data(STATUS_ROLE)
    assert st.predicted in CLASSES and 0 < st.score <= 1 and st.aligned and st.alignment == "pre-aligned"
    expected = win.controller.prepared_cache.get(
        win.controller.state.prepare_key(win.controller.adapter.model_id)
    )
    assert (st.predicted, st.score) == (
        expected.prediction.top[0][1],
        pytest.approx(expected.prediction.top[0][2]),
    )


def test_unreadable_image_is_reported_not_fatal(qtbot, gui_data, make_window, tmp_path) -> None:
    import shutil

    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(gui_data.paths[0], folder / "a_good.png")
    (folder / "b_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    win = make_window(methods=["saliency"])
    from gmxai_desktop.gui.controller import ModelRequest

    with qtbot.waitSignal(win.all_results_shown, timeout=60_000):
        win.controller.open_model(ModelRequest(str(gui_data.model)))
        win.open_folder(folder)
    with qtbot.waitSignal(win.controller.prepare_failed, timeout=30_000):
        win.browser.step(1)
    panel = win.grid.panel("saliency")
    assert panel.raw_map is None and "b_broken.jpg" in panel.title_label.toolTip()
    status = win.browser.model.statuses[folder / "b_broken.jpg"]
    assert status.error and "b_broken.jpg" in status.error
    assert str(tmp_path) not in status.error  # base names only: these are patient files


def test_settings_persist_between_sessions(qtbot, gui_data, make_window, config_dir) -> None:
    win = make_window(methods=["gradcam", "guided_backprop"], size=(700, 531))
    win.browser_dock.hide()  # layout: a closed dock stays closed
    win.overlay_controls.sign.setCurrentIndex(win.overlay_controls.sign.findData("absolute"))
    win.overlay_controls.clip.setValue(97.0)
    win.controller.set_params("occlusion", {"stride": 7})
    win.close()
    assert (config_dir / "gmxai-desktop.ini").is_file()
    from gmxai_desktop.gui.main_window import MainWindow

    win2 = MainWindow()
    qtbot.addWidget(win2)
    st = win2.controller.state
    assert st.methods == ["gradcam", "guided_backprop"]
    assert st.overlay.sign_mode == "absolute" and st.overlay.clip_percentile == pytest.approx(97.0)
    assert st.param_overrides["occlusion"]["stride"] == 7
    assert win2.overlay_controls.settings() == st.overlay
    assert win2.height() == 531  # (the width is clamped to the small offscreen screen)
    win2.show()
    assert not win2.browser_dock.isVisible() and win2.analysis_dock.isVisible()
    win2.controller.shutdown()
    win2.browser.shutdown()


def test_model_dialog_overrides_the_architecture_and_remembers_recent(qtbot, gui_data, make_window) -> None:
    from gmxai_desktop.gui.controller import PRIMARY
    from gmxai_desktop.gui.model_dialog import AUTO, ModelDialog

    win = make_window(methods=["saliency"])
    dlg = ModelDialog(win)
    qtbot.addWidget(dlg)
    assert dlg.arch.currentText() == AUTO and dlg.arch.findText("torchvision:resnet18") >= 0
    dlg.path.setText(str(gui_data.model))
    assert dlg.request().arch is None  # detected from the checkpoint
    dlg.arch.setCurrentText("torchvision:resnet18")  # a wrong override is refused with a reason
    failures: list[str] = []
    win.controller.model_failed.connect(lambda role, msg: failures.append(msg))
    win.show_error = lambda title, msg: None  # no modal dialog in the test
    win.open_model(dlg.request())
    qtbot.waitUntil(lambda: bool(failures), timeout=30_000)
    assert "tiny.pt" in failures[0] and win.controller.adapter is None
    dlg.arch.setCurrentText("gestaltmatcher-v1")
    with qtbot.waitSignal(win.controller.model_loaded, timeout=30_000):
        win.open_model(dlg.request())
    assert win.controller.adapter.arch == "gestaltmatcher-v1"
    assert win.controller.adapter.class_names == CLASSES  # from tiny.classes.txt beside it
    recent = win.settings.recent_models()
    assert recent[0]["spec"] == str(gui_data.model) and recent[0]["arch"] == "gestaltmatcher-v1"
    win._fill_recent()
    labels = [a.text() for a in win.recent_menu.actions()]
    assert any("tiny.pt" in t and "gestaltmatcher-v1" in t for t in labels)
    assert win.controller.requests[PRIMARY].arch == "gestaltmatcher-v1"


def test_a_failed_model_load_keeps_the_current_model_and_maps(qtbot, gui_data, make_window, tmp_path) -> None:
    from gmxai_desktop.gui.controller import ModelRequest

    win = make_window(methods=["saliency"])
    open_data(qtbot, win, gui_data)
    adapter = win.controller.adapter
    errors: list[str] = []
    win.show_error = lambda title, msg: errors.append(msg)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"definitely not a checkpoint")
    with qtbot.waitSignal(win.all_results_shown, timeout=30_000):
        win.open_model(ModelRequest(str(broken)))
    assert errors and "broken.pt" in errors[0]
    assert win.controller.adapter is adapter and "tiny.pt" in win.model_label.text()
    assert_panels_match(win, gui_data.paths[0], ["saliency"])
