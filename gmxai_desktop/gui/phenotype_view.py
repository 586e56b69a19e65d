"""The "Phenotype" panel: a syndrome's HPO terms, expected vs observed weight per facial region.

One widget serves the current image (a dock) and the syndrome-wise composites (a tab). It only
renders a :class:`~gmxai_desktop.core.phenotype.report.SyndromeReport`; the numbers come from core
(:mod:`gmxai_desktop.core.phenotype`), so the app, ``gmxai hpo-regions`` and the exported figure
agree. Observed bars are the method's positive attribution share renormalised over the face, the
same scale as the expected weights (both sum to 1 over the regions).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.phenotype.atlas import REGION_SHORT, REGIONS
from ..core.phenotype.comparison import plain_summary
from ..core.phenotype.report import SyndromeReport

EXPECTED_BRUSH = QColor(31, 78, 121)
OBSERVED_BRUSH = QColor(214, 39, 40)
SHORT = REGION_SHORT


class PhenotypePanel(QWidget):
    """Terms, paired bars and plain-words lists for one syndrome report; figure export."""

    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: SyndromeReport | None = None
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.method = QComboBox()
        self.method.setToolTip("Which attribution map the observed bars come from")
        self.method.currentIndexChanged.connect(lambda _i: self._refresh())
        self.export = QPushButton("Export figure…")
        self.export.setToolTip("Save these bars as PNG, SVG or PDF (no metadata)")
        self.export.clicked.connect(self.export_figure)
        top = QHBoxLayout()
        top.addWidget(QLabel("Map:"))
        top.addWidget(self.method, 1)
        top.addWidget(self.export)

        self.legend = QLabel(
            f"<span style='color:{EXPECTED_BRUSH.name()}'>&#9632;</span> expected (HPO) &nbsp; "
            f"<span style='color:{OBSERVED_BRUSH.name()}'>&#9632;</span> observed (map) &nbsp; "
            "<b>|</b> chance (area)")
        self.legend.setWordWrap(True)
        self.legend.setToolTip("Expected: frequency-weighted HPO features per region. Observed: the map's "
                               "positive attribution per region, as a share of the face. Chance: the "
                               "region's share of the face area")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(190)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.invertY(True)
        self.plot.getPlotItem().setLabel("bottom", "share of the face")
        left = self.plot.getAxis("left")
        left.setTicks([[(i, SHORT[r]) for i, r in enumerate(REGIONS)]])
        for a in ("left", "bottom"):
            self.plot.getAxis(a).setPen("k")
            self.plot.getAxis(a).setTextPen("k")
            self.plot.getAxis(a).enableAutoSIPrefix(False)
        self._bars: list[pg.BarGraphItem] = []

        self.terms = QTreeWidget()
        self.terms.setHeaderLabels(["HPO feature", "Frequency", "Region"])
        self.terms.setRootIsDecorated(False)
        self.terms.setMinimumHeight(90)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addLayout(top)
        lay.addWidget(self.summary)  # the plain words first: they are what a clinician reads
        lay.addWidget(self.legend)
        lay.addWidget(self.plot, 3)
        lay.addWidget(self.terms, 2)
        self.set_report(None, "Open an image to compare its map with its syndrome's known features.")

    # ---- state ---------------------------------------------------------------------------------
    def set_report(self, report: SyndromeReport | None, heading: str) -> None:
        """Show ``report`` under ``heading`` (rich text); None shows only the heading."""
        self.report = report
        self.title.setText(heading)
        current = self.method.currentText()
        self.method.blockSignals(True)
        self.method.clear()
        methods = list(report.comparisons) if report is not None else []
        self.method.addItems(methods)
        if current in methods:
            self.method.setCurrentText(current)
        self.method.blockSignals(False)
        self.method.setEnabled(bool(methods))
        self.export.setEnabled(report is not None)
        self.terms.clear()
        if report is not None:
            for t in report.terms.facial_terms:
                item = QTreeWidgetItem([t.name, t.frequency.describe(),
                                        ", ".join(SHORT.get(r, "whole face") for r in t.regions)])
                item.setToolTip(0, t.id)
                self.terms.addTopLevelItem(item)
            for col in range(3):
                self.terms.resizeColumnToContents(col)
            self.terms.setColumnWidth(0, min(self.terms.columnWidth(0), 200))
        self._refresh()

    def _refresh(self) -> None:
        for b in self._bars:
            self.plot.removeItem(b)
        self._bars = []
        rep = self.report
        if rep is None:
            self.summary.setText("")
            return
        y = np.arange(len(REGIONS), dtype=float)
        exp = [rep.expected[r] for r in REGIONS]
        self._bars.append(pg.BarGraphItem(x0=0, y=y - 0.2, width=exp, height=0.38, brush=EXPECTED_BRUSH,
                                          pen=None))
        cmp = rep.comparisons.get(self.method.currentText())
        obs: list[float] = []
        if cmp is not None:
            face = sum(v for v in cmp.share.values() if math.isfinite(v))
            obs = [cmp.share[r] / face if face > 0 else 0.0 for r in REGIONS]
            self._bars.append(pg.BarGraphItem(x0=0, y=y + 0.2, width=obs, height=0.38, brush=OBSERVED_BRUSH,
                                              pen=None))
        chance = [rep.chance[r] for r in REGIONS]
        self._bars.append(pg.ScatterPlotItem(x=chance, y=y, symbol="|", size=18, pen=pg.mkPen("k", width=2)))
        for b in self._bars:
            self.plot.addItem(b)
        self.plot.setXRange(0, max([0.05, *exp, *obs, *chance]) * 1.08, padding=0)
        self.plot.setYRange(-0.6, len(REGIONS) - 0.4, padding=0)
        if cmp is None:
            self.summary.setText("No attribution map yet: the bars show what HPO expects.")
        else:
            self.summary.setText("<br>".join(html.escape(s) for s in plain_summary(cmp)))

    # ---- export --------------------------------------------------------------------------------
    def export_figure(self, path: str | None = None) -> Path | None:
        """Save the report's bar chart (core's figure, so it matches ``gmxai hpo-regions --out``)."""
        from ..core.base.errors import GmxaiError
        from ..core.output.figure import save_figure
        from ..core.phenotype.report import bar_figure, safe_name

        if self.report is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export phenotype figure",
                                                  f"{safe_name(self.report.name)}_regions.png",
                                                  "Images (*.png *.svg *.pdf)")
            if not path:
                return None
        method = self.method.currentText()
        try:
            return save_figure(bar_figure(self.report, [method] if method else []), path)
        except (GmxaiError, OSError) as exc:
            self.export_failed.emit(str(exc))
            return None
