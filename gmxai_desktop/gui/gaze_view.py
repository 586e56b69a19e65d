"""The Gaze dock: study settings and the metrics tables (this image, the folder).

Pure view: it shows rows it is given and emits what the user asked for; the gaze feature
(:mod:`gmxai_desktop.gui.gaze_integration`) computes them in the background.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.gaze.metrics import HIGHER_IS_BETTER, METRIC_NAMES
from ..core.gaze.study import CEILING, FLOOR

REFERENCE_LABELS = {CEILING: "human ceiling (leave-one-out)", FLOOR: "centre-bias floor"}
METRIC_TIPS = {
    "NSS": "normalised scanpath saliency: mean z-scored map value at the fixations",
    "AUC_Judd": "ROC area, fixated pixels against all others (0.5 = chance)",
    "sAUC": "shuffled AUC: negatives are the fixations on the other images (needs the folder)",
    "CC": "Pearson correlation of the map and the fixation density",
    "SIM": "histogram intersection of the map and the density (1 = identical)",
    "KLD": "KL divergence of the map from the density (lower is better)",
    "IG": "information gain over the centre bias, bits per fixation",
    "IoU": "overlap of the top 10 % of the map and of the density",
}


class MetricsTable(QTableWidget):
    """Methods as rows, metrics as columns; reference rows in italics and shaded."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 1 + len(METRIC_NAMES), parent)
        self.setHorizontalHeaderLabels(["method", *METRIC_NAMES])
        for i, name in enumerate(METRIC_NAMES, start=1):
            arrow = "↑" if HIGHER_IS_BETTER[name] else "↓"
            self.horizontalHeaderItem(i).setText(f"{name} {arrow}")
            self.horizontalHeaderItem(i).setToolTip(METRIC_TIPS[name])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for i in range(1, self.columnCount()):
            hh.setSectionResizeMode(i, QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)

    def set_rows(self, rows: Sequence[tuple[str, Mapping[str, float], str]]) -> None:
        """``rows``: (method label or reference id, {metric: value}, tooltip). The ceiling and floor
        go first, so the band a method has to fall into is in view even in a short dock."""
        rows = sorted(rows, key=lambda r: (r[0] != CEILING, r[0] != FLOOR))
        self.setRowCount(len(rows))
        italic = QFont(self.font())
        italic.setItalic(True)
        for r, (method, values, tip) in enumerate(rows):
            ref = method in REFERENCE_LABELS
            label = QTableWidgetItem(REFERENCE_LABELS.get(method, method))
            label.setToolTip(tip)
            cells = [label]
            for name in METRIC_NAMES:
                v = values.get(name, math.nan)
                item = QTableWidgetItem("–" if not math.isfinite(v) else f"{v:.3f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(tip)
                cells.append(item)
            for c, item in enumerate(cells):
                if ref:
                    item.setFont(italic)
                    shade = QColor(46, 125, 50, 40) if method == CEILING else QColor(128, 128, 128, 40)
                    item.setBackground(shade)
                self.setItem(r, c, item)


class GazeView(QWidget):
    """Settings, the two tables, and the folder study's progress."""

    settings_changed = Signal()
    compute_folder = Signal()
    cancel_folder = Signal()
    export_csv = Signal()
    toggles_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(2)
        row = QHBoxLayout()
        self.source_label = QLabel("no fixations loaded (File › Load fixations…)")
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.source_label, 1)
        self.show_points = QCheckBox("fixations")
        self.show_points.setChecked(True)
        self.show_points.setToolTip("Draw the fixations on every panel (size: duration, colour: observer)")
        self.show_density = QCheckBox("density")
        self.show_density.setToolTip("Draw the fixation density over every panel")
        for box in (self.show_points, self.show_density):
            box.toggled.connect(self.toggles_changed)
            row.addWidget(box)
        row.addWidget(QLabel("σ"))
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.5, 50.0)
        self.sigma.setSingleStep(0.5)
        self.sigma.setValue(4.0)
        self.sigma.setSuffix(" px")
        self.sigma.setToolTip("Gaussian σ of the fixation density in model-grid pixels (the same for "
                              "every method)")
        row.addWidget(self.sigma)
        self.sign = QComboBox()
        self.sign.addItem("positive part", "positive")
        self.sign.addItem("absolute value", "abs")
        self.sign.setToolTip("Which part of each attribution map is compared with the gaze")
        row.addWidget(self.sign)
        self.sigma.valueChanged.connect(self.settings_changed)
        self.sign.currentIndexChanged.connect(self.settings_changed)
        lay.addLayout(row)

        self.tabs = QTabWidget()
        self.image_table = MetricsTable()
        self.folder_table = MetricsTable()
        self.tabs.addTab(self.image_table, "This image (all observers)")
        folder = QWidget()
        fl = QVBoxLayout(folder)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.folder_table, 1)
        brow = QHBoxLayout()
        self.folder_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(12)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.compute_btn = QPushButton("Compute folder table")
        self.compute_btn.setToolTip("Compute every selected method on every image with fixations "
                                    "(in the background)")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.export_btn = QPushButton("Save metrics.csv…")
        self.export_btn.setEnabled(False)
        self.compute_btn.clicked.connect(self.compute_folder)
        self.cancel_btn.clicked.connect(self.cancel_folder)
        self.export_btn.clicked.connect(self.export_csv)
        brow.addWidget(self.folder_label, 1)
        brow.addWidget(self.progress, 1)
        for b in (self.compute_btn, self.cancel_btn, self.export_btn):
            brow.addWidget(b)
        fl.addLayout(brow)
        self.tabs.addTab(folder, "Folder (mean over images)")
        lay.addWidget(self.tabs, 1)

    @property
    def sigma_px(self) -> float:
        return float(self.sigma.value())

    @property
    def sign_mode(self) -> str:
        return str(self.sign.currentData())

    def set_folder_busy(self, busy: bool, done: int = 0, total: int = 0) -> None:
        self.compute_btn.setEnabled(not busy)
        self.cancel_btn.setEnabled(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setMaximum(max(total, 1))
            self.progress.setValue(done)
            self.folder_label.setText(f"computing… {done}/{total} images")
