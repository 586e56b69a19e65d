"""Export a publication figure of the current image, or of every image in the folder.

The figure is built by the same code as ``gmxai figure`` (:func:`gmxai_desktop.core.output.
figure_spec.build_spec`): the face, one overlay per method with a colour bar in raw map units, the annotated
regions outlined. The dialog only chooses: which panels, layout, fonts, resolution, format, and the
display settings the window uses (sign mode, colour map, opacity, clipping, shared scale), so the
figure shows what the screen shows.

Rendering never blocks the window: the preview and a single export run in a thread pool
(matplotlib, no torch); a folder export runs one job per image on the controller's compute worker
(the only thread that runs the model), at a priority below the current image's maps, with progress
and cancel.

Privacy: the image's file name goes into the title only when asked; nothing else identifies the
source (see :mod:`gmxai_desktop.core.output.figure`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.base.errors import GmxaiError
from ..core.base.jobs import JobControl
from ..core.output.figure import FORMATS, FigureSpec, figure_to_rgb, save_figure
from ..core.output.figure_spec import (
    ExtraPanel,
    FigureInputs,
    FigureOptions,
    PanelProvider,
    batch_file_names,
    build_spec,
)

PRIORITY_FIGURE_BATCH = 40  # after the current image's maps (20-30), before thumbnail predictions (50)
PHOTO_KEY = "__photo__"
FACE_KEY = "__face__"
FORMAT_LABELS = {"pdf": "PDF (vector, for journals)", "svg": "SVG (vector, editable)", "png": "PNG (raster)"}
BASE_LABELS = {
    "face": "the aligned colour face",
    "model": "exactly what the model sees",
}


class FigureHost(Protocol):
    """What the dialog needs from the window (implemented by the annotations feature)."""

    def figure_methods(self) -> list[tuple[str, str]]: ...
    def figure_inputs(self, base: str) -> FigureInputs | None: ...
    def figure_extras(self) -> list[ExtraPanel]: ...
    def figure_display(self) -> dict[str, Any]: ...
    def figure_has_photo(self) -> bool: ...
    def figure_batch_paths(self) -> list[Path]: ...
    def figure_batch_job(
        self, opts: FigureOptions, path: Path, out: Path
    ) -> Callable[[JobControl], Path]: ...
    def figure_worker(self) -> Any: ...
    def figure_before_batch(self) -> None: ...


@dataclass(frozen=True)
class FigureBatchKey:
    """Worker key of one image of a folder export (never equal to the controller's keys)."""

    batch: int
    index: int
    image: str


class _TaskSignals(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class _Task(QRunnable):
    """Run ``fn`` in the global thread pool; report through queued signals."""

    def __init__(self, token: int, fn: Callable[[], Any], signals: _TaskSignals) -> None:
        super().__init__()
        self.token, self.fn, self.signals = token, fn, signals

    def run(self) -> None:
        try:
            result = self.fn()
        except GmxaiError as exc:
            self.signals.failed.emit(self.token, str(exc))
        except Exception as exc:
            self.signals.failed.emit(self.token, f"internal error ({type(exc).__name__}: {exc})")
        else:
            self.signals.done.emit(self.token, result)


_batch_ids = itertools.count(1)


class FigureDialog(QDialog):
    """Options on the left, live preview on the right; export one image or the whole folder."""

    exported = Signal(object)  # Path written (single export)
    export_failed = Signal(str)
    batch_finished = Signal(int, int, list)  # written, total, [(image name, message), ...]

    def __init__(self, host: FigureHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("figure-dialog")
        self.setWindowTitle("Export figure")
        self.host = host
        self.last_folder = ""
        self.ask = QMessageBox.question  # replaced in tests
        self._preview_token = 0
        self._export_token = 1_000_000
        self._signals = _TaskSignals(self)
        self._signals.done.connect(self._on_task_done)
        self._signals.failed.connect(self._on_task_failed)
        self._pending_export: dict[int, Path] = {}
        self.preview_rgb: np.ndarray | None = None
        self._batch: dict[str, Any] | None = None
        self._building = False
        self.batch_summary = ""
        self._known: set[str] = set()  # panel keys offered before (their tick is the user's choice)
        self._extras: dict[str, ExtraPanel] = {}

        outer = QHBoxLayout(self)
        left = QWidget()
        form_col = QVBoxLayout(left)
        form_col.setContentsMargins(0, 0, 0, 0)

        panels_box = QGroupBox("Panels")
        pl = QVBoxLayout(panels_box)
        self.panel_list = QListWidget()
        self.panel_list.setObjectName("figure-panels")
        self.panel_list.setToolTip("Tick the panels to include, in this order")
        self.panel_list.itemChanged.connect(self._changed)
        pl.addWidget(self.panel_list)
        base_row = QFormLayout()
        self.base = QComboBox()
        for key, label in BASE_LABELS.items():
            self.base.addItem(label, key)
        self.base.setToolTip("What the maps are drawn over")
        self.base.currentIndexChanged.connect(self._changed)
        base_row.addRow("Draw maps over", self.base)
        pl.addLayout(base_row)
        form_col.addWidget(panels_box, 1)

        layout_box = QGroupBox("Layout and text")
        lf = QFormLayout(layout_box)
        self.cols = QSpinBox()
        self.cols.setRange(0, 12)
        self.cols.setSpecialValueText("automatic")
        self.cols.setToolTip("Panels per row (automatic: all in one row, up to six)")
        lf.addRow("Columns", self.cols)
        self.panel_width = QDoubleSpinBox()
        self.panel_width.setRange(0.5, 8.0)
        self.panel_width.setSingleStep(0.1)
        self.panel_width.setValue(1.7)
        self.panel_width.setSuffix(" in")
        self.panel_width.setToolTip("Width of one panel; a journal column is about 3.5 in, a page 7 in")
        lf.addRow("Panel width", self.panel_width)
        self.font_size = QDoubleSpinBox()
        self.font_size.setRange(4.0, 24.0)
        self.font_size.setSingleStep(0.5)
        self.font_size.setValue(8.0)
        self.font_size.setSuffix(" pt")
        lf.addRow("Font size", self.font_size)
        self.panel_titles = QCheckBox("Panel titles")
        self.panel_titles.setChecked(True)
        self.colorbars = QCheckBox("Colour bars (raw map units)")
        self.colorbars.setChecked(True)
        self.footnote = QCheckBox("Footnote (model, alignment, colour scale)")
        self.footnote.setChecked(True)
        lf.addRow(self.panel_titles)
        lf.addRow(self.colorbars)
        lf.addRow(self.footnote)
        title_row = QHBoxLayout()
        self.title_on = QCheckBox()
        self.title_on.setChecked(True)
        self.title_on.setToolTip("Show a figure title")
        self.title = QLineEdit()
        self.title.setPlaceholderText("automatic: explained class and probability")
        title_row.addWidget(self.title_on)
        title_row.addWidget(self.title, 1)
        lf.addRow("Title", title_row)
        form_col.addWidget(layout_box)

        ann_box = QGroupBox("Annotations")
        af = QVBoxLayout(ann_box)
        self.annotations = QCheckBox("Outline the annotated regions")
        self.annotations.setChecked(True)
        self.annotation_labels = QCheckBox("Label them with their HPO term or note")
        self.annotation_labels.setChecked(True)
        af.addWidget(self.annotations)
        af.addWidget(self.annotation_labels)
        form_col.addWidget(ann_box)

        out_box = QGroupBox("Output")
        of = QFormLayout(out_box)
        self.fmt = QComboBox()
        self.fmt.setObjectName("figure-format")
        for f in ("pdf", "svg", "png"):
            self.fmt.addItem(FORMAT_LABELS[f], f)
        of.addRow("Format", self.fmt)
        self.dpi = QSpinBox()
        self.dpi.setRange(50, 1200)
        self.dpi.setSingleStep(50)
        self.dpi.setValue(300)
        self.dpi.setSuffix(" dpi")
        self.dpi.setToolTip("Resolution of PNG files and of the images inside PDF/SVG (300 for print)")
        of.addRow("Resolution", self.dpi)
        self.include_name = QCheckBox("Put the image's file name in the title")
        self.include_name.setToolTip(
            "Off by default: file names of patient photos often contain names or record numbers"
        )
        of.addRow(self.include_name)
        self.numbered = QCheckBox("Folder export: name files figure-0001… instead of after the images")
        of.addRow(self.numbered)
        form_col.addWidget(out_box)
        self.display_note = QLabel()
        self.display_note.setWordWrap(True)
        self.display_note.setStyleSheet("color: palette(mid);")
        form_col.addWidget(self.display_note)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Wide enough for the options and a vertical scroll bar, so nothing is cut off on the right.
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(max(360, left.sizeHint().width() + bar + 6))
        outer.addWidget(scroll)

        right = QVBoxLayout()
        self.preview = QLabel("Preview")
        self.preview.setObjectName("figure-preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(460, 320)
        self.preview.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.preview.setStyleSheet("background: #f4f4f4; border: 1px solid #ccc;")
        right.addWidget(self.preview, 1)
        self.status = QLabel("")
        self.status.setObjectName("figure-status")
        self.status.setWordWrap(True)
        right.addWidget(self.status)
        prog = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("figure-batch-progress")
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the folder export after the current image")
        self.cancel_button.clicked.connect(self.cancel_batch)
        self.cancel_button.hide()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_button)
        right.addLayout(prog)
        buttons = QHBoxLayout()
        self.batch_button = QPushButton("Export every image…")
        self.batch_button.setToolTip(
            "Compute the chosen maps for every image of the open folder and save one figure per image "
            "(difference and other extra panels are for the current image only)"
        )
        self.batch_button.clicked.connect(self.batch_dialog)
        self.export_button = QPushButton("Export…")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export_dialog)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.batch_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        right.addLayout(buttons)
        outer.addLayout(right, 1)

        for w in (self.cols, self.panel_width, self.font_size, self.dpi):
            w.valueChanged.connect(self._changed)
        for c in (
            self.panel_titles,
            self.colorbars,
            self.footnote,
            self.title_on,
            self.annotations,
            self.annotation_labels,
            self.include_name,
        ):
            c.toggled.connect(self._changed)
        self.title.textChanged.connect(self._changed)
        self.fmt.currentIndexChanged.connect(self._changed)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(250)
        self._preview_timer.timeout.connect(self.render_preview)
        self.resize(1100, 720)
        self.refresh()

    # -- content from the window -------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read what the current image offers (panels, methods, display settings)."""
        checked = self._checked_keys()
        first = not checked and self.panel_list.count() == 0
        self._building = True
        self.panel_list.clear()
        entries: list[tuple[str, str, bool]] = []
        if self.host.figure_has_photo():
            entries.append((PHOTO_KEY, "Photo as loaded (before alignment)", False))
        entries.append((FACE_KEY, "Face", True))
        entries += [(name, label, True) for name, label in self.host.figure_methods()]
        self._extras = {e.key: e for e in self.host.figure_extras()}
        entries += [(e.key, e.label, False) for e in self._extras.values()]
        for key, label, default in entries:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = default if first or key not in self._known else key in checked
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.panel_list.addItem(item)
        self._known |= {k for k, _l, _d in entries}
        self._building = False
        d = self.host.figure_display()
        self.display_note.setText(
            f"Colours follow the window's Display settings: {d['sign']} values, colour map {d['cmap']}, "
            f"opacity {d['alpha']:.0%}, clipped at the {d['clip_percentile']:g}th percentile"
            + (", one shared scale." if d["shared_scale"] else ", one scale per panel.")
        )
        n = len(self.host.figure_batch_paths())
        self.batch_button.setText(f"Export all {n} images…" if n else "Export every image…")
        self.batch_button.setEnabled(n > 0 and self._batch is None)
        self._changed()

    def _checked_keys(self) -> set[str]:
        keys = set()
        for i in range(self.panel_list.count()):
            item = self.panel_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                keys.add(item.data(Qt.ItemDataRole.UserRole))
        return keys

    def options(self) -> FigureOptions:
        keys = self._checked_keys()
        methods = [m for m, _label in self.host.figure_methods() if m in keys]
        d = self.host.figure_display()
        title: str | None = None
        if not self.title_on.isChecked():
            title = ""
        elif self.title.text().strip():
            title = self.title.text().strip()
        return FigureOptions(
            methods=methods,
            photo_panel=PHOTO_KEY in keys,
            input_panel=FACE_KEY in keys,
            extras=[k for k in self._extras if k in keys],
            base=self.base.currentData(),
            panel_titles=self.panel_titles.isChecked(),
            figure_title=title,
            footnote=self.footnote.isChecked(),
            colorbars=self.colorbars.isChecked(),
            annotations=self.annotations.isChecked(),
            annotation_labels=self.annotation_labels.isChecked(),
            cols=self.cols.value(),
            panel_width_in=self.panel_width.value(),
            font_size=self.font_size.value(),
            dpi=self.dpi.value(),
            fmt=self.fmt.currentData(),
            include_file_name=self.include_name.isChecked(),
            **d,
        )

    def current_spec(self) -> FigureSpec | None:
        """The figure of the current image with the current options (None: nothing to show)."""
        opts = self.options()
        inputs = self.host.figure_inputs(opts.base)
        if inputs is None:
            return None
        inputs.extras = [e for e in self._extras.values() if e.key in opts.extras]
        photo = opts.photo_panel and inputs.original is not None
        if not (opts.methods or opts.input_panel or inputs.extras or photo):
            return None
        return build_spec(opts, inputs)

    # -- preview -----------------------------------------------------------------------------
    def _changed(self, *_args: Any) -> None:
        if not self._building:
            self.annotation_labels.setEnabled(self.annotations.isChecked())
            self.title.setEnabled(self.title_on.isChecked())
            self._preview_timer.start()

    def render_preview(self) -> None:
        try:
            spec = self.current_spec()
        except GmxaiError as exc:
            self.preview.setText(str(exc))
            return
        if spec is None:
            self.preview.setPixmap(QPixmap())
            self.preview.setText("Nothing to show yet: open a model and an image, and tick a panel.")
            self.export_button.setEnabled(False)
            return
        self.export_button.setEnabled(True)
        fig_w_in = spec.cols * spec.panel_width_in + 0.1
        dpi = int(min(150, max(40, self.preview.width() / fig_w_in)))
        self._preview_token += 1
        token = self._preview_token
        QThreadPool.globalInstance().start(_Task(token, lambda: figure_to_rgb(spec, dpi=dpi), self._signals))
        self.status.setText("Rendering preview…")

    def _show_preview(self, rgb: np.ndarray) -> None:
        self.preview_rgb = rgb
        h, w = rgb.shape[:2]
        img = QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        pix = QPixmap.fromImage(img)
        target = self.preview.size()
        if pix.width() > target.width() or pix.height() > target.height():
            pix = pix.scaled(
                target, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        self.preview.setPixmap(pix)

    def _on_task_done(self, token: int, result: Any) -> None:
        if token in self._pending_export:
            path = self._pending_export.pop(token)
            self.status.setText(f"Saved {path.name}")
            self.exported.emit(path)
            return
        if token == self._preview_token:
            self.status.setText("")
            self._show_preview(result)

    def _on_task_failed(self, token: int, message: str) -> None:
        if token in self._pending_export:
            self._pending_export.pop(token)
            self.status.setText(f"Not saved: {message}")
            self.export_failed.emit(message)
        elif token == self._preview_token:
            self.preview.setPixmap(QPixmap())
            self.preview.setText(message)
            self.status.setText("")

    # -- single export -----------------------------------------------------------------------
    def export_dialog(self) -> None:
        fmt = self.fmt.currentData()
        name = f"figure.{fmt}"
        start = str(Path(self.last_folder) / name) if self.last_folder else name
        filters = {"pdf": "PDF (*.pdf)", "svg": "SVG (*.svg)", "png": "PNG (*.png)"}
        path, _ = QFileDialog.getSaveFileName(self, "Export figure", start, filters[fmt])
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> bool:
        """Render and save in the background; ``exported`` / ``export_failed`` report the outcome.

        The format comes from the extension, or the chosen format is appended when there is none.
        """
        p = Path(path)
        suffix = p.suffix.lower().lstrip(".")
        fmt = suffix if suffix in FORMATS else self.fmt.currentData()
        if suffix not in FORMATS:
            p = p.with_name(p.name + f".{fmt}")
        try:
            spec = self.current_spec()
        except GmxaiError as exc:
            self._report_error(str(exc))
            return False
        if spec is None:
            self._report_error("There is nothing to export yet.")
            return False
        self.last_folder = str(p.parent)
        self._export_token += 1
        token = self._export_token
        self._pending_export[token] = p
        self.status.setText(f"Saving {p.name}…")
        QThreadPool.globalInstance().start(_Task(token, lambda: save_figure(spec, p, fmt=fmt), self._signals))
        return True

    def _report_error(self, message: str) -> None:
        self.status.setText(message)
        self.export_failed.emit(message)

    # -- folder export -----------------------------------------------------------------------
    def batch_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the figures", self.last_folder)
        if folder:
            self.start_batch(Path(folder))

    def start_batch(self, folder: Path) -> bool:
        """Queue one figure job per image of the open folder on the compute worker."""
        if self._batch is not None:
            return False
        paths = self.host.figure_batch_paths()
        opts = self.options()
        if not paths:
            self._report_error("No image folder is open.")
            return False
        if not (opts.methods or opts.input_panel or opts.photo_panel):
            self._report_error("Tick at least one panel.")
            return False
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._report_error(f"Cannot create {folder.name}: {exc.strerror or exc}")
            return False
        names = batch_file_names(paths, opts.fmt, self.numbered.isChecked())
        existing = [n for n in names if (folder / n).exists()]
        if existing:
            answer = self.ask(
                self,
                "Replace figures?",
                f"{len(existing)} of the {len(names)} figure files already exist in {folder.name}. "
                "Replace them?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            jobs = [
                self.host.figure_batch_job(opts, path, folder / name)
                for path, name in zip(paths, names, strict=True)
            ]
        except GmxaiError as exc:
            self._report_error(str(exc))
            return False
        self.host.figure_before_batch()
        worker = self.host.figure_worker()
        batch = next(_batch_ids)
        self._batch = {
            "id": batch,
            "total": len(paths),
            "done": 0,
            "written": 0,
            "failed": [],
            "fractions": {},
            "folder": folder,
        }
        worker.progress.connect(self._on_batch_progress)
        worker.finished.connect(self._on_batch_finished)
        worker.failed.connect(self._on_batch_failed)
        worker.cancelled.connect(self._on_batch_cancelled)
        for i, (path, fn) in enumerate(zip(paths, jobs, strict=True)):
            key = FigureBatchKey(batch, i, str(path))
            worker.submit(key, fn, PRIORITY_FIGURE_BATCH, f"figure {i + 1} of {len(paths)}")
        self.last_folder = str(folder)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.batch_button.setEnabled(False)
        self.status.setText(f"Exporting {len(paths)} figures to {folder.name}…")
        return True

    def _mine(self, key: Hashable) -> bool:
        return isinstance(key, FigureBatchKey) and self._batch is not None and key.batch == self._batch["id"]

    def _update_progress(self) -> None:
        b = self._batch
        if b is None:
            return
        frac = (b["done"] + sum(b["fractions"].values())) / max(b["total"], 1)
        self.progress.setValue(round(1000 * frac))
        self.progress.setFormat(f"{b['done']} of {b['total']}")

    def _on_batch_progress(self, key: Hashable, fraction: float, _message: str) -> None:
        if self._mine(key):
            self._batch["fractions"][key.index] = fraction  # type: ignore[index]
            self._update_progress()

    def _step_done(self, key: FigureBatchKey) -> None:
        b = self._batch
        assert b is not None
        b["fractions"].pop(key.index, None)
        b["done"] += 1
        self._update_progress()
        if b["done"] >= b["total"]:
            self._end_batch()

    def _on_batch_finished(self, key: Hashable, _result: Any, _seconds: float) -> None:
        if self._mine(key):
            self._batch["written"] += 1  # type: ignore[index]
            self._step_done(key)  # type: ignore[arg-type]

    def _on_batch_failed(self, key: Hashable, message: str) -> None:
        if self._mine(key):
            self._batch["failed"].append((Path(key.image).name, message))  # type: ignore[union-attr,index]
            self._step_done(key)  # type: ignore[arg-type]

    def _on_batch_cancelled(self, key: Hashable) -> None:
        if self._mine(key):
            self._batch["cancelled"] = True  # type: ignore[index]
            self._step_done(key)  # type: ignore[arg-type]

    def cancel_batch(self) -> None:
        b = self._batch
        if b is None:
            return
        batch_id = b["id"]
        b["cancelled"] = True
        worker = self.host.figure_worker()
        # Queued jobs are dropped silently and the running one stops before it writes its file, so
        # the batch ends now; late signals of this batch are ignored (see _mine).
        worker.cancel_where(lambda k: isinstance(k, FigureBatchKey) and k.batch == batch_id)
        self._end_batch()

    def _end_batch(self) -> None:
        b = self._batch
        assert b is not None
        worker = self.host.figure_worker()
        for sig, slot in (
            (worker.progress, self._on_batch_progress),
            (worker.finished, self._on_batch_finished),
            (worker.failed, self._on_batch_failed),
            (worker.cancelled, self._on_batch_cancelled),
        ):
            sig.disconnect(slot)
        self._batch = None
        self.progress.hide()
        self.cancel_button.hide()
        self.batch_button.setEnabled(True)
        written, total, failed = b["written"], b["total"], b["failed"]
        text = f"{written} of {total} figures written to {b['folder'].name}"
        if b.get("cancelled"):
            text += " (cancelled)"
        if failed:
            shown = "; ".join(f"{name}: {msg}" for name, msg in failed[:3])
            more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            text += f". Not exported: {shown}{more}"
        self.status.setText(text)
        self.batch_summary = text
        self.batch_finished.emit(written, total, failed)

    @property
    def batch_running(self) -> bool:
        return self._batch is not None


__all__ = [
    "PRIORITY_FIGURE_BATCH",
    "ExtraPanel",
    "FigureBatchKey",
    "FigureDialog",
    "FigureHost",
    "FigureInputs",
    "FigureOptions",
    "PanelProvider",
    "batch_file_names",
    "build_spec",
]
