"""Eye tracking in the app: fixations on every panel, a Gaze panel, the metrics tables.

Installed by :func:`install_gaze` through the window's extension points only: ``menu``,
``add_dock``, ``grid.add_overlay_factory`` / ``grid.add_extra_panel`` and the controller's signals
and worker. The computation is :mod:`gmxai_desktop.core.gaze`, the same code ``gmxai gaze`` runs;
everything slower than drawing (this image's metrics, the folder study, figure rendering) is a
worker job, so the window stays responsive and the folder study can be cancelled.

With the bundled demo folder open, the synthetic demo fixations load by themselves.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QRectF, Qt, QTimer
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QFileDialog, QScrollArea

from ..core.base.errors import GmxaiError
from ..core.gaze import image_gaze
from ..core.gaze.density import Sigma
from ..core.gaze.fixations import FixationTable, match_images, read_fixations
from ..core.gaze.overlay import duration_scale, observer_colors
from ..core.gaze.run import GazeOptions, StudyImage, prepare_image, score_images
from ..core.gaze.study import ALL, CEILING, FLOOR, ImageGaze, evaluate_image, summarise
from ..core.gaze.transform import grid_transform
from .controller import PRIMARY
from .display import render_maps
from .gaze_figure import GazeFigures
from .gaze_view import GazeView
from .worker import PRIORITY_COMPARE, PRIORITY_PREFETCH

GAZE_PANEL = "__gaze__"
POINT_PX = 7.0
DENSITY_RGB = (0, 229, 255)


@dataclass(frozen=True)
class GazeImageKey:
    image: str
    token: int


@dataclass(frozen=True)
class GazeFolderKey:
    image: str
    token: int


@dataclass(frozen=True)
class GazeScoreKey:
    token: int


class GazeFeature(QObject):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.table: FixationTable | None = None
        self.source: Path | None = None
        self.keys: dict[Path, str] = {}  # image file -> fixation key
        self.gaze: ImageGaze | None = None
        self.entry: Any = None
        self.image_rows: list[dict[str, object]] = []
        self.folder: dict[str, StudyImage] = {}
        self.folder_rows: list[dict[str, object]] = []
        self._pending: set[str] = set()
        self._folder_failed: list[str] = []
        self._folder_total = 0
        self._folder_opts: GazeOptions | None = None
        self._token = 0  # folder study generation (the score job must belong to the last one)
        self._image_seq = 0
        self._items: list[tuple[Any, pg.ScatterPlotItem, pg.ImageItem]] = []
        self.view = GazeView()
        self.figures = GazeFigures(self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._submit_image_metrics)

    # ---- options -----------------------------------------------------------------------------
    def options(self) -> GazeOptions:
        st = self.controller.state
        target = "predicted" if st.target.startswith("top:") else st.target
        return GazeOptions(sigma=Sigma(self.view.sigma_px), sign=self.view.sign_mode, align=st.align,
                           target=target)

    # ---- loading -----------------------------------------------------------------------------
    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Load fixations", "", "Fixations (*.csv *.tsv *.txt *.xls);;All files (*)")
        if path:
            self.load(Path(path))

    def load(self, path: Path) -> bool:
        try:
            table = read_fixations(path)
            keys = self._match(table)
        except GmxaiError as exc:
            self.window.show_error("Cannot load fixations", str(exc))
            return False
        self.table, self.source, self.keys = table, path, keys
        self.reset_folder()
        self._token += 1
        n_img = len(set(keys.values()))
        self.view.source_label.setText(
            f"<b>{html.escape(path.name)}</b>: {len(table)} fixations, {len(table.observers())} observers, "
            f"{n_img} images")
        self.window.grid.add_extra_panel(GAZE_PANEL)
        self.panel.set_title("<b>Gaze</b><br>fixation density")
        entry = self._current_entry()
        if entry is not None and self.controller.state.image is not None:
            self.on_prepared(self.controller.state.image, entry)
        return True

    def _match(self, table: FixationTable) -> dict[Path, str]:
        paths = list(self.controller.paths)
        if not paths:
            return {}
        by_key = match_images(table, paths, self.controller.folder)
        return {p: k for k, p in by_key.items()}

    def on_folder_loaded(self, paths: list, _labels: Any) -> None:
        if self.table is None:
            from ..core.demo import demo_data_dir

            demo = demo_data_dir()
            folder = self.controller.folder
            if folder is not None and Path(folder).resolve() == (demo / "images").resolve():
                self.load(demo / "fixations.csv")
                self._study_after_first_maps()
            return
        self.reset_folder()
        try:
            self.keys = self._match(self.table)
        except GmxaiError as exc:
            self.keys = {}
            self.view.source_label.setText(html.escape(str(exc)))

    # ---- panels ------------------------------------------------------------------------------
    @property
    def panel(self) -> Any:
        return self.window.grid.panel(GAZE_PANEL)

    def attach(self, panel: Any) -> None:
        """Overlay factory: fixation markers (and the density) on this panel, in map pixels. The Gaze
        panel shows the density alone: markers would hide the peaks they make."""
        if getattr(panel, "panel_id", "") == GAZE_PANEL:
            return
        scatter = pg.ScatterPlotItem(pxMode=True)
        scatter.setZValue(30)
        panel.view_box.addItem(scatter, ignoreBounds=True)
        dens = pg.ImageItem(axisOrder="row-major")
        dens.setZValue(20)
        panel.view_box.addItem(dens, ignoreBounds=True)
        entry = (panel, scatter, dens)
        self._items.append(entry)
        holder = panel if isinstance(panel, QObject) else panel.view_box
        holder.destroyed.connect(lambda *_a, e=entry: self._items.remove(e) if e in self._items else None)
        self._draw_one(entry)

    def _draw_one(self, entry: tuple[Any, pg.ScatterPlotItem, pg.ImageItem]) -> None:
        _panel, scatter, dens = entry
        g = self.gaze
        if g is None or not self.view.show_points.isChecked():
            scatter.clear()
        else:
            colors = observer_colors(g.observer)
            sizes = POINT_PX * duration_scale(g.duration_ms)
            brushes = [pg.mkBrush(QColor(colors[o])) for o in g.observer]
            scatter.setData(pos=np.asarray(g.points), size=sizes, brush=brushes,
                            pen=pg.mkPen(QColor(0, 0, 0, 200), width=0.8))
        if g is None or not self.view.show_density.isChecked():
            dens.clear()
            return
        d = g.density()
        peak = float(d.max()) or 1.0
        rgba = np.zeros((*d.shape, 4), np.uint8)
        rgba[..., :3] = DENSITY_RGB
        rgba[..., 3] = np.clip(d / peak * 170.0, 0, 255).astype(np.uint8)
        dens.setImage(rgba, autoLevels=False, levels=(0, 255))
        dens.setRect(QRectF(0, 0, d.shape[1], d.shape[0]))

    def redraw(self) -> None:
        for entry in list(self._items):
            self._draw_one(entry)
        self._draw_gaze_panel()

    def _draw_gaze_panel(self) -> None:
        panel = self.panel
        if panel is None:
            return
        g = self.gaze
        if g is None or panel.grid_size is None:
            panel.set_map(None)
            panel.show_display(None, "positive")
            name = self.controller.state.image.name if self.controller.state.image else ""
            why = "no fixations for this image" if self.entry is not None else "waiting for the face…"
            panel.set_title(f"<b>Gaze</b><br>{html.escape(why)}", name)
            panel.set_message(why if self.entry is not None else "")
            return
        d = g.density()
        ov = self.controller.state.overlay
        disp = render_maps([d], sign="positive", clip_percentile=100.0, shared=False, cmap=ov.sequential_cmap,
                           opacity=1.0, fade_weak=True, upsample_to=panel.face_rgb.shape[:2]
                           if panel.face_rgb is not None else None)[0]
        panel.set_map(d)
        panel.show_display(disp, "positive")
        panel.set_message("")
        panel.set_title(
            f"<b>Gaze</b> · {len(g.observers())} observers<br>"
            f"{int(g.inside.sum())} fixations{f' ({g.n_outside} outside)' if g.n_outside else ''} · "
            f"σ {g.sigma_px:g} px",
            f"fixation density (each fixation blurred with σ = {g.sigma_px:g} model-grid px); "
            f"{g.n_outside} fixations fall outside the face crop and are not scored")

    # ---- current image -----------------------------------------------------------------------
    def _current_entry(self) -> Any:
        c = self.controller
        if c.adapter is None or c.state.image is None:
            return None
        return c.prepared_cache.get(c.state.prepare_key(c.adapter.model_id))

    def on_image_changed(self, _path: Any) -> None:
        self.gaze, self.entry = None, None
        self.image_rows = []
        self.view.image_table.set_rows([])
        self.redraw()

    def on_prepared(self, path: Path, entry: Any) -> None:
        self.entry = entry
        key = self.keys.get(Path(path)) if self.table is not None else None
        if key is None or self.table is None:
            self.gaze = None
        else:
            try:
                tf = grid_transform(path, entry.matrix, entry.face_shape, entry.grid_size)
                self.gaze = image_gaze(key, self.table.for_image(key), tf, Sigma(self.view.sigma_px))
            except (OSError, GmxaiError) as exc:
                self.gaze = None
                self.controller.notice.emit(f"fixations: {exc}")
        self.redraw()
        self.schedule_image_metrics()

    def schedule_image_metrics(self, *_args: Any) -> None:
        if self.gaze is not None:
            self._timer.start()

    def _current_maps(self) -> dict[str, np.ndarray]:
        maps: dict[str, np.ndarray] = {}
        for res in self.controller.current.values():
            if res is not None and res.method in self.controller.state.methods:
                maps.setdefault(res.method, np.asarray(res.map))
        return maps

    def _others(self, key: str) -> np.ndarray | None:
        g = self.gaze
        out = None
        for k, img in self.folder.items():
            if k != key and g is not None and img.gaze.grid_shape == g.grid_shape:
                f = img.gaze.fixations()
                out = f if out is None else out | f
        return out

    def _submit_image_metrics(self) -> None:
        g = self.gaze
        if g is None:
            return
        maps, opts, other = self._current_maps(), self.options(), self._others(g.image)
        self._image_seq += 1
        key = GazeImageKey(g.image, self._image_seq)
        self.controller.worker.cancel_where(lambda k: isinstance(k, GazeImageKey))
        self.controller.worker.submit(
            key, lambda job: evaluate_image(g, maps, opts.sign, other, opts.top_percent),
            PRIORITY_COMPARE + 5, "gaze metrics")

    def _fill_image_table(self) -> None:
        labels = self._labels()
        tips = {CEILING: "each observer predicted by the other observers' density (mean over observers)",
                FLOOR: "a Gaussian on the image centre (σ = a quarter of each side)"}
        rows = []
        for r in self.image_rows:
            if r["observer"] == ALL:
                m = str(r["method"])
                rows.append((m if m in tips else labels.get(m, m), r, tips.get(m, "all observers pooled")))
        self.view.image_table.set_rows(rows)

    def _labels(self) -> dict[str, str]:
        from ..core.attribution.methods import get_method

        out = {}
        for m in self.controller.state.methods:
            try:
                out[m] = get_method(m).label
            except GmxaiError:
                out[m] = m
        return out

    # ---- folder study ------------------------------------------------------------------------
    def _study_after_first_maps(self) -> None:
        """Start the demo's folder study once the current image's maps are on screen.

        The worker runs one job at a time and a study job (one image, every method) takes seconds:
        started while the first image is still being prepared, it would hold back the maps the user
        is waiting for.
        """
        self.window.after_results_shown(lambda: QTimer.singleShot(0, self.compute_folder))

    def compute_folder(self) -> None:
        c = self.controller
        if self.table is None or c.adapter is None or not self.keys:
            self.view.folder_label.setText("load fixations and a folder with matching images first")
            return
        self.cancel_folder()
        self._token += 1
        token, adapter, table, opts = self._token, c.adapter, self.table, self.options()
        methods = list(c.state.methods)
        params = {m: dict(c.state.param_overrides.get(m, {})) for m in methods}
        self._folder_opts = opts
        self.folder, self.folder_rows = {}, []
        self._pending = {str(p) for p in self.keys}
        self._folder_failed = []
        self._folder_total = len(self._pending)
        for path, key in self.keys.items():
            sub = table.for_image(key)
            c.worker.submit(
                GazeFolderKey(str(path), token),
                lambda job, p=path, k=key, t=sub: prepare_image(adapter, p, k, t, methods, params, opts, job),
                PRIORITY_PREFETCH + 10, "gaze folder study")
        self.view.set_folder_busy(True, 0, self._folder_total)

    def reset_folder(self, *_args: Any) -> None:
        """A new model or folder makes the folder table stale: drop it (and any study under way)."""
        self.cancel_folder()
        self.folder, self.folder_rows = {}, []
        self.view.folder_table.set_rows([])
        self.view.folder_label.setText("")
        self.view.export_btn.setEnabled(False)

    def cancel_folder(self) -> None:
        self.controller.worker.cancel_where(lambda k: isinstance(k, (GazeFolderKey, GazeScoreKey)))
        self._pending = set()
        self.view.set_folder_busy(False)

    def _rescore(self) -> None:
        if not self.folder or self._pending or self._folder_opts is None:
            return
        opts = self.options()
        opts.align, opts.target = self._folder_opts.align, self._folder_opts.target
        images = list(self.folder.values())
        for img in images:
            img.gaze.sigma_px = opts.sigma.grid_px()
        self.controller.worker.submit(GazeScoreKey(self._token), lambda job: score_images(images, opts),
                                      PRIORITY_COMPARE + 6, "gaze folder metrics")

    def _fill_folder_table(self) -> None:
        s = summarise(self.folder_rows)
        labels = self._labels()
        rows = [(m if m in (CEILING, FLOOR) else labels.get(m, m), s.mean[m],
                 f"mean over {s.n_images[m]} images of the per-observer values") for m in s.methods]
        self.view.folder_table.set_rows(rows)
        n_out = sum(i.gaze.n_outside for i in self.folder.values())
        failed = f"; {len(self._folder_failed)} images failed" if self._folder_failed else ""
        self.view.folder_label.setText(
            f"{len(self.folder)} images; {n_out} fixations outside the crop{failed}")
        self.view.folder_label.setToolTip("\n".join(self._folder_failed))
        self.view.export_btn.setEnabled(bool(self.folder_rows))

    def export_csv(self) -> None:
        from ..core.base.atomic import atomic_write_text
        from ..core.gaze.study import format_metrics_csv

        path, _ = QFileDialog.getSaveFileName(self.window, "Save gaze metrics", "metrics.csv", "CSV (*.csv)")
        if path:
            atomic_write_text(path, format_metrics_csv(self.folder_rows))

    # ---- worker results ----------------------------------------------------------------------
    def on_finished(self, key: Any, result: Any, _seconds: float) -> None:
        if isinstance(key, GazeImageKey) and key.token == self._image_seq and self.gaze is not None \
                and key.image == self.gaze.image:
            self.image_rows = result
            self._fill_image_table()
        elif isinstance(key, GazeFolderKey) and key.token == self._token and key.image in self._pending:
            self._pending.discard(key.image)
            self.folder[result.gaze.image] = result
            self._folder_step()
        elif isinstance(key, GazeScoreKey) and key.token == self._token:
            self.folder_rows = result
            self._fill_folder_table()
            self.schedule_image_metrics()
        elif isinstance(key, tuple) and key[:1] == ("gaze-figure",):
            self.controller.notice.emit(f"figure written: {Path(key[1]).name}")

    def on_failed(self, key: Any, message: str) -> None:
        if isinstance(key, GazeFolderKey) and key.token == self._token and key.image in self._pending:
            self._pending.discard(key.image)
            self._folder_failed.append(f"{Path(key.image).name}: {message}")
            self._folder_step()
        elif isinstance(key, (GazeImageKey, GazeScoreKey)):
            self.controller.notice.emit(f"gaze metrics: {message}")
        elif isinstance(key, tuple) and key[:1] == ("gaze-figure",):
            self.window.show_error("Export figure", message)

    def _folder_step(self) -> None:
        done = self._folder_total - len(self._pending)
        self.view.set_folder_busy(bool(self._pending), done, self._folder_total)
        if not self._pending:
            self._rescore()

    def on_settings_changed(self) -> None:
        if self.gaze is not None:
            self.gaze.sigma_px = self.view.sigma_px
        self.redraw()
        self.schedule_image_metrics()
        self._rescore()


def _first_placement(window: Any, dock: Any) -> None:
    regions = getattr(getattr(window, "annotations", None), "metrics_dock", None)
    if regions is not None:
        window.tabifyDockWidget(regions, dock)
    window.resizeDocks([dock], [230], Qt.Orientation.Vertical)  # the two reference rows + 4 methods


def install_gaze(window: Any) -> GazeFeature:
    """Add File › Load fixations…, the Gaze menu and dock, and the fixation overlays to ``window``."""
    feature = GazeFeature(window)
    file_menu = window.menu("&File")
    load = QAction("Load &fixations…", window)
    load.setToolTip("Eye-tracking fixations (gmxai CSV, Tobii Pro Lab export, EyeLink report)")
    load.triggered.connect(feature.load_dialog)
    after = next((a for a in file_menu.actions() if a.text().startswith("Open &labels")), None)
    idx = file_menu.actions().index(after) + 1 if after is not None else len(file_menu.actions())
    nxt = file_menu.actions()[idx] if idx < len(file_menu.actions()) else None
    file_menu.insertAction(nxt, load) if nxt is not None else file_menu.addAction(load)
    gm = window.menu("&Gaze")
    for text, fn in (("Compute folder table", feature.compute_folder),
                     ("Export figure with fixations…", feature.figures.export_dialog),
                     ("Save gaze metrics.csv…", feature.export_csv)):
        gm.addAction(text).triggered.connect(fn)
    bottom = Qt.DockWidgetArea.BottomDockWidgetArea
    scroll = QScrollArea()  # a short window squeezes the dock: scroll rather than raise its minimum height
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setWidget(feature.view)
    scroll.setMinimumHeight(60)
    feature.dock = window.add_dock(scroll, "Gaze", bottom)
    _geometry, state = window.settings.window_state()
    if state is not None:  # the saved layout knows where the Gaze dock was
        window.restoreState(state)
    else:  # first run: a tab beside Region metrics, placed once the window is shown (tabifying the
        # docks of a window not yet shown leaves a stale second tab bar on screen)
        QTimer.singleShot(0, lambda: _first_placement(window, feature.dock))
    window.grid.add_overlay_factory(feature.attach)
    diff = getattr(window, "diff", None)
    if diff is not None:
        for panel in (diff.panel_a, diff.panel_b, diff.panel_d):
            feature.attach(panel)
    c = window.controller
    c.image_changed.connect(feature.on_image_changed)
    c.prepared.connect(feature.on_prepared)
    c.folder_loaded.connect(feature.on_folder_loaded)
    c.model_loaded.connect(lambda role, _a: feature.reset_folder() if role == PRIMARY else None)
    c.panel_result.connect(feature.schedule_image_metrics)
    c.overlay_changed.connect(lambda *_a: feature._draw_gaze_panel())
    c.worker.finished.connect(feature.on_finished)
    c.worker.failed.connect(feature.on_failed)
    v = feature.view
    v.settings_changed.connect(feature.on_settings_changed)
    v.toggles_changed.connect(feature.redraw)
    v.compute_folder.connect(feature.compute_folder)
    v.cancel_folder.connect(feature.cancel_folder)
    v.export_csv.connect(feature.export_csv)
    annotations = getattr(window, "annotations", None)
    if annotations is not None and hasattr(annotations, "add_figure_panel_provider"):
        annotations.add_figure_panel_provider(feature.figures.extra_panels)
    window.gaze = feature
    return feature
