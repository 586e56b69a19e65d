"""The region × method table: does each map put its evidence where the clinician marked a feature?

Rows come from :func:`gmxai_desktop.core.analysis.region_metrics.compute_region_metrics` on the raw maps the
panels show (model input resolution), so the table, the CSV export and ``gmxai figure
--region-metrics`` agree to the last digit. The view only formats: shares as percentages,
enrichment as "× chance", the pointing game as hit/miss, undefined values as "—" with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.analysis.region_metrics import RegionMetric, compute_region_metrics, export_metrics_csv
from ..core.base.errors import GmxaiError

SORT_ROLE = Qt.ItemDataRole.UserRole + 1

COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("region", "Region", "The annotated region (its HPO term, or its note)"),
    ("method", "Method", "The attribution method"),
    ("target", "Class", "The class the map explains"),
    (
        "area_fraction",
        "Area",
        "Share of the image the region covers: the share of attribution expected by chance",
    ),
    (
        "mass_positive",
        "Positive mass",
        "Share of the map's positive evidence (for the class) that lies inside the region",
    ),
    (
        "enrichment_positive",
        "× chance",
        "Positive mass divided by area: 1 means chance level, 3 means three times more evidence inside "
        "the region than a map that ignores it would put there",
    ),
    (
        "mass_absolute",
        "Absolute mass",
        "Share of all attribution, positive and negative, that lies inside the region",
    ),
    (
        "pointing_hit",
        "Peak inside",
        "Pointing game: is the map's strongest positive pixel inside the region?",
    ),
)

Results = Sequence[Any]  # AttributionResult-like: .method, .map, .target_name


def _pct(v: float) -> str:
    return "—" if math.isnan(v) else f"{100.0 * v:.1f} %"


class RegionMetricsModel(QAbstractTableModel):
    """Rows of :class:`RegionMetric`, formatted; the raw numbers are kept for sorting and CSV."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[RegionMetric] = []
        self.colors: dict[str, str] = {}
        self.method_labels: dict[str, str] = {}

    def set_rows(
        self, rows: Sequence[RegionMetric], colors: dict[str, str], method_labels: dict[str, str]
    ) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.colors = dict(colors)
        self.method_labels = dict(method_labels)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 (Qt override)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][1]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][2]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][0]
        value = getattr(row, key)
        if role == SORT_ROLE:
            if key == "method":
                return self.method_labels.get(row.method, row.method)
            if isinstance(value, bool) or value is None:
                return -1 if value is None else int(value)
            if isinstance(value, float) and math.isnan(value):
                return -math.inf
            return value
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, key, value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, key, value)
        if role == Qt.ItemDataRole.DecorationRole and key == "region":
            color = self.colors.get(row.region_id)
            return QColor(color) if color else None
        if role == Qt.ItemDataRole.TextAlignmentRole and key not in ("region", "method", "target"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and key == "pointing_hit" and value is not None:
            return QColor("#2e7d32") if value else QColor("#c62828")
        return None

    def _display(self, row: RegionMetric, key: str, value: Any) -> str:
        if key == "method":
            return self.method_labels.get(row.method, row.method)
        if key in ("region", "target"):
            return str(value or "")
        if key == "pointing_hit":
            return "—" if value is None else ("hit" if value else "miss")
        if key.startswith("enrichment"):
            return "—" if math.isnan(value) else f"{value:.2f}×"
        return _pct(float(value))

    def _tooltip(self, row: RegionMetric, key: str, value: Any) -> str:
        if row.pixels == 0:
            return "The region covers no pixel of the map at the model's input resolution"
        if isinstance(value, float) and math.isnan(value):
            return "Not defined: the map has no positive attribution" if "positive" in key else "Not defined"
        if key == "region":
            term = f" ({row.hpo_id})" if row.hpo_id else ""
            return f"{row.region}{term}: {row.pixels} map pixels"
        return COLUMNS[[c[0] for c in COLUMNS].index(key)][2]


class RegionMetricsView(QWidget):
    """The table plus an Export CSV button; :meth:`update_from` recomputes from the core."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("region-metrics")
        self.model = RegionMetricsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.summary = QLabel()
        self.summary.setObjectName("metrics-summary")
        self.summary.setWordWrap(True)
        top.addWidget(self.summary, 1)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the table (all digits, one row per region and map) as CSV")
        self.export_button.clicked.connect(self.export_dialog)
        top.addWidget(self.export_button)
        col.addLayout(top)
        self.table = QTableView()
        self.table.setObjectName("metrics-table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # keep the document's region order
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)  # compact rows
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        col.addWidget(self.table, 1)
        self.last_folder = ""
        self._set_summary(0, 0, 0)

    @property
    def rows(self) -> list[RegionMetric]:
        return list(self.model.rows)

    def update_from(
        self,
        doc: Any,
        results: Results,
        *,
        colors: dict[str, str] | None = None,
        method_labels: dict[str, str] | None = None,
    ) -> None:
        """Recompute the table for ``doc``'s regions on ``results``' raw maps."""
        rows: list[RegionMetric] = []
        n_regions = len(doc) if doc is not None else 0
        if doc is not None and doc.alignment is not None and results:
            try:
                rows = compute_region_metrics(doc, list(results))
            except GmxaiError as exc:
                self.model.set_rows([], {}, {})
                self.summary.setText(str(exc))
                return
        self.model.set_rows(rows, colors or {}, method_labels or {})
        self.export_button.setEnabled(bool(rows))
        self._set_summary(n_regions, len(results), len(rows))

    def _set_summary(self, regions: int, maps: int, rows: int) -> None:
        if rows:
            self.summary.setText(
                f"{regions} region{'s' if regions != 1 else ''} × {maps} map{'s' if maps != 1 else ''}. "
                "Mass: share of the map's attribution inside the region; × chance: mass relative to the "
                "region's area."
            )
        elif regions == 0:
            self.summary.setText("Draw regions on the image to see how much of each map falls inside them.")
        else:
            self.summary.setText("Waiting for maps…")
        self.export_button.setEnabled(bool(rows))

    def export_dialog(self) -> None:
        name = "region-metrics.csv"
        start = str(Path(self.last_folder) / name) if self.last_folder else name
        path, _ = QFileDialog.getSaveFileName(self, "Export region metrics", start, "CSV files (*.csv)")
        if not path:
            return
        try:
            self.export_to(path)
        except GmxaiError as exc:
            QMessageBox.warning(self, "Cannot export", str(exc))

    def export_to(self, path: str | Path) -> Path:
        p = Path(path)
        if not p.suffix:
            p = p.with_suffix(".csv")
        export_metrics_csv(self.model.rows, p)
        self.last_folder = str(p.parent)
        return p


__all__ = ["COLUMNS", "RegionMetricsModel", "RegionMetricsView"]
