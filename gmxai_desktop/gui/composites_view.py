"""The "Composites" tab: average faces and syndrome-wise maps, differences, and model comparison.

A composite asks "what does the model look at to recognise syndrome X?", so each syndrome gets a
row: its composite face and the mean map of every chosen method, in synchronised panels (one
:class:`~gmxai_desktop.gui.panels.PanelGrid`, so zoom, pan and the crosshair readout behave exactly
as in the main view). The heavy work is :func:`gmxai_desktop.core.analysis.composites.compute_composites`
on the controller's single compute worker (never on the GUI thread), with a disk cache so a
cancelled run resumes and a rerun with another option only computes what is missing.

Difference mode subtracts two maps after a unit-free normalisation (the same one the main
window's difference view uses) and shows rank correlation and top-k overlap from
:mod:`gmxai_desktop.core.analysis.metrics`. When a comparison model is loaded (e.g. ``demo-imbalanced``),
its composites are computed too: "Models side by side" shows each syndrome's map of model A, of
model B and their difference, and :class:`~.model_comparison_view.ModelComparisonBox` the
per-syndrome agreement table and the agreement-vs-class-size scatter (the rows
``gmxai compare-models`` writes), which show whether small classes are explained less stably.

The grids keep every panel large enough to see the face (:data:`MIN_PANEL` pixels) and scroll
rather than shrink, so the tab stays usable on a 1366×768 screen.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.analysis.composites import ALL, CompositeResult, face_uint8
from ..core.analysis.metrics import spearman_rank_correlation, topk_overlap
from .display import DIFF_NORMALISATION_LABELS, DIFF_NORMALISATIONS, apply_sign, difference, render_maps
from .model_comparison_view import ModelComparisonBox
from .panels import FACE_PANEL, PanelGrid
from .widgets import MethodChecklist, job_widgets
from .worker import PRIORITY_COMPARE

GENERIC_LABEL = "generic (all images)"
PRIMARY_ROLE, COMPARE_ROLE = "primary", "compare"
MIN_PANEL = 180
"""Smallest panel side in the composite grids (pixels): below it a face is hard to read, so the grid
scrolls instead of shrinking further."""


def syndrome_cache_dir() -> Path:
    """Where per-image records (aligned faces, logits, embeddings, maps) are cached.

    ``GMXAI_CONFIG_DIR`` (tests, portable installs) keeps everything under one folder; otherwise
    the platform's user cache folder. The cache holds patient-derived data, so it is never put
    next to the images or anywhere the user did not choose.
    """
    env = os.environ.get("GMXAI_CONFIG_DIR")
    if env:
        return Path(env) / "cache" / "records"
    import platformdirs

    return Path(platformdirs.user_cache_dir("gmxai-desktop", appauthor=False)) / "records"


@dataclass(frozen=True)
class CompositeJobKey:
    """Worker key; ``model_id`` lets the controller cancel it when that model is replaced."""

    role: str
    model_id: str
    token: int


class _Relay(QObject):
    """Carries partial results from the worker thread to the GUI thread (queued signal)."""

    partial = Signal(object, object)  # key, CompositeResult snapshot


class _RowGrid(PanelGrid):
    """A PanelGrid with a fixed column count: one row per syndrome, one column per panel kind."""

    fixed_columns = 1

    def best_columns(self, n: int, width: float, height: float) -> int:  # type: ignore[override]
        return max(1, min(self.fixed_columns, n))

    def keep_readable(self) -> None:
        """Grow the minimum size with the rows and columns, so the scroll area scrolls."""
        n = len(self.panels())
        cols = max(1, min(self.fixed_columns, n))
        rows = math.ceil(n / cols)
        self.setMinimumSize(cols * MIN_PANEL, rows * (MIN_PANEL + 30))


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


def _nice(name: str) -> str:
    return GENERIC_LABEL if name == ALL else name


def _fmt(v: float, pct: bool = False) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.0%}" if pct else f"{v:+.3f}"


class CompositesView(QWidget):
    """See the module docstring. ``results[role]`` holds the last finished (or partial) run."""

    computed = Signal(str)  # role, after a run finished

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core.attribution.methods import list_methods

        self.controller = controller
        self.results: dict[str, CompositeResult] = {}
        self.accuracy: dict[str, dict[str, float]] = {}  # role -> per-syndrome top-1 of that run
        self.last_values: dict[str, float] = {}
        self._token = 0
        self._active: set[CompositeJobKey] = set()
        self._last_partial = 0.0
        self._relay = _Relay(self)
        self._relay.partial.connect(self._on_partial)
        self._method_labels = {m.name: m.label for m in list_methods()}

        # ---- controls --------------------------------------------------------------------------
        self.classes = QListWidget()
        self.classes.setToolTip("Syndromes to show; the number is the images labelled with it")
        self.methods = MethodChecklist()
        self.set_methods(list(controller.state.methods[:2]) or ["gradcam"])
        self.target = QComboBox()
        self.target.addItem("true syndrome", "true")
        self.target.addItem("predicted class", "predicted")
        self.target.setToolTip("Explain each image's labelled syndrome, or the class the model chose")
        self.statistic = QComboBox()
        self.statistic.addItem("mean", "mean")
        self.statistic.addItem("median", "median")
        self.statistic.setToolTip("How the composite face is averaged (maps are always means)")
        self.only_correct = QCheckBox("only correctly classified")
        self.only_correct.setToolTip("Leave out images whose top-1 prediction is not their label")
        self.compute_btn = QPushButton("Compute")
        self.cancel_btn, self.progress, self.status = job_widgets("Open a model and a labelled image folder.")

        opts = QFormLayout()
        opts.addRow("Explain", self.target)
        opts.addRow("Face", self.statistic)
        opts.addRow(self.only_correct)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compute_btn)
        buttons.addWidget(self.cancel_btn)
        side = QVBoxLayout()
        side.addWidget(QLabel("Syndromes (images)"))
        side.addWidget(self.classes, 2)
        side.addWidget(QLabel("Methods"))
        side.addWidget(self.methods, 2)
        side.addLayout(opts)
        side.addLayout(buttons)
        side.addWidget(self.progress)
        side.addWidget(self.status)
        side_box = QWidget()
        side_box.setLayout(side)
        side_box.setMaximumWidth(300)

        # ---- composite rows --------------------------------------------------------------------
        self.mode = QComboBox()
        self.mode.addItem("Composites", "rows")
        self.mode.addItem("Difference", "diff")
        self.mode.addItem("Models side by side", "models")
        self.mode.addItem("Model agreement vs class size", "agreement")
        self.grid = _RowGrid()
        self.diff_grid = _RowGrid()
        self.diff_grid.fixed_columns = 3
        self.diff_grid.set_panel_ids(["B", "D"])
        self.models_grid = _RowGrid()
        self.models_grid.fixed_columns = 4

        # ---- difference controls ---------------------------------------------------------------
        self.diff_a = QComboBox()
        self.diff_against = QComboBox()
        self.diff_against.addItem("another syndrome", "syndrome")
        self.diff_against.addItem("the generic map", "generic")
        self.diff_against.addItem("the comparison model", "model")
        self.diff_b = QComboBox()
        self.diff_method = QComboBox()
        self.norm = QComboBox()
        for how in DIFF_NORMALISATIONS:
            self.norm.addItem(DIFF_NORMALISATION_LABELS[how], how)
        self.percent = QDoubleSpinBox()
        self.percent.setRange(0.5, 100.0)
        self.percent.setValue(10.0)
        self.percent.setSuffix(" % top pixels")
        self.summary = QLabel(" ")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)
        # Two short rows instead of one long one: the controls must not set the window's width.
        for combo in (self.diff_a, self.diff_b, self.diff_against, self.diff_method, self.norm):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        drow, drow2 = QHBoxLayout(), QHBoxLayout()
        for w in (QLabel("A"), self.diff_a, QLabel("minus"), self.diff_against, self.diff_b):
            drow.addWidget(w)
        for w in (QLabel("method"), self.diff_method, self.norm, self.percent):
            drow2.addWidget(w)
        drow.addStretch(1)
        drow2.addStretch(1)
        self.diff_controls = QWidget()
        dcl = QVBoxLayout(self.diff_controls)
        dcl.setContentsMargins(0, 0, 0, 0)
        dcl.addLayout(drow)
        dcl.addLayout(drow2)

        self.table_box = ModelComparisonBox(self._method_labels)
        self.table_box.class_clicked.connect(self.open_class)
        self.table_box.method.currentIndexChanged.connect(lambda *_: self._refresh_models())
        self.compare_method = self.table_box.method  # shown in the top row, shared by both model pages
        self.compare_method.setMinimumContentsLength(16)
        self.models_note = QLabel("Load a comparison model (Analysis › Compare with demo-imbalanced) and "
                                  "compute to see both models' maps of each syndrome side by side.")
        self.models_note.setWordWrap(True)

        self.stack = QStackedWidget()
        self.stack.addWidget(_scrolling(self.grid))
        diff_page = QWidget()
        dl = QVBoxLayout(diff_page)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.diff_controls)
        dl.addWidget(self.summary)
        dl.addWidget(_scrolling(self.diff_grid), 1)
        self.diff_grid.setMinimumSize(3 * MIN_PANEL, MIN_PANEL + 30)
        self.stack.addWidget(diff_page)
        models_page = QWidget()
        ml = QVBoxLayout(models_page)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(self.models_note)
        ml.addWidget(_scrolling(self.models_grid), 1)
        self.stack.addWidget(models_page)
        # A page of its own: at 1366x768 the table and the scatter are unreadable below a grid.
        self.stack.addWidget(self.table_box)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show"))
        top.addWidget(self.mode)
        self.method_label = QLabel("method")
        top.addWidget(self.method_label)
        top.addWidget(self.compare_method)
        top.addStretch(1)
        self.stack.setMinimumSize(2 * MIN_PANEL, 150)
        right = QVBoxLayout()
        right.addLayout(top)
        right.addWidget(self.stack, 1)
        right_box = QWidget()
        right_box.setLayout(right)
        outer = QHBoxLayout(self)
        outer.addWidget(side_box)
        outer.addWidget(right_box, 1)

        # ---- wiring ----------------------------------------------------------------------------
        self.compute_btn.clicked.connect(self.compute)
        self.cancel_btn.clicked.connect(self.cancel)
        self.classes.itemChanged.connect(lambda *_: self._refresh_rows())
        self.mode.currentIndexChanged.connect(self._on_mode)
        for combo in (self.diff_a, self.diff_b, self.diff_method, self.norm, self.diff_against):
            combo.currentIndexChanged.connect(lambda *_: self._refresh_diff())
        self.diff_against.currentIndexChanged.connect(lambda *_: self._fill_diff_b())
        self.percent.valueChanged.connect(lambda *_: self._refresh_diff())
        controller.worker.listen(self)
        controller.folder_loaded.connect(lambda *_: self._fill_classes())
        controller.model_loaded.connect(lambda *_: self._on_models_changed())
        controller.overlay_changed.connect(lambda *_: self._rerender())
        self._fill_classes()
        self._fill_diff_b()
        self._on_mode()

    # ---- selection helpers ------------------------------------------------------------------------
    def set_methods(self, names: list[str]) -> None:
        self.methods.set_checked(names)

    def selected_methods(self) -> list[str]:
        return self.methods.checked()

    def selected_classes(self) -> list[str]:
        return [
            self.classes.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.classes.count())
            if self.classes.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _fill_classes(self) -> None:
        counts = Counter(self.controller.labels.values())
        self.classes.blockSignals(True)
        self.classes.clear()
        for name in sorted(counts):
            item = QListWidgetItem(f"{name}  ({counts[name]})")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        n = len(self.controller.labels)
        if n:
            self.status.setText(f"{n} labelled images in {len(counts)} syndromes.")
        elif self.controller.paths:
            self.status.setText("This folder has no labels: use class subfolders or a labels.csv.")

    def _on_models_changed(self) -> None:
        """Results of a replaced model would be mislabelled: drop them."""
        ids = {
            PRIMARY_ROLE: getattr(self.controller.adapter, "model_id", None),
            COMPARE_ROLE: getattr(self.controller.compare_adapter, "model_id", None),
        }
        for role in list(self.results):
            if self.results[role].model_id != ids[role]:
                del self.results[role]
        self._refresh_all()

    # ---- computing --------------------------------------------------------------------------------
    def compute(self) -> None:
        """Queue a composite run for the primary model, and for the comparison model if loaded."""
        c = self.controller
        selected = set(self.selected_classes())
        images = {p: lab for p, lab in c.labels.items() if lab in selected}
        if c.adapter is None:
            self.status.setText("Load a model first.")
            return
        if not images:
            self.status.setText("No labelled images are selected: tick at least one syndrome.")
            return
        self.cancel()
        self._token += 1
        methods = self.selected_methods()
        opts = {
            "target": self.target.currentData(),
            "only_correct": self.only_correct.isChecked(),
            "statistic": self.statistic.currentData(),
            "align": c.state.align,
        }
        roles = [(PRIMARY_ROLE, c.adapter)]
        if c.compare_adapter is not None:
            roles.append((COMPARE_ROLE, c.compare_adapter))
        self.results.clear()
        self.accuracy.clear()
        for i, (role, adapter) in enumerate(roles):
            key = CompositeJobKey(role, adapter.model_id, self._token)
            params = {m: c.state.param_overrides.get(m, {}) for m in methods}
            params = {m: p for m, p in params.items() if p}
            self._active.add(key)
            c.worker.submit(key, self._job(key, adapter, images, methods, params, opts),
                            PRIORITY_COMPARE + i, f"composites ({role} model)")
        self.compute_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"Computing composites of {len(images)} images…")

    def _job(self, key: CompositeJobKey, adapter: Any, images: dict, methods: list[str],
             params: dict, opts: dict) -> Any:
        from ..core.analysis.composites import compute_composites

        cache = syndrome_cache_dir()

        def on_image(event: Any) -> None:
            # Partial results at most twice a second: building a snapshot costs a few ms.
            now = time.monotonic()
            if event.snapshot is not None and now - self._last_partial > 0.5:
                self._last_partial = now
                self._relay.partial.emit(key, event.snapshot())

        def run(job: Any) -> tuple[CompositeResult, dict[str, float]]:
            from ..core.analysis.model_comparison import class_accuracy

            result = compute_composites(
                adapter, images, methods, params=params or None, cache_dir=cache, job=job,
                on_image=on_image, unknown_labels="skip", **opts,
            )
            # Reads the logits the run just cached: no model work, but file reads, so off the GUI thread.
            return result, class_accuracy(adapter, images, cache, opts["align"])

        return run

    def cancel(self) -> None:
        """Stop the run now: queued jobs never report back, and a running one stops within one
        forward pass (its late ``cancelled`` signal is then ignored)."""
        active = set(self._active)
        if not active:
            return
        self.controller.worker.cancel_where(lambda k: k in active)
        for key in active:
            self._done(key)
        self.status.setText("Cancelled. Finished images are cached; Compute resumes from there.")

    def _mine(self, key: Hashable) -> bool:
        return isinstance(key, CompositeJobKey) and key in self._active

    def _on_progress(self, key: Hashable, fraction: float, message: str) -> None:
        if self._mine(key):
            n = len(self._active)
            base = 0.0 if key.role == PRIMARY_ROLE or n == 1 else 0.5
            share = fraction if n == 1 else fraction / 2
            self.progress.setValue(round(1000 * (base + share)))
            self.progress.setFormat(message)
            self.status.setText(f"{'Model 2' if key.role == COMPARE_ROLE else 'Model 1'}: {message}")

    def _on_partial(self, key: Hashable, result: CompositeResult) -> None:
        if self._mine(key) and key.role == PRIMARY_ROLE:
            self.results[key.role] = result
            self._refresh_all()

    def _done(self, key: CompositeJobKey) -> None:
        self._active.discard(key)
        if not self._active:
            self.compute_btn.setEnabled(True)
            self.cancel_btn.setEnabled(False)

    def _on_finished(self, key: Hashable, result: Any, seconds: float) -> None:
        if not self._mine(key):
            return
        self._done(key)
        result, self.accuracy[key.role] = result
        self.results[key.role] = result
        skipped = f", {len(result.skipped)} unusable" if result.skipped else ""
        excluded = f", {len(result.excluded)} left out" if result.excluded else ""
        self.status.setText(
            f"Done in {seconds:.1f} s: {result.counts.get(ALL, 0)} images "
            f"({result.computed} computed, {result.cached} from cache{skipped}{excluded})."
        )
        if not self._active:
            self.progress.setValue(1000)
            self.progress.setFormat("done")
        self._refresh_all()
        self.computed.emit(key.role)

    def _on_failed(self, key: Hashable, message: str) -> None:
        if self._mine(key):
            self._done(key)
            self.status.setText(f"Composites failed: {message}")

    def _on_cancelled(self, key: Hashable) -> None:
        if self._mine(key):
            self._done(key)
            self.status.setText("Cancelled. Finished images are cached; Compute resumes from there.")

    # ---- rendering --------------------------------------------------------------------------------
    def _overlay(self) -> Any:
        return self.controller.state.overlay

    def _render(self, maps: list[np.ndarray], *, diverging: bool = False, shared: bool | None = None) -> list:
        ov = self._overlay()
        sign = "signed" if diverging else ov.sign_mode
        cmap = ov.diverging_cmap if diverging else ov.colormap
        return render_maps(
            maps, sign=sign, clip_percentile=ov.clip_percentile,
            shared=ov.shared_scale if shared is None else shared, cmap=cmap, opacity=ov.opacity,
            fade_weak=ov.fade_weak,
        )

    def _rerender(self) -> None:
        self._refresh_all()

    def _refresh_all(self) -> None:
        self._refresh_rows()
        self._fill_diff_choices()
        self._refresh_diff()
        self._refresh_table()
        self._refresh_models()

    def _rows(self, res: CompositeResult) -> list[str]:
        chosen = set(self.selected_classes())
        return [c for c in res.classes if c in chosen and res.counts.get(c)]

    def _refresh_rows(self) -> None:
        res = self.results.get(PRIMARY_ROLE)
        if res is None:
            self.grid.fixed_columns = 1
            self.grid.set_panel_ids([])
            self.grid.set_face(None, None)
            self.grid.face_panel.set_title("<b>Composites</b><br>press Compute")
            return
        rows = self._rows(res)
        methods = [m for m in res.methods]
        self.grid.fixed_columns = 1 + len(methods)
        ids: list[str] = []
        for i, cls in enumerate(rows):
            if i:
                ids.append(f"{cls}\x1f{FACE_PANEL}")
            ids.extend(f"{cls}\x1f{m}" for m in methods)
        self.grid.set_panel_ids(ids)
        self.grid.keep_readable()
        if not rows:
            self.grid.set_face(None, None)
            self.grid.face_panel.set_title("<b>No composite</b><br>no images left for the chosen syndromes")
            return
        grid_hw = res.faces[rows[0]].shape[:2]
        state = "" if res.complete else " (computing…)"
        for i, cls in enumerate(rows):
            face = face_uint8(res.faces[cls])
            fp = self.grid.face_panel if i == 0 else self.grid.panel(f"{cls}\x1f{FACE_PANEL}")
            fp.set_face(face, grid_hw)
            fp.set_title(f"<b>{cls}</b><br>{res.statistic} of {res.counts[cls]} faces{state}")
            for m in methods:
                p = self.grid.panel(f"{cls}\x1f{m}")
                p.set_face(face, grid_hw)
                p.set_map(res.maps[cls][m], res)
                p.set_title(f"<b>{self._method_labels.get(m, m)}</b><br>{cls}: mean of {res.counts[cls]}")
        # One scale per method column when shared: the syndromes are then comparable in strength.
        sign = self._overlay().sign_mode
        for m in methods:
            panels = [self.grid.panel(f"{cls}\x1f{m}") for cls in rows]
            for p, d in zip(panels, self._render([p.raw_map for p in panels]), strict=True):
                p.show_display(d, sign)

    # ---- difference -------------------------------------------------------------------------------
    def _fill_diff_choices(self) -> None:
        res = self.results.get(PRIMARY_ROLE)
        names = [c for c in res.classes if res.counts.get(c)] if res else []
        methods = list(res.methods) if res else []
        for combo, items in ((self.diff_a, names), (self.diff_method, methods)):
            current = combo.currentData()
            if [combo.itemData(i) for i in range(combo.count())] == items:
                continue
            combo.blockSignals(True)
            combo.clear()
            for it in items:
                combo.addItem(self._method_labels.get(it, it) if combo is self.diff_method else it, it)
            if current in items:
                combo.setCurrentIndex(items.index(current))
            combo.blockSignals(False)
        self._fill_diff_b()

    def _fill_diff_b(self) -> None:
        res = self.results.get(PRIMARY_ROLE)
        kind = self.diff_against.currentData()
        names = [c for c in res.classes if res.counts.get(c)] if res and kind == "syndrome" else []
        current = self.diff_b.currentData()
        self.diff_b.blockSignals(True)
        self.diff_b.clear()
        for n in names:
            self.diff_b.addItem(n, n)
        if current in names:
            self.diff_b.setCurrentIndex(names.index(current))
        elif len(names) > 1:
            self.diff_b.setCurrentIndex(1)
        self.diff_b.setVisible(kind == "syndrome")
        self.diff_b.blockSignals(False)
        self._refresh_diff()

    def diff_sources(self) -> tuple[tuple[CompositeResult, str], tuple[CompositeResult, str]] | str:
        """((result A, class A), (result B, class B)), or why no difference can be shown."""
        res = self.results.get(PRIMARY_ROLE)
        if res is None:
            return "Compute composites first."
        a, method = self.diff_a.currentData(), self.diff_method.currentData()
        if a is None or method is None:
            return "Choose a syndrome and a method (compute with at least one method)."
        kind = self.diff_against.currentData()
        if kind == "syndrome":
            b = self.diff_b.currentData()
            return ((res, a), (res, b)) if b is not None else "Choose syndrome B."
        if kind == "generic":
            return (res, a), (res, ALL)
        other = self.results.get(COMPARE_ROLE)
        if other is None:
            return "Load a comparison model (Model menu) and compute again to compare models."
        if not other.counts.get(a) or method not in other.methods:
            return f"The comparison model has no composite of {a}."
        return (res, a), (other, a)

    def _refresh_diff(self) -> None:
        src = self.diff_sources()
        pa, pb, pd = self.diff_grid.face_panel, self.diff_grid.panel("B"), self.diff_grid.panel("D")
        if isinstance(src, str):
            self.summary.setText(src)
            self.last_values = {}
            for p in (pa, pb, pd):
                p.set_map(None)
            return
        (ra, a), (rb, b) = src
        method = self.diff_method.currentData()
        how = self.norm.currentData()
        sign = self._overlay().sign_mode
        ma, mb = ra.maps[a][method], rb.maps[b][method]
        d, na, nb = difference(ma, mb, how, sign)
        grid_hw = ma.shape
        model_mode = ra is not rb
        la = f"model 1 · {a}" if model_mode else _nice(a)
        lb = f"model 2 · {b}" if model_mode else _nice(b)
        face_a, face_b = face_uint8(ra.faces[a]), face_uint8(rb.faces[b])
        pa.set_face(face_a, grid_hw)
        pb.set_face(face_b, grid_hw)
        pd.set_face(face_uint8(ra.faces[ALL]) if ALL in ra.faces else face_a, grid_hw)
        pa.set_map(na)
        pb.set_map(nb)
        pd.set_map(d)
        label = self._method_labels.get(method, method)
        pa.set_title(f"<b>A: {la}</b><br>{label}, normalised")
        pb.set_title(f"<b>B: {lb}</b><br>{label}, normalised")
        pd.set_title(f"<b>A − B</b><br>{DIFF_NORMALISATION_LABELS[how].split(' (')[0]}")
        for p, disp in zip((pa, pb), self._render([na, nb]), strict=True):
            p.show_display(disp, sign)
        pd.show_display(self._render([d], diverging=True, shared=False)[0], "signed")
        sa, sb = apply_sign(ma, sign), apply_sign(mb, sign)
        rho = spearman_rank_correlation(sa, sb)
        pct = float(self.percent.value())
        overlap = topk_overlap(sa, sb, pct / 100.0)
        self.last_values = {"spearman": rho, "topk_overlap": overlap}
        self.summary.setText(
            f"Agreement of A and B ({sign} maps): rank correlation ρ = <b>{_fmt(rho)}</b>, "
            f"top {pct:g} % overlap = <b>{_fmt(overlap, True)}</b> "
            f"(unrelated maps: about {pct / 100:.0%}). Images: A {ra.counts[a]}, B {rb.counts[b]}."
        )

    def _on_mode(self) -> None:
        mode = self.mode.currentData()
        self.stack.setCurrentIndex(["rows", "diff", "models", "agreement"].index(mode))
        self.method_label.setVisible(mode in ("models", "agreement"))
        self.compare_method.setVisible(mode in ("models", "agreement"))
        self._refresh_diff()
        self._refresh_table()

    def show_model_comparison(self, page: str = "agreement") -> None:
        """Show the two-model pages: ``agreement`` (table and scatter) or ``models`` (side by side)."""
        self.mode.setCurrentIndex(self.mode.findData(page))

    def open_class(self, name: str) -> None:
        """Open one syndrome: model A's map, model B's map and their difference, large."""
        self.diff_against.setCurrentIndex(self.diff_against.findData("model"))
        if self.diff_a.findData(name) >= 0:
            self.diff_a.setCurrentIndex(self.diff_a.findData(name))
        method = self.table_box.method.currentData()
        if method is not None and self.diff_method.findData(method) >= 0:
            self.diff_method.setCurrentIndex(self.diff_method.findData(method))
        self.mode.setCurrentIndex(self.mode.findData("diff"))

    def _refresh_models(self) -> None:
        """One row per syndrome: face, model A's map, model B's map, A − B (the table's method)."""
        first, second = self.results.get(PRIMARY_ROLE), self.results.get(COMPARE_ROLE)
        method = self.table_box.method.currentData()
        grid = self.models_grid
        if first is None or second is None or method is None:
            grid.set_panel_ids([])
            grid.set_face(None, None)
            grid.face_panel.set_title("<b>Models side by side</b><br>needs a comparison model")
            self.models_note.show()
            return
        self.models_note.hide()
        rows = [c for c in self._rows(first) if second.counts.get(c) and method in second.maps.get(c, {})]
        ids: list[str] = []
        for i, cls in enumerate(rows):
            if i:
                ids.append(f"{cls}\x1f{FACE_PANEL}")
            ids.extend(f"{cls}\x1f{k}" for k in ("A", "B", "D"))
        grid.set_panel_ids(ids)
        grid.keep_readable()
        if not rows:
            grid.set_face(None, None)
            return
        how, sign = self.norm.currentData(), self._overlay().sign_mode
        label = self._method_labels.get(method, method)
        grid_hw = first.maps[rows[0]][method].shape
        for i, cls in enumerate(rows):
            face = face_uint8(first.faces[cls])
            fp = grid.face_panel if i == 0 else grid.panel(f"{cls}\x1f{FACE_PANEL}")
            fp.set_face(face, grid_hw)
            fp.set_title(f"<b>{cls}</b><br>{first.counts[cls]} faces")
            d, na, nb = difference(first.maps[cls][method], second.maps[cls][method], how, sign)
            pa, pb, pd = (grid.panel(f"{cls}\x1f{k}") for k in ("A", "B", "D"))
            for p, m, title in ((pa, na, "model A"), (pb, nb, "model B"), (pd, d, "A − B")):
                p.set_face(face, grid_hw)
                p.set_map(m)
                p.set_title(f"<b>{title}</b><br>{label}, {cls}")
            for p, disp in zip((pa, pb), self._render([na, nb]), strict=True):
                p.show_display(disp, sign)
            pd.show_display(self._render([d], diverging=True, shared=False)[0], "signed")

    # ---- model comparison table ----------------------------------------------------------------
    def _refresh_table(self) -> None:
        from ..core.analysis.comparison import training_counts

        first, second = self.results.get(PRIMARY_ROLE), self.results.get(COMPARE_ROLE)
        if first is None or second is None or not first.complete or not first.methods:
            self.table_box.clear()
            return
        c = self.controller
        self.table_box.set_results(
            first, second,
            train_a=training_counts(c.adapter) if c.adapter is not None else None,
            train_b=training_counts(c.compare_adapter) if c.compare_adapter is not None else None,
            top1_a=self.accuracy.get(PRIMARY_ROLE), top1_b=self.accuracy.get(COMPARE_ROLE),
        )
