"""Two models side by side in the Composites tab: the class-imbalance study in one view.

The numbers are :func:`gmxai_desktop.core.analysis.model_comparison.agreement_rows`, the same
rows ``gmxai compare-models`` writes, so the app and the CLI cannot disagree. The scatter sets
each syndrome's agreement (Spearman ρ of the two mean maps) against model B's training-set size
on a log axis: if small classes are explained differently, their points sit low on the left.
Clicking a point (or a table row) asks the Composites tab to open that syndrome.

``install_model_comparison(window)`` adds Analysis › "Compare with demo-imbalanced": with the demo
open it needs no configuration (loads the bundled ``demo-imbalanced`` as model B and computes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.analysis.composites import CompositeResult
from ..core.analysis.model_comparison import AgreementRow, agreement_rows

HEADERS = ("Syndrome", "Train A", "Train B", "Test images", "Spearman ρ", "Top-10 % overlap",
           "Top-1 A", "Top-1 B")
COMPARE_MODEL = "demo-imbalanced"


def _cell(value: Any, kind: str) -> QStandardItem:
    item = QStandardItem()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        item.setText("–" if value is None else "n/a")
    elif kind == "int":
        item.setData(int(value), Qt.ItemDataRole.EditRole)
    elif kind == "pct":
        item.setText(f"{float(value):.0%}")
    elif kind == "rho":
        item.setText(f"{float(value):+.3f}")
    else:
        item.setText(str(value))
    item.setEditable(False)
    return item


class AgreementScatter(pg.PlotWidget):
    """Spearman ρ against model B's training images (log x); a click emits the syndrome's name."""

    class_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setMinimumSize(220, 120)
        self.setLogMode(x=True, y=False)
        self.setLabel("bottom", "training images of the syndrome, model B (log)")
        self.setLabel("left", "Spearman ρ, A vs B")
        self.setYRange(-1.05, 1.05)
        self.showGrid(x=True, y=True, alpha=0.3)
        # Fixed 1-2-5 ticks: pyqtgraph's automatic log ticks overlap in a narrow plot.
        self.getAxis("bottom").setTicks([[(math.log10(v), str(v)) for v in (1, 2, 5, 10, 20, 50, 100, 200,
                                                                            500, 1000, 2000, 5000)]])
        self.getPlotItem().setMenuEnabled(False)
        self.scatter = pg.ScatterPlotItem(size=12, pen=pg.mkPen("k"), brush=pg.mkBrush(40, 110, 200, 200),
                                          hoverable=True, hoverSize=16)
        self.addItem(self.scatter)
        self.scatter.sigClicked.connect(self._clicked)
        self._labels: list[pg.TextItem] = []
        self.points: list[tuple[float, float, str]] = []  # (size, rho, class) as plotted

    def set_rows(self, rows: list[AgreementRow]) -> None:
        for t in self._labels:
            self.removeItem(t)
        self._labels = []
        self.points = [(float(r.train_images_b), r.spearman, r.class_name) for r in rows
                       if r.train_images_b and math.isfinite(r.spearman)]
        if not self.points:
            self.scatter.setData([], [])
            return
        xs = np.log10([p[0] for p in self.points])  # log mode: items take log10 coordinates
        self.scatter.setData(x=xs, y=[p[1] for p in self.points], data=[p[2] for p in self.points])
        # Room on the right for the largest class's label, which is drawn right of its point.
        self.setXRange(float(xs.min()) - 0.15, float(xs.max()) + 0.45, padding=0)
        for x, (_, y, name) in zip(xs, self.points, strict=True):
            label = pg.TextItem(name, color=(60, 60, 60), anchor=(0, 1))
            label.setPos(float(x), float(y))
            self.addItem(label)
            self._labels.append(label)

    def _clicked(self, _item: Any, points: Any, *_rest: Any) -> None:
        if len(points):
            self.class_clicked.emit(str(points[0].data()))


class ModelComparisonBox(QGroupBox):
    """Per-syndrome agreement table and the agreement-vs-class-size scatter for one method."""

    class_clicked = Signal(str)

    def __init__(self, method_labels: Mapping[str, str], parent: QWidget | None = None) -> None:
        super().__init__("Model A vs model B: agreement per syndrome", parent)
        self.method_labels = dict(method_labels)
        self.rows: list[AgreementRow] = []
        self.method = QComboBox()
        self.method.setToolTip("The attribution method whose syndrome-wise maps are compared")
        self.note = QLabel(" ")
        self.note.setWordWrap(True)
        self.table = QTableView()
        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setModel(self.model)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setMinimumSize(200, 100)
        self.scatter = AgreementScatter()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.scatter)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(split, 1)
        self._all: list[AgreementRow] = []
        self.method.currentIndexChanged.connect(lambda *_: self._show())
        self.scatter.class_clicked.connect(self.class_clicked)
        self.table.clicked.connect(lambda idx: self.class_clicked.emit(self.rows[idx.row()].class_name)
                                   if 0 <= idx.row() < len(self.rows) else None)

    def set_results(self, first: CompositeResult, second: CompositeResult, *,
                    train_a: Mapping[str, int] | None, train_b: Mapping[str, int] | None,
                    top1_a: Mapping[str, float] | None, top1_b: Mapping[str, float] | None) -> None:
        methods = [m for m in first.methods if m in second.methods]
        self._all = agreement_rows(first, second, train_a=train_a, train_b=train_b, top1_a=top1_a,
                                   top1_b=top1_b, methods=methods)
        current = self.method.currentData()
        self.method.blockSignals(True)
        self.method.clear()
        for m in methods:
            self.method.addItem(self.method_labels.get(m, m), m)
        if current in methods:
            self.method.setCurrentIndex(methods.index(current))
        self.method.blockSignals(False)
        self._show()

    def clear(self) -> None:
        self._all = []
        self.method.clear()
        self._show()

    def _show(self) -> None:
        method = self.method.currentData()
        self.rows = [r for r in self._all if r.method == method]
        self.model.removeRows(0, self.model.rowCount())
        for r in self.rows:
            self.model.appendRow([
                _cell(r.class_name, "text"), _cell(r.train_images_a, "int"), _cell(r.train_images_b, "int"),
                _cell(r.test_images, "int"), _cell(r.spearman, "rho"), _cell(r.top10_overlap, "pct"),
                _cell(r.top1_a, "pct"), _cell(r.top1_b, "pct"),
            ])
        self.scatter.set_rows(self.rows)
        if not self.rows:
            self.note.setText("Compute composites with a comparison model loaded to compare the two.")
            return
        sized = [(r.train_images_b, r.spearman) for r in self.rows
                 if r.train_images_b and math.isfinite(r.spearman)]
        trend = ""
        if len(sized) >= 3:
            from ..core.analysis.metrics import spearman_rank_correlation

            s, v = zip(*sized, strict=True)
            rho = spearman_rank_correlation(np.array([s], float), np.array([v], float))
            if math.isfinite(rho):
                trend = f" Class size vs ρ across syndromes: Spearman {rho:+.2f}."
        self.note.setText(
            "Spearman ρ and top-10 % overlap of the two models' mean maps (unrelated maps: ρ ≈ 0, "
            "overlap ≈ 10 %)." + trend + " Click a point or a row to open that syndrome; "
            "Show › Models side by side shows every syndrome's maps."
        )


def install_model_comparison(window: Any) -> QAction:
    """Analysis › "Compare with demo-imbalanced": load it as model B, show the comparison, compute."""
    from .controller import COMPARE, ModelRequest
    from .syndrome_integration import install_syndrome_views

    existing = getattr(window, "_gmxai_compare_action", None)
    if existing is not None:
        return existing
    views = install_syndrome_views(window)
    composites = views.composites
    controller = window.controller
    act = QAction(f"Compare with {COMPARE_MODEL}", window)
    act.setToolTip("Load the bundled demo model trained on a long-tailed class distribution as model B "
                   "and compare the syndrome-wise maps of both models")
    pending = {"compute": False}

    def start() -> None:
        window.tabs.setCurrentWidget(composites)
        composites.show_model_comparison()
        compare = controller.compare_adapter
        if compare is not None and COMPARE_MODEL in str(getattr(compare, "source", "")):
            composites.compute()
            return
        pending["compute"] = True
        controller.open_model(ModelRequest(COMPARE_MODEL), COMPARE)

    def on_loaded(role: str, adapter: Any) -> None:
        if role == COMPARE and adapter is not None and pending["compute"]:
            pending["compute"] = False
            composites.compute()

    controller.model_loaded.connect(on_loaded)
    act.triggered.connect(start)
    window.menu("Analysis").addAction(act)
    window._gmxai_compare_action = act
    return act
