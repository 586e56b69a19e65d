"""Evaluate tab: the table equals the core's numbers, folder runs cancel, exports are written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import open_data, wait_idle  # noqa: E402

from gmxai_desktop.core.analysis.faithfulness import evaluate_image  # noqa: E402
from gmxai_desktop.core.analysis.faithfulness.evaluate import perturbed_preview  # noqa: E402
from gmxai_desktop.core.inputs.pipeline import prepare_file  # noqa: E402
from gmxai_desktop.gui.evaluate_view import install_evaluate  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


def _view(qtbot, gui_data, make_window):
    win = make_window(methods=["saliency"])
    view = install_evaluate(win)
    assert install_evaluate(win) is view
    open_data(qtbot, win, gui_data)
    wait_idle(qtbot, win)
    win.tabs.setCurrentWidget(view)
    view.set_methods(["saliency", "gradcam"])
    view.set_metrics(["deletion", "insertion", "perturbation"])
    view.steps.setValue(10)
    return win, view


def test_current_image_table_matches_core_and_exports(qtbot, gui_data, make_window, tmp_path: Path) -> None:
    win, view = _view(qtbot, gui_data, make_window)
    with qtbot.waitSignal(view.computed, timeout=120_000):
        view.compute()
    c = win.controller
    x = prepare_file(c.adapter, c.state.image, align=c.state.align).x
    metrics = ["deletion", "insertion", "perturbation"]
    ref = evaluate_image(c.adapter, x, ["saliency", "gradcam"], metrics=metrics, steps=10, seed=0)
    by_method = {view.table.item(r, 0).data(256): r for r in range(view.table.rowCount())}  # UserRole
    assert set(by_method) == {"saliency", "gradcam", "random"}
    for ms in ref.methods:
        shown = view.table.item(by_method[ms.method], 1).text()
        assert shown == f"{ms.deletion.auc:.3f}"
    # A row click shows the deletion input at 30 %: the image with the top 30 % pixels black.
    view.table.selectRow(by_method["gradcam"])
    assert view.preview.pixmap() is not None and not view.preview.pixmap().isNull()
    expected = perturbed_preview(ref.image, ref.by_method()["gradcam"].map, "deletion", 0.3)
    assert (expected == 0).all(axis=2).mean() >= 0.29
    fig = view.export_figure(tmp_path / "fig.svg")
    assert fig.read_text().startswith("<?xml") and "Creator" not in fig.read_text()[:400]
    scores, curves = view.export_csv(tmp_path / "scores.csv")
    rows = list(csv.DictReader(scores.open()))
    assert {r["method"] for r in rows} == {"saliency", "gradcam", "random"}
    assert np.isclose(float(next(r for r in rows if r["method"] == "gradcam")["deletion_auc"]),
                      ref.by_method()["gradcam"].deletion.auc)
    assert curves.read_text().splitlines()[0] == "image,method,metric,fraction,score"


def test_folder_run_can_be_cancelled(qtbot, gui_data, make_window) -> None:
    win, view = _view(qtbot, gui_data, make_window)
    view.scope.setCurrentIndex(1)
    view.compute()
    assert view.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: view.progress.value() > 0, timeout=60_000)
    view.cancel()
    wait_idle(qtbot, win)
    assert view.run_btn.isEnabled() and not view._active
    with qtbot.waitSignal(view.computed, timeout=300_000):
        view.compute()
    assert len(view.results) == len(gui_data.paths)
