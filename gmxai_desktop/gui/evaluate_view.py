"""The "Evaluate" tab: which map can be trusted? Faithfulness of every method, with a chance row.

For the current image or the whole open folder, one background job (the controller's worker,
with progress and cancel) computes the maps and scores them with
:func:`gmxai_desktop.core.analysis.faithfulness.evaluate_image`, the same function ``gmxai
faithfulness`` uses. The tab shows the mean deletion and insertion curves per method (areas
shaded), the MPRT curve per method, and a ranking table with 95 % bootstrap intervals including
the uniformly random map. Clicking a row shows what the metric fed the model at the chosen
fraction, so a user sees what "deleting 30 %" means on this face. Figure (PNG/SVG/PDF, no
metadata) and CSV export reuse the CLI's writers.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .widgets import MethodChecklist
from .worker import PRIORITY_COMPARE

SCOPES = (("current", "Current image"), ("folder", "Whole folder"))
METRIC_BOXES = (
    ("deletion", "Deletion", True),
    ("insertion", "Insertion", True),
    ("road", "ROAD", True),
    ("perturbation", "Pixel perturbation", True),
    ("mprt", "MPRT (slow: maps per layer)", False),
)
COLUMNS = (
    ("deletion_auc", "Deletion AUC ↓"),
    ("insertion_auc", "Insertion AUC ↑"),
    ("road", "ROAD ↑"),
    ("perturbation", "Perturbation ↑"),
    ("mprt", "MPRT ρ ↓"),
)
PREVIEW_METRICS = (("deletion", "Deletion"), ("insertion", "Insertion"), ("road", "ROAD (MoRF)"),
                   ("perturbation", "Pixel perturbation"))


@dataclass(frozen=True)
class EvaluateJobKey:
    token: int


class _Relay(QObject):
    """Carries per-image results from the worker thread to the GUI thread (queued signal)."""

    partial = Signal(object, object)  # key, list[EvaluatedImage] snapshot


def _qcolor(rgba: Any) -> QColor:
    r, g, b, a = (round(255 * v) for v in rgba)
    return QColor(r, g, b, a)


def _plot(title: str, xlabel: str, ylabel: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="w")
    w.setTitle(title, color="#222", size="10pt")
    w.setLabel("bottom", xlabel)
    w.setLabel("left", ylabel)
    w.showGrid(x=True, y=True, alpha=0.25)
    w.setMinimumHeight(150)
    return w


class EvaluateView(QWidget):
    """See the module docstring. ``results`` holds the last finished (or partial) run."""

    computed = Signal()

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core.attribution.methods import list_methods

        self.controller = controller
        self.results: list[Any] = []  # list[EvaluatedImage]
        self._token = 0
        self._active: set[EvaluateJobKey] = set()
        self._relay = _Relay(self)
        self._relay.partial.connect(self._on_partial)
        self._labels = {m.name: m.label for m in list_methods()}
        self._labels["random"] = "Random map (chance)"

        # ---- controls ------------------------------------------------------------------------
        self.scope = QComboBox()
        for key, text in SCOPES:
            self.scope.addItem(text, key)
        self.methods = MethodChecklist("Methods to evaluate; a random map is always added as the chance row")
        self.metric_boxes: dict[str, QCheckBox] = {}
        metrics_box = QGroupBox("Metrics")
        mlay = QVBoxLayout(metrics_box)
        mlay.setContentsMargins(6, 4, 6, 4)
        mlay.setSpacing(2)
        for key, text, on in METRIC_BOXES:
            cb = QCheckBox(text)
            cb.setChecked(on)
            self.metric_boxes[key] = cb
            mlay.addWidget(cb)
        self.steps = QSpinBox()
        self.steps.setRange(2, 10000)
        self.steps.setValue(100)
        self.steps.setToolTip("Deletion/insertion steps: ceil(H·W / steps) pixels per step")
        self.run_btn = QPushButton("Evaluate")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("Choose methods and press Evaluate.")
        self.status.setWordWrap(True)
        self.export_fig_btn = QPushButton("Export figure…")
        self.export_csv_btn = QPushButton("Export CSV…")
        for b in (self.export_fig_btn, self.export_csv_btn):
            b.setEnabled(False)

        left = QWidget()
        left.setMaximumWidth(260)
        llay = QVBoxLayout(left)
        llay.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("Evaluate", self.scope)
        form.addRow("Steps", self.steps)
        llay.addLayout(form)
        llay.addWidget(QLabel("Methods"))
        llay.addWidget(self.methods, 1)
        llay.addWidget(metrics_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_btn)
        buttons.addWidget(self.cancel_btn)
        llay.addLayout(buttons)
        llay.addWidget(self.progress)
        llay.addWidget(self.status)
        exports = QHBoxLayout()
        exports.addWidget(self.export_fig_btn)
        exports.addWidget(self.export_csv_btn)
        llay.addLayout(exports)

        # ---- plots -----------------------------------------------------------------------------
        self.deletion_plot = _plot("Deletion (lower area = more faithful)", "fraction removed", "probability")
        self.insertion_plot = _plot("Insertion (higher area = more faithful)", "fraction restored",
                                    "probability")
        self.mprt_plot = _plot("MPRT: layers randomised from the top", "layers randomised", "Spearman ρ")
        for p in (self.deletion_plot, self.insertion_plot):
            p.setXRange(0, 1, padding=0.02)
            p.setYRange(0, 1, padding=0.02)
        plots = QWidget()
        play = QHBoxLayout(plots)
        play.setContentsMargins(0, 0, 0, 0)
        for p in (self.deletion_plot, self.insertion_plot, self.mprt_plot):
            play.addWidget(p)

        # ---- ranking table and preview ---------------------------------------------------------
        self.table = QTableWidget(0, len(COLUMNS) + 1)
        self.table.setHorizontalHeaderLabels(["Method"] + [c[1] for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for i in range(1, len(COLUMNS) + 1):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Mean ± half-width of the 95 % bootstrap interval over images. "
                              "Click a row to see the perturbed images.")
        self.rank_by = QComboBox()
        for key, title in COLUMNS:
            self.rank_by.addItem(title, key)
        self.rank_by.setCurrentIndex(2)  # ROAD: its imputation avoids the black-pixel artefacts
        self.rank_by.setToolTip("The metric the table is sorted by, best first")
        self.ranking_note = QLabel("")
        self.ranking_note.setWordWrap(True)

        self.preview_metric = QComboBox()
        for key, text in PREVIEW_METRICS:
            self.preview_metric.addItem(text, key)
        self.preview_image = QComboBox()
        self.fraction = QSlider(Qt.Orientation.Horizontal)
        self.fraction.setRange(0, 100)
        self.fraction.setValue(30)
        self.fraction_label = QLabel("30 %")
        self.preview = QLabel("Click a row of the table.")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(160, 160)
        self.preview.setStyleSheet("background: #18181c; color: #ddd;")
        prev_box = QGroupBox("What the metric fed the model")
        pform = QFormLayout(prev_box)
        pform.addRow("Metric", self.preview_metric)
        pform.addRow("Image", self.preview_image)
        frow = QHBoxLayout()
        frow.addWidget(self.fraction, 1)
        frow.addWidget(self.fraction_label)
        pform.addRow("Fraction", frow)
        pform.addRow(self.preview)
        prev_box.setMaximumWidth(300)

        table_box = QWidget()
        tlay = QVBoxLayout(table_box)
        tlay.setContentsMargins(0, 0, 0, 0)
        rank_row = QHBoxLayout()
        rank_row.addWidget(QLabel("Rank by"))
        rank_row.addWidget(self.rank_by)
        rank_row.addStretch(1)
        tlay.addLayout(rank_row)
        tlay.addWidget(self.table, 1)
        tlay.addWidget(self.ranking_note)
        bottom = QWidget()
        blay = QHBoxLayout(bottom)
        blay.setContentsMargins(0, 0, 0, 0)
        blay.addWidget(table_box, 1)
        blay.addWidget(prev_box)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(plots)
        split.addWidget(bottom)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        outer = QHBoxLayout(self)
        outer.addWidget(left)
        outer.addWidget(split, 1)

        # ---- wiring ----------------------------------------------------------------------------
        self.run_btn.clicked.connect(self.compute)
        self.cancel_btn.clicked.connect(self.cancel)
        self.export_fig_btn.clicked.connect(self._export_figure_dialog)
        self.export_csv_btn.clicked.connect(self._export_csv_dialog)
        self.table.itemSelectionChanged.connect(self._refresh_preview)
        self.rank_by.currentIndexChanged.connect(lambda *_: self._show(self.results))
        self.preview_metric.currentIndexChanged.connect(lambda *_: self._refresh_preview())
        self.preview_image.currentIndexChanged.connect(lambda *_: self._refresh_preview())
        self.fraction.valueChanged.connect(self._on_fraction)
        controller.worker.listen(self)
        controller.model_loaded.connect(lambda *_: self._clear("The model changed: evaluate again."))
        self.set_methods(list(getattr(controller.state, "methods", []))[:4] or ["gradcam", "saliency"])

    # ---- selection -----------------------------------------------------------------------------
    def set_methods(self, names: list[str]) -> None:
        self.methods.set_checked(names)

    def selected_methods(self) -> list[str]:
        return self.methods.checked()

    def selected_metrics(self) -> list[str]:
        return [k for k, cb in self.metric_boxes.items() if cb.isChecked()]

    def set_metrics(self, names: list[str]) -> None:
        for k, cb in self.metric_boxes.items():
            cb.setChecked(k in names)

    # ---- computing -----------------------------------------------------------------------------
    def compute(self) -> None:
        """Queue one evaluation job for the current image or every image of the open folder."""
        c = self.controller
        methods, metrics = self.selected_methods(), self.selected_metrics()
        if c.adapter is None:
            self.status.setText("Load a model first.")
            return
        if not methods or not metrics:
            self.status.setText("Tick at least one method and one metric.")
            return
        scope = self.scope.currentData()
        paths = list(c.paths) if scope == "folder" else ([c.state.image] if c.state.image else [])
        if not paths:
            self.status.setText("Open an image or a folder first.")
            return
        self.cancel()
        self._token += 1
        key = EvaluateJobKey(self._token)
        self._active.add(key)
        params = {m: p for m, p in c.state.param_overrides.items() if m in methods and p}
        c.worker.submit(key, self._job(key, c.adapter, paths, methods, metrics, params or None,
                                       c.state.target, c.state.align, self.steps.value()),
                        PRIORITY_COMPARE, "faithfulness")
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"Evaluating {len(methods)} methods on {len(paths)} image(s)…")

    def _job(self, key: EvaluateJobKey, adapter: Any, paths: list[Path], methods: list[str],
             metrics: list[str], params: dict | None, target: str, align: str, steps: int) -> Any:
        from ..core.analysis.faithfulness import evaluate_image
        from ..core.analysis.faithfulness.report import EvaluatedImage
        from ..core.base.errors import Cancelled, GmxaiError
        from ..core.inputs.pipeline import prepare_file

        relay = self._relay

        def run(job: Any) -> dict[str, Any]:
            done: list[EvaluatedImage] = []
            failed: list[tuple[str, str]] = []
            n = len(paths)
            for i, path in enumerate(paths):
                sub = job.sub(i / n, (i + 1) / n, prefix=f"image {i + 1}/{n}, ")
                try:
                    prep = prepare_file(adapter, path, align=align)
                    ev = evaluate_image(adapter, prep.x, methods, metrics=metrics, target=target,
                                        params=params, steps=steps, seed=i, job=sub)
                except Cancelled:
                    raise
                except GmxaiError as exc:
                    if n == 1:
                        raise
                    failed.append((Path(path).name, str(exc)))
                    continue
                done.append(EvaluatedImage(name=Path(path).name, evaluation=ev))
                relay.partial.emit(key, list(done))
            return {"results": done, "failed": failed}

        return run

    def cancel(self) -> None:
        active = set(self._active)
        if not active:
            return
        self.controller.worker.cancel_where(lambda k: k in active)
        self._active.clear()
        self._idle()
        self.status.setText("Cancelled; the images finished so far are shown.")

    def _idle(self) -> None:
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)

    def _mine(self, key: Hashable) -> bool:
        return isinstance(key, EvaluateJobKey) and key in self._active

    def _on_progress(self, key: Hashable, fraction: float, message: str) -> None:
        if self._mine(key):
            self.progress.setValue(int(fraction * 1000))
            self.status.setText(message)

    def _on_partial(self, key: Hashable, results: list) -> None:
        if self._mine(key):
            self._show(results)

    def _on_finished(self, key: Hashable, result: Any, _seconds: float) -> None:
        if not self._mine(key):
            return
        self._active.discard(key)
        self._idle()
        self.progress.setValue(1000)
        self._show(result["results"])
        failed = result["failed"]
        text = f"Done: {len(self.results)} image(s)."
        if failed:
            text += f" {len(failed)} failed ({failed[0][0]}: {failed[0][1]})."
        self.status.setText(text)
        self.computed.emit()

    def _on_failed(self, key: Hashable, message: str) -> None:
        if self._mine(key):
            self._active.discard(key)
            self._idle()
            self.status.setText(f"Evaluation failed: {message}")

    def _on_cancelled(self, key: Hashable) -> None:
        if self._mine(key):
            self._active.discard(key)
            self._idle()

    # ---- display -------------------------------------------------------------------------------
    def _clear(self, message: str) -> None:
        self.cancel()
        self._show([])
        self.status.setText(message)

    def _show(self, results: list) -> None:
        from ..core.analysis.faithfulness.report import mean_curve, mean_mprt, summary_table
        from ..core.output.faithfulness_figure import method_colours

        self.results = list(results)
        have = bool(self.results)
        self.export_fig_btn.setEnabled(have)
        self.export_csv_btn.setEnabled(have)
        summ = summary_table(self.results) if have else {}
        colours = {m: _qcolor(c) for m, c in method_colours(list(summ)).items()}
        for plot, kind in ((self.deletion_plot, "deletion"), (self.insertion_plot, "insertion")):
            plot.clear()
            for m in summ:
                mc = mean_curve(self.results, m, kind)
                if mc is None:
                    continue
                col = colours[m]
                fill = QColor(col)
                fill.setAlpha(28)
                style = Qt.PenStyle.DashLine if m == "random" else Qt.PenStyle.SolidLine
                plot.plot(mc[0], mc[1], pen=pg.mkPen(col, width=2, style=style), fillLevel=0.0,
                          brush=pg.mkBrush(fill), name=self._labels.get(m, m))
        self.mprt_plot.clear()
        for m in summ:
            mm = mean_mprt(self.results, m)
            if mm is not None:
                steps = list(range(1, len(mm[1]) + 1))
                self.mprt_plot.plot(steps, mm[1], pen=pg.mkPen(colours[m], width=2), symbol="o",
                                    symbolSize=4, symbolBrush=colours[m], name=self._labels.get(m, m))
        self._fill_table(summ, colours)
        current = self.preview_image.currentText()
        self.preview_image.blockSignals(True)
        self.preview_image.clear()
        for r in self.results:
            self.preview_image.addItem(r.name)
        if current:
            self.preview_image.setCurrentText(current)
        self.preview_image.blockSignals(False)
        self._refresh_preview()

    def _fill_table(self, summ: dict, colours: dict[str, QColor]) -> None:
        from ..core.analysis.faithfulness.aggregate import ranking

        selected = self._selected_method()
        key = self.rank_by.currentData()
        if not any(s.get(key) is not None and s[key].n for s in summ.values()):
            key = next((k for k, _t in COLUMNS if any(s.get(k) is not None and s[k].n
                                                       for s in summ.values())), key)
        order = ranking(summ, key) if summ else []
        self.table.setRowCount(len(order))
        flagged = {r["method"] for r in self._rows() if r.get("mprt_flagged")}
        italic = QFont()
        italic.setItalic(True)
        for row, m in enumerate(order):
            label = self._labels.get(m, m) + ("  ⚑ no decorrelation" if m in flagged else "")
            name = QTableWidgetItem(label)
            name.setData(Qt.ItemDataRole.UserRole, m)
            swatch = QPixmap(12, 12)
            swatch.fill(colours[m])
            name.setIcon(QIcon(swatch))  # the colour of its curves in the plots above
            self.table.setItem(row, 0, name)
            for col, (metric, _title) in enumerate(COLUMNS, start=1):
                s = summ[m].get(metric)
                text = s.text() if s is not None and s.n else "–"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, col, item)
            if m == "random":
                for col in range(self.table.columnCount()):
                    self.table.item(row, col).setFont(italic)
                    self.table.item(row, col).setForeground(QColor(110, 110, 110))
        if selected in order:
            self.table.selectRow(order.index(selected))
        n = len(self.results)
        label = dict(COLUMNS).get(key, key).rstrip(" ↑↓")
        self.ranking_note.setText(
            f"Ranked by {label} over {n} image(s); ± is half the 95 % bootstrap interval. "
            "A method should beat the random row to be trusted; ⚑ marks maps that stay the same "
            "when the model's weights are randomised." if n else "")

    def _rows(self) -> list[dict]:
        from ..core.analysis.faithfulness.report import rows

        return rows(self.results)

    def _on_fraction(self, value: int) -> None:
        self.fraction_label.setText(f"{value} %")
        self._refresh_preview()

    def _selected_method(self) -> str | None:
        items = self.table.selectedItems()
        if not items:
            return None
        return self.table.item(items[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def _refresh_preview(self) -> None:
        from ..core.analysis.faithfulness.evaluate import perturbed_preview

        method = self._selected_method()
        idx = self.preview_image.currentIndex()
        if method is None or not self.results or idx < 0:
            self.preview.setPixmap(QPixmap())
            self.preview.setText("Click a row of the table." if self.results else "No results yet.")
            return
        ev = self.results[idx].evaluation
        ms = ev.by_method().get(method)
        if ms is None:
            return
        rgb = perturbed_preview(ev.image, ms.map, self.preview_metric.currentData(),
                                self.fraction.value() / 100.0, seed=idx)
        h, w = rgb.shape[:2]
        img = QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        side = max(64, min(self.preview.width(), self.preview.height()) - 4)
        self.preview.setPixmap(QPixmap.fromImage(img).scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))

    # ---- export --------------------------------------------------------------------------------
    def export_figure(self, path: str | Path) -> Path:
        from ..core.output.faithfulness_figure import save_summary_figure

        return save_summary_figure(self.results, path)

    def export_csv(self, path: str | Path) -> tuple[Path, Path]:
        """Per image × method scores at ``path``; the curves next to it as ``<stem>-curves.csv``."""
        from ..core.analysis.faithfulness.report import curves_csv, scores_csv
        from ..core.base.atomic import atomic_write_text

        p = Path(path)
        atomic_write_text(p, scores_csv(self.results))
        curves = p.with_name(f"{p.stem}-curves.csv")
        atomic_write_text(curves, curves_csv(self.results))
        return p, curves

    def _export_figure_dialog(self) -> None:
        from ..core.base.errors import GmxaiError

        path, _ = QFileDialog.getSaveFileName(self, "Export faithfulness figure", "faithfulness.png",
                                              "PNG (*.png);;SVG (*.svg);;PDF (*.pdf)")
        if path:
            try:
                self.status.setText(f"Saved {Path(path).name}.")
                self.export_figure(path)
            except (GmxaiError, OSError) as exc:
                self.status.setText(f"Could not save the figure: {exc}")

    def _export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export faithfulness scores", "faithfulness.csv",
                                              "CSV (*.csv)")
        if path:
            try:
                scores, curves = self.export_csv(path)
                self.status.setText(f"Saved {scores.name} and {curves.name}.")
            except OSError as exc:
                self.status.setText(f"Could not save the CSV: {exc}")


def install_evaluate(window: Any) -> EvaluateView:
    """Add the Evaluate tab and an Analysis menu entry; calling it again returns the same view."""
    from PySide6.QtGui import QAction

    existing = getattr(window, "_gmxai_evaluate_view", None)
    if existing is not None:
        return existing
    view = EvaluateView(window.controller)
    window.add_tab(view, "Evaluate")
    act = QAction("&Evaluate faithfulness of maps", window)
    act.setToolTip("Deletion/insertion, ROAD, pixel perturbation and MPRT, with a random-map control")
    act.triggered.connect(lambda: window.tabs.setCurrentWidget(view))
    window.menu("Analysis").addAction(act)
    window._gmxai_evaluate_view = view
    return view
