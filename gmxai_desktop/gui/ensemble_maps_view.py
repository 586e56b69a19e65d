"""Each ensemble member's pair similarity map side by side, their mean, and how far they agree.

A GestaltMatcher-Arc model folder ranks with several networks (see core/models/ensemble.py). The
Similar patients tab draws one network's pair maps; this strip, below them, answers whether the
other members look at the same places: one small panel per member on the query (or the match)
face, the mean of the members' cells, and the members' Spearman rank agreement. It is computed by
:func:`gmxai_desktop.core.analysis.arc_pairs.ensemble_pair_maps` on the controller's worker (with
progress and cancel) whenever the tab shows a new pair, and is hidden for single models.

Hooked into the tab with :func:`install_ensemble_maps` (the view's ``pair_area`` extension point).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .panels import ImagePanel
from .widgets import job_widgets
from .worker import PRIORITY_EXPLAIN

_ATTR = "_gmxai_ensemble_maps"
MEAN = "mean"


@dataclass(frozen=True)
class EnsembleMapsKey:
    model_id: str
    token: int


@dataclass
class EnsembleResult:
    maps: Any  # core.analysis.arc_pairs.EnsemblePairMaps
    agreement_b: np.ndarray  # (M, M) Spearman rho of the members' match-face maps
    faces: tuple[np.ndarray, np.ndarray]  # query and match, uint8 RGB at the members' input size
    match: Any


def ensemble_members(adapter: Any) -> list[tuple[str, Any]]:
    """(id, adapter) of every member of a loaded model folder; one entry for a single model."""
    ens = adapter.extra.get("ensemble") if adapter is not None else None
    if ens is None:
        return [] if adapter is None else [(str(adapter.extra.get("member", "m0")), adapter)]
    return [(m.id, m.adapter) for m in ens.members]


class EnsembleMapsView(QWidget):
    """See the module docstring. ``result`` is what is drawn; ``panels`` are member ids + ``mean``."""

    computed = Signal()

    def __init__(self, controller: Any, similarity: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ensemble-maps")
        self.controller = controller
        self.similarity = similarity
        self.members: list[tuple[str, Any]] = []
        self.result: EnsembleResult | None = None
        self.panels: dict[str, ImagePanel] = {}
        self._token = 0
        self._active: EnsembleMapsKey | None = None

        # Narrow on purpose: the strip must not widen the window past a 1366-pixel laptop screen.
        self.title = QLabel("<b>Members</b>")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setToolTip("Each ensemble member's pair similarity map, their mean and their agreement")
        self.face = QComboBox()
        self.face.addItem("on the query", 0)
        self.face.addItem("on the match", 1)
        self.face.setToolTip("Which face of the pair the members' maps are drawn on")
        self.cancel_btn, self.progress, self.status = job_widgets("Select a match to compare the members.")
        self.progress.setMinimumWidth(40)
        self.progress.setMaximumWidth(90)
        self.status.setWordWrap(False)  # one line, cut when narrow (the full text is in its tooltip)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.face)
        head.addStretch(1)
        head.addWidget(self.progress)
        head.addWidget(self.cancel_btn)

        self.row = QHBoxLayout()
        self.row.setSpacing(4)
        self.table = QTableWidget()
        self.table.setObjectName("ensemble-agreement")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumWidth(170)
        self.table_caption = QLabel("Agreement (ρ)")
        self.table_caption.setTextFormat(Qt.TextFormat.RichText)
        self.table_caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        agree = QVBoxLayout()
        agree.addWidget(self.table_caption)
        agree.addWidget(self.table, 1)
        self.agreement_box = QWidget()
        self.agreement_box.setLayout(agree)
        self.agreement_box.setMaximumWidth(190)
        body = QHBoxLayout()
        body.addLayout(self.row, 1)
        body.addWidget(self.agreement_box)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 4, 0, 0)
        outer.addLayout(head)
        outer.addWidget(self.status)  # a line of its own: errors must show however narrow the tab
        outer.addLayout(body, 1)
        self.setMinimumHeight(150)  # shares the tab's height with the pair maps (see install)
        self.setMaximumHeight(320)

        self.face.currentIndexChanged.connect(lambda *_: self.render())
        self.cancel_btn.clicked.connect(self.cancel)
        controller.worker.listen(self)
        controller.model_loaded.connect(self._on_model)
        controller.image_changed.connect(lambda *_: self.clear())
        controller.overlay_changed.connect(lambda *_: self.render())
        similarity.ranked.connect(self.clear)
        similarity.pair_shown.connect(self.compute)
        self._on_model("primary", controller.adapter)

    # ---- state ------------------------------------------------------------------------------------
    def _on_model(self, role: str, adapter: Any) -> None:
        if role != "primary" or (adapter is not None and adapter.extra.get("scores_are_similarities")):
            return  # a similarity view of the same network keeps its members
        self.members = ensemble_members(adapter)
        self.clear()
        self.setVisible(len(self.members) > 1)

    def clear(self) -> None:
        self.cancel()
        self.result = None
        for panel in self.panels.values():
            panel.set_map(None)
            panel.set_face(None, None)
            panel.set_title("<br>")
            panel.titles = None
        self.table.clearContents()
        self.status.setText("Select a match to compare the members.")

    # ---- job --------------------------------------------------------------------------------------
    def compute(self) -> None:
        """Every member's maps for the pair the tab shows, on the worker."""
        sv, members = self.similarity, list(self.members)
        query, match, data = sv.query, sv.shown_match, sv.data
        adapter = self.controller.adapter
        if len(members) < 2 or query is None or match is None or data is None or adapter is None:
            return
        self.cancel()
        align = data.align

        def run(job: Any) -> EnsembleResult:
            from ..core.analysis.arc_pairs import ensemble_pair_maps
            from ..core.analysis.metrics import spearman_rank_correlation
            from .similarity_view import _aligned, _fit

            faces = [_aligned(adapter, Path(p), align) for p in (query.path, match.path)]
            xa = [a.preprocess(faces[0]) for _, a in members]
            xb = [a.preprocess(faces[1]) for _, a in members]
            ens = ensemble_pair_maps(members, xa, xb, job=job)
            m = len(ens.maps)
            agree_b = np.eye(m)
            for i in range(m):
                for j in range(i + 1, m):
                    rho = spearman_rank_correlation(ens.maps[i].cells_b, ens.maps[j].cells_b)
                    agree_b[i, j] = agree_b[j, i] = rho
            size = members[0][1].input_size
            return EnsembleResult(ens, agree_b, (_fit(faces[0], size), _fit(faces[1], size)), match)

        self._token += 1
        self._active = EnsembleMapsKey(adapter.model_id, self._token)
        self.controller.worker.submit(self._active, run, PRIORITY_EXPLAIN, "ensemble maps")
        self.cancel_btn.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"Computing {len(members)} members' maps for match {match.rank}…")

    def cancel(self) -> None:
        key, self._active = self._active, None
        self.cancel_btn.setEnabled(False)
        if key is not None:
            self.controller.worker.cancel_where(lambda k: k == key)
            self.status.setText("Cancelled.")

    def _mine(self, key: Hashable) -> bool:
        return isinstance(key, EnsembleMapsKey) and key == self._active

    def _on_progress(self, key: Hashable, fraction: float, message: str) -> None:
        if self._mine(key):
            self.progress.setValue(round(1000 * fraction))

    def _on_failed(self, key: Hashable, message: str) -> None:
        if self._mine(key):
            self._active = None
            self.cancel_btn.setEnabled(False)
            self.status.setText(message)
            self.status.setToolTip(message)

    def _on_cancelled(self, key: Hashable) -> None:
        if self._mine(key):
            self._active = None
            self.cancel_btn.setEnabled(False)

    def _on_finished(self, key: Hashable, result: Any, seconds: float) -> None:
        if not self._mine(key):
            return
        self._active = None
        self.cancel_btn.setEnabled(False)
        self.progress.setValue(1000)
        self.result = result
        self.render()
        self.computed.emit()

    # ---- drawing ----------------------------------------------------------------------------------
    def _ensure_panels(self, ids: list[str]) -> None:
        if list(self.panels) == ids:
            return
        for panel in self.panels.values():
            self.row.removeWidget(panel)
            panel.deleteLater()
        self.panels = {}
        for pid in ids:
            # No colour bars: their fixed-width column would leave a small panel little room for the
            # face. All panels share one scale, which the status line states.
            panel = ImagePanel(pid, show_colorbar=False)
            panel.graphics.removeItem(panel.colorbar)
            panel.graphics.setMinimumSize(56, 56)
            panel.progress.setMinimumWidth(8)  # a progress bar's default minimum would set the width
            self.row.addWidget(panel, 1)
            self.panels[pid] = panel

    def render(self) -> None:
        from .display import render_maps

        r = self.result
        if r is None:
            return
        ens, b = r.maps, int(self.face.currentData() or 0)
        cells = [m.cells_b if b else m.cells_a for m in ens.maps]
        mean = ens.mean_cells_b if b else ens.mean_cells_a
        biases = [m.bias_b if b else m.bias_a for m in ens.maps]
        face = r.faces[b]
        self._ensure_panels([*ens.members, MEAN])
        ov = self.controller.state.overlay
        # One colour scale for every panel: all are shares of (nearly) the same similarity.
        disp = render_maps([*cells, mean], sign=ov.sign_mode, clip_percentile=ov.clip_percentile, shared=True,
                           cmap=ov.colormap, opacity=ov.opacity, fade_weak=ov.fade_weak,
                           upsample_to=face.shape[:2])
        names = [*ens.members, MEAN]
        coss = [*(m.cosine for m in ens.maps), float(np.mean([m.cosine for m in ens.maps]))]
        shares = [*biases, float(np.mean(biases))]
        for pid, raw, d, cos, bias in zip(names, [*cells, mean], disp, coss, shares, strict=True):
            panel = self.panels[pid]
            panel.set_face(face, raw.shape)
            panel.set_map(raw)
            panel.show_display(d, ov.sign_mode)
            what = "the cell-wise mean of the members' maps" if pid == MEAN else f"member {pid}"
            panel.setToolTip(f"{what}: cosine {cos:+.4f}, bias share {bias:+.4f} (cells + bias = cosine)")
            panel.titles = [  # (first line's number, second line): full, then shorter (see _retitle)
                (f" cos {cos:+.3f}", f"bias share {bias:+.3f}"),
                (f" {cos:+.2f}", f"bias {bias:+.2f}"),
                ("", f"cos {cos:+.2f}"),  # the bias share stays in the tooltip
            ]
        self._retitle()
        QTimer.singleShot(0, self._refit)  # new panels get their size only once laid out
        self._fill_table(ens.members, r.agreement_b if b else ens.agreement)
        who = "match" if b else "query"
        self.table_caption.setToolTip(f"Spearman rank correlation of the members' 7×7 maps on the {who} face")
        h, w = mean.shape
        lo, hi = disp[-1].vmin, disp[-1].vmax
        self.status.setText(f"match {r.match.rank}, {h}×{w} cells, scale ±{max(-lo, hi):.3g}")
        self.status.setToolTip(f"Match {r.match.rank}. One colour scale for all: {lo:+.4g} to {hi:+.4g}")

    def _refit(self) -> None:
        for panel in self.panels.values():
            if panel.grid_size is not None:
                panel.view_box.autoRange(padding=0.01)
        self._retitle()

    def _retitle(self) -> None:
        """Cosine and bias share in every title, in fewer characters when the panels are narrow."""
        for panel in self.panels.values():
            titles = getattr(panel, "titles", None)
            if titles is None:
                continue
            bold, small = QFont(panel.title_label.font()), QFont(panel.title_label.font())
            bold.setBold(True)
            small.setPointSizeF(small.pointSizeF() / 1.2)  # what <small> does
            fb, fs = QFontMetrics(bold), QFontMetrics(small)
            room = panel.title_label.width() - 2
            pid = panel.panel_id
            for first, second in titles:
                line1 = fb.horizontalAdvance(pid) + fs.horizontalAdvance(first)
                if max(line1, fs.horizontalAdvance(second)) <= room:
                    break
            panel.set_title(f"<b>{pid}</b><small>{first}<br>{second}</small>", panel.toolTip())

    def _fill_table(self, ids: list[str], agreement: np.ndarray) -> None:
        # Wide enough for "+0.00" in every column, however narrow the tab.
        cell = self.table.fontMetrics().horizontalAdvance("+0.00") + 14
        self.agreement_box.setMinimumWidth(min(190, cell * (len(ids) + 1) + 8))
        row = self.table.fontMetrics().height() + 6
        self.table.verticalHeader().setMinimumSectionSize(row)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + row * len(ids) + 4)
        self.table.setRowCount(len(ids))
        self.table.setColumnCount(len(ids))
        self.table.setHorizontalHeaderLabels(ids)
        self.table.setVerticalHeaderLabels(ids)
        for i in range(len(ids)):
            for j in range(len(ids)):
                v = float(agreement[i, j])
                item = QTableWidgetItem(f"{v:+.2f}")
                item.setData(Qt.ItemDataRole.UserRole, v)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(i, j, item)


def install_ensemble_maps(window: Any) -> EnsembleMapsView | None:
    """Put the member strip under the Similar patients pair maps; None without that tab."""
    existing = getattr(window, _ATTR, None)
    if existing is not None:
        return existing
    views = getattr(window, "_gmxai_syndrome_views", None)
    similarity = getattr(views, "similarity", None)
    if similarity is None:
        return None
    view = EnsembleMapsView(window.controller, similarity)
    similarity.pair_area.addWidget(view, 1)  # an equal share of the height with the pair maps
    setattr(window, _ATTR, view)
    return view
