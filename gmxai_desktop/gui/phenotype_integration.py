"""HPO-driven region expectations in the app: atlas overlay, Phenotype dock, per-syndrome tab.

Plugged in through the window's extension points only (``add_dock``, ``add_tab``, ``menu``,
``grid.add_overlay_factory``, the controller's signals and its worker), so no shared file knows
about phenotypes beyond the one ``install_phenotype(window)`` call in ``app.py``.

* **Atlas overlay** (View > Facial region atlas, key R): the region outlines on every panel, in
  map pixels. Shown only when the face is in the template layout (aligned or pre-aligned); an
  unaligned image gets no outlines rather than wrong ones.
* **Phenotype dock**: the current image's syndrome (its label, else the prediction), its facial
  HPO terms with frequencies, expected vs observed per region, and the lists in plain words.
* **HPO regions tab**: the same per syndrome, from the Composites tab's syndrome-wise maps.

Looking up a syndrome's terms reads the ontology (about 0.5 s once) and possibly the disease
annotations, so it runs on the controller's worker at prefetch priority and is cached per class.
"""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QColor, QFont
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..core.base.errors import GmxaiError
from ..core.phenotype.atlas import REGION_COLORS, REGIONS, get_atlas
from ..core.phenotype.expectations import (
    SyndromeTerms,
    atlas_template_for,
    class_descriptions_for,
    read_syndrome_map,
    terms_for_classes,
)
from ..core.phenotype.report import build_reports
from .phenotype_view import SHORT, PhenotypePanel
from .worker import PRIORITY_PREFETCH

_ATTR = "_gmxai_phenotype"
Point = tuple[float, float]


@dataclass(frozen=True)
class TermsKey:
    """Worker key of one syndrome's term lookup."""

    model_id: str
    name: str
    token: int


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    return area


class _PanelAtlas:
    """The outline items of one panel."""

    def __init__(self, panel: Any, template_layout: bool = False) -> None:
        self.panel = panel
        self.template_layout = template_layout  # composites: always in the template layout
        self.items: list[Any] = []

    def show(self, outlines: dict[str, list[Any]] | None, labels: dict[str, tuple[float, float]]) -> None:
        for it in self.items:
            with contextlib.suppress(RuntimeError):  # the panel may be gone
                self.panel.view_box.removeItem(it)
        self.items = []
        if not outlines:
            return
        font = QFont()
        font.setPointSize(7)
        for region, polys in outlines.items():
            colour = QColor(*REGION_COLORS[region])
            for poly in polys:
                closed = [*poly, poly[0]]
                xs = [p[0] + 0.5 for p in closed]  # integer = pixel centre -> view coordinates
                ys = [p[1] + 0.5 for p in closed]
                curve = pg.PlotCurveItem(xs, ys, pen=pg.mkPen(colour, width=1.5))
                curve.setZValue(20)
                self.panel.add_item(curve)
                self.items.append(curve)
            if region in labels:
                label = pg.TextItem(SHORT[region], color=colour, anchor=(0.5, 0.5))
                label.setFont(font)
                label.setPos(labels[region][0] + 0.5, labels[region][1] + 0.5)
                label.setZValue(21)
                self.panel.add_item(label)
                self.items.append(label)


class PhenotypeFeature(QObject):
    """State and wiring of the phenotype views; see the module docstring."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.entry: Any = None
        self.path: Path | None = None
        self.terms: dict[tuple[str, str], SyndromeTerms] = {}
        self.syndrome_map: dict[str, list[str]] | None = None
        self._token = 0
        self._panels: list[_PanelAtlas] = []

        self.panel = PhenotypePanel()
        self.panel.export_failed.connect(lambda m: window.show_error("Export failed", m))
        # In a scroll area, so the panel never forces a taller window (like the Analysis dock).
        self.dock = window.add_dock(_scrolled(self.panel), "Phenotype", Qt.DockWidgetArea.RightDockWidgetArea)
        analysis = getattr(window, "analysis_dock", None)
        if analysis is not None:
            window.tabifyDockWidget(analysis, self.dock)
            analysis.raise_()

        self.syndrome_view = SyndromePhenotypeView(self)
        self.syndrome_tab = _scrolled(self.syndrome_view)
        window.add_tab(self.syndrome_tab, "HPO regions")

        view = window.menu("&View")
        self.atlas_action = QAction("Facial region &atlas", window)
        self.atlas_action.setCheckable(True)
        self.atlas_action.setShortcut("R")
        self.atlas_action.setToolTip("Outline the facial regions (forehead, eyes, nose, ...) on every panel")
        self.atlas_action.toggled.connect(lambda _on: self._redraw_atlas())
        view.addAction(self.atlas_action)
        view.addAction(self.dock.toggleViewAction())
        pheno = window.menu("Analysis")  # the menu syndrome_integration creates
        load = QAction("Load &syndrome map for HPO…", window)
        load.setToolTip("A CSV class,syndrome giving each class's OMIM/ORPHA/HPO ids (GMDB class names)")
        load.triggered.connect(self.load_syndrome_map_dialog)
        pheno.addAction(load)

        window.grid.add_overlay_factory(self._attach)
        if self.syndrome_view.composites is not None:
            self.attach_template_grid(self.syndrome_view.composites.grid)
            self.syndrome_view.composites.computed.connect(lambda _r: self._redraw_atlas())
        c = self.controller
        c.prepared.connect(self._on_prepared)
        c.image_changed.connect(self._on_image_changed)
        c.panel_result.connect(lambda *_a: self.refresh())
        c.model_loaded.connect(self._on_model_loaded)
        c.worker.finished.connect(self._on_worker_finished)
        c.worker.failed.connect(self._on_worker_failed)

    # ---- atlas overlay ---------------------------------------------------------------------------
    def atlas(self) -> Any:
        adapter = self.controller.adapter
        if adapter is None or adapter.template == "none":
            return None
        return get_atlas(atlas_template_for(adapter.template, adapter.source))

    def _attach(self, panel: Any, template_layout: bool = False) -> None:
        pa = _PanelAtlas(panel, template_layout)
        self._panels.append(pa)
        panel.destroyed.connect(lambda *_a, p=pa: self._panels.remove(p) if p in self._panels else None)
        pa.show(*self._outlines(pa))

    def attach_template_grid(self, grid: Any) -> None:
        """Overlay the atlas on another panel grid whose faces are always in the template layout
        (the composites: mean aligned faces at model input size)."""
        grid.add_overlay_factory(lambda panel: self._attach(panel, template_layout=True))

    def _outlines(self, pa: _PanelAtlas) -> tuple[dict[str, list[Any]] | None, dict[str, Point]]:
        if not self.atlas_action.isChecked():
            return None, {}
        if pa.template_layout:
            shape = getattr(pa.panel, "grid_size", None)
        elif self.entry is not None and self.entry.aligned:
            shape = self.entry.grid_size
        else:
            shape = None
        atlas = self.atlas()
        if atlas is None or shape is None:
            return None, {}
        return atlas.outlines(tuple(shape)), atlas.label_points(tuple(shape))

    def _redraw_atlas(self) -> None:
        for pa in list(self._panels):
            pa.show(*self._outlines(pa))
        if self.atlas_action.isChecked() and self.entry is not None and not self.entry.aligned:
            self.controller.notice.emit("The region atlas needs an aligned face; this image is not aligned")

    # ---- events ------------------------------------------------------------------------------------
    def _on_model_loaded(self, role: str, _adapter: Any) -> None:
        if role == "primary":
            self.terms.clear()
            self._token += 1

    def _on_image_changed(self, path: Path | None) -> None:
        self.path, self.entry = path, None
        self._redraw_atlas()
        self.refresh()

    def _on_prepared(self, path: Path, entry: Any) -> None:
        self.path, self.entry = path, entry
        self._redraw_atlas()
        self.refresh()

    def load_syndrome_map_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Syndrome map (class,syndrome)", "", "CSV (*.csv)")
        if path:
            self.load_syndrome_map(Path(path))

    def load_syndrome_map(self, path: Path) -> None:
        try:
            self.syndrome_map = read_syndrome_map(path)
        except GmxaiError as exc:
            self.window.show_error("Syndrome map", str(exc))
            return
        self.terms.clear()
        self._token += 1
        self.refresh()
        self.syndrome_view.refresh()

    # ---- terms lookup on the worker -------------------------------------------------------------------
    def terms_for(self, name: str) -> SyndromeTerms | None:
        """Cached terms, or None after queueing the lookup (``refresh`` runs again when done)."""
        adapter = self.controller.adapter
        if adapter is None:
            return None
        cached = self.terms.get((adapter.model_id, name))
        if cached is not None:
            return cached
        smap, source = self.syndrome_map, adapter.source

        def run(_job: Any) -> SyndromeTerms:
            return terms_for_classes([name], smap, class_descriptions_for(source))[name]

        self.controller.worker.submit(TermsKey(adapter.model_id, name, self._token), run, PRIORITY_PREFETCH,
                                      "looking up HPO terms")
        return None

    def _on_worker_finished(self, key: Any, result: Any, _seconds: float) -> None:
        if isinstance(key, TermsKey) and key.token == self._token:
            self.terms[(key.model_id, key.name)] = result
            self.refresh()
            self.syndrome_view.refresh()

    def _on_worker_failed(self, key: Any, message: str) -> None:
        if isinstance(key, TermsKey) and key.token == self._token:
            self.terms[(key.model_id, key.name)] = SyndromeTerms(key.name, f"lookup failed: {message}")
            self.refresh()

    # ---- the current image --------------------------------------------------------------------------
    def syndrome_of_current(self) -> tuple[str | None, str]:
        """(class name, how it was chosen) for the current image."""
        if self.path is None:
            return None, ""
        label = self.controller.labels.get(self.path)
        if label:
            return label, "label"
        pred = getattr(self.entry, "prediction", None) if self.entry is not None else None
        if pred is not None and pred.top:
            return pred.top[0][1], "predicted"
        return None, ""

    def refresh(self) -> None:
        name, how = self.syndrome_of_current()
        atlas = self.atlas()
        if name is None or atlas is None or self.entry is None:
            why = ("This model has no face template, so regions cannot be located."
                   if self.controller.adapter is not None and atlas is None
                   else "Open an image to compare its map with its syndrome's known features.")
            self.panel.set_report(None, why)
            return
        terms = self.terms_for(name)
        heading = f"<b>{html.escape(name)}</b> <span style='color:#666'>({how})</span>"
        if terms is None:
            self.panel.set_report(None, heading + "<br>Looking up HPO terms…")
            return
        if not self.entry.aligned:
            heading += "<br><span style='color:#a00'>The face is not aligned: regions are approximate.</span>"
        maps: dict[str, Any] = {}
        explained = set()
        for spec in self.controller.state.panels():
            res = self.controller.current.get(spec.panel_id)
            if res is not None and spec.rank == 0:
                maps[spec.method] = res.map
                explained.add(res.target_name)
        if explained and explained != {name}:
            targets = html.escape(", ".join(sorted(explained)))
            heading += (f"<br><span style='color:#a60'>The maps explain {targets} (the target), "
                        "not this syndrome.</span>")
        rep = build_reports({name: terms}, atlas, self.entry.grid_size, {name: maps}, {name: 1})[name]
        heading += f"<br><span style='color:#666'>HPO source: {html.escape(terms.source or 'none')}</span>"
        self.panel.set_report(rep, heading)


class SyndromePhenotypeView(QWidget):
    """Per-syndrome comparison on the Composites tab's syndrome-wise maps (its own tab)."""

    def __init__(self, feature: PhenotypeFeature) -> None:
        super().__init__()
        self.feature = feature
        self.classes = QListWidget()
        self.classes.setMaximumWidth(260)
        self.classes.currentItemChanged.connect(lambda *_a: self.refresh())
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.panel = PhenotypePanel()
        self.panel.export_failed.connect(lambda m: feature.window.show_error("Export failed", m))
        left = QVBoxLayout()
        left.addWidget(QLabel("Syndromes (composites)"))
        left.addWidget(self.classes, 1)
        left.addWidget(self.hint)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addWidget(self.panel, 1)
        self.composites = None
        try:
            from .syndrome_integration import install_syndrome_views

            self.composites = install_syndrome_views(feature.window).composites
            self.composites.computed.connect(lambda _role: self.fill())
        except (AttributeError, ImportError):  # a build without the Composites tab
            self.composites = None
        self.fill()

    def result(self) -> Any:
        results = getattr(self.composites, "results", None) or {}
        return results.get("primary")

    def fill(self) -> None:
        res = self.result()
        item = self.classes.currentItem()
        current = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.classes.blockSignals(True)
        self.classes.clear()
        names = [c for c in (res.classes if res is not None else []) if res.counts.get(c) and c in res.maps]
        for c in names:
            item = QListWidgetItem(f"{c}  ({res.counts[c]})")
            item.setData(Qt.ItemDataRole.UserRole, c)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self.hint.setText("" if names else "Compute composites first: Analysis ▸ Compute syndrome composites "
                          "(with at least one method).")
        if names:
            first = next((i for i, c in enumerate(names) if c.casefold() not in ("unaffected", "control")), 0)
            self.classes.setCurrentRow(names.index(current) if current in names else first)
        self.refresh()

    def refresh(self) -> None:
        res = self.result()
        item = self.classes.currentItem()
        atlas = self.feature.atlas()
        if res is None or item is None or atlas is None:
            self.panel.set_report(None, "Per-syndrome comparison of the composites' mean maps with HPO.")
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        terms = self.feature.terms_for(name)
        heading = (f"<b>{html.escape(name)}</b> "
                   f"<span style='color:#666'>(mean of {res.counts[name]} maps)</span>")
        if terms is None:
            self.panel.set_report(None, heading + "<br>Looking up HPO terms…")
            return
        maps = res.maps[name]
        shape = next(iter(maps.values())).shape if maps else self.feature.controller.adapter.input_size
        rep = build_reports({name: terms}, atlas, tuple(shape), {name: maps}, {name: res.counts[name]})[name]
        heading += f"<br><span style='color:#666'>HPO source: {html.escape(terms.source or 'none')}</span>"
        self.panel.set_report(rep, heading)


def install_phenotype(window: Any) -> PhenotypeFeature:
    """Add the atlas overlay, the Phenotype dock and the HPO regions tab (idempotent)."""
    existing = getattr(window, _ATTR, None)
    if existing is not None:
        return existing
    feature = PhenotypeFeature(window)
    setattr(window, _ATTR, feature)
    return feature


__all__ = ["REGIONS", "PhenotypeFeature", "SyndromePhenotypeView", "install_phenotype"]
