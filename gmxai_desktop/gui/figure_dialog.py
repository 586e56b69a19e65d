"""Export a publication figure of the current image, or of every image in the folder.

The figure is built by the same code as ``gmxai figure`` (:func:`gmxai_desktop.core.output.
figure_spec.build_spec`): the face, one overlay per method with a colour bar in raw map units, the annotated
regions outlined. The dialog only chooses: which panels, layout, fonts, resolution, format, and the
display settings the window uses (sign mode, colour map, opacity, clipping, shared scale), so the
figure shows what the screen shows.

Rendering never blocks the window: the preview and a single export run on the controller's compute
worker (:class:`~gmxai_desktop.gui.worker.WorkerCalls`) ahead of the maps; a folder export runs one
job per image on the same worker, at a priority below the current image's maps, with progress and
cancel.

Privacy: the image's file name goes into the title only when asked; nothing else identifies the
source (see :mod:`gmxai_desktop.core.output.figure`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QListWidgetItem,
    QMessageBox,
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
from .figure_batch import PRIORITY_FIGURE_BATCH, FigureBatch, FigureBatchKey
from .figure_dialog_ui import FigureDialogLayout
from .worker import WorkerCalls

PHOTO_KEY = "__photo__"
FACE_KEY = "__face__"


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


class FigureDialog(FigureDialogLayout, QDialog):
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
        self._calls = WorkerCalls(host.figure_worker(), self)
        self.preview_rgb: np.ndarray | None = None
        self._batch: FigureBatch | None = None
        self._building = False
        self.batch_summary = ""
        self._known: set[str] = set()  # panel keys offered before (their tick is the user's choice)
        self._extras: dict[str, ExtraPanel] = {}

        self._build_ui()
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
        self._calls.submit(
            "preview", lambda _job: figure_to_rgb(spec, dpi=dpi), self._on_preview, self._on_preview_failed,
            latest_only=True,
        )
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

    def _on_preview(self, rgb: np.ndarray) -> None:
        self.status.setText("")
        self._show_preview(rgb)

    def _on_preview_failed(self, message: str) -> None:
        self.preview.setPixmap(QPixmap())
        self.preview.setText(message)
        self.status.setText("")

    def _on_exported(self, path: Path) -> None:
        self.status.setText(f"Saved {path.name}")
        self.exported.emit(path)

    def _on_export_failed(self, message: str) -> None:
        self.status.setText(f"Not saved: {message}")
        self.export_failed.emit(message)

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
        self.status.setText(f"Saving {p.name}…")

        def save(_job: JobControl) -> Path:
            save_figure(spec, p, fmt=fmt)
            return p

        self._calls.submit(f"export {p}", save, self._on_exported, self._on_export_failed)
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
        self._batch = FigureBatch(self.host.figure_worker(), self)
        self._batch.progress.connect(self._on_batch_progress)
        self._batch.finished.connect(lambda *outcome: self._end_batch(folder, *outcome))
        self._batch.start(paths, jobs)
        self.last_folder = str(folder)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.show()
        self.batch_button.setEnabled(False)
        self.status.setText(f"Exporting {len(paths)} figures to {folder.name}…")
        return True

    def _on_batch_progress(self, done: int, total: int, fraction: float) -> None:
        self.progress.setValue(round(1000 * fraction))
        self.progress.setFormat(f"{done} of {total}")

    def cancel_batch(self) -> None:
        if self._batch is not None:
            self._batch.cancel()

    def _end_batch(self, folder: Path, written: int, total: int, failed: list, cancelled: bool) -> None:
        self._batch = None
        self.progress.hide()
        self.cancel_button.hide()
        self.batch_button.setEnabled(True)
        text = f"{written} of {total} figures written to {folder.name}"
        if cancelled:
            text += " (cancelled)"
        if failed:
            shown = "; ".join(f"{name}: {msg}" for name, msg in failed[:3])
            more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            text += f". Not exported: {shown}{more}"
        self.status.setText(text)
        self.batch_summary = text
        self.batch_finished.emit(written, total, failed)

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
