"""The figure dialog's widgets: panel list, layout and text, annotations, output, preview, buttons.

A mixin of :class:`~gmxai_desktop.gui.figure_dialog.FigureDialog` that only builds and lays out
widgets (stored on the dialog) and connects them to the dialog's slots; what the options mean and
how the figure is made stay in ``figure_dialog``.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets
from PySide6.QtCore import Qt, QTimer

from .widgets import check_box, spin_box

FORMAT_LABELS = {"pdf": "PDF (vector, for journals)", "svg": "SVG (vector, editable)", "png": "PNG (raster)"}
BASE_LABELS = {
    "face": "the aligned colour face",
    "model": "exactly what the model sees",
}


class FigureDialogLayout:
    """Builds the dialog's widgets; the slots (``_changed``, ``render_preview``, ``export_dialog``,
    ``batch_dialog``, ``cancel_batch``) are the dialog's."""

    _changed: Any
    render_preview: Any
    export_dialog: Any
    batch_dialog: Any
    cancel_batch: Any

    def _build_ui(self) -> None:
        outer = QtWidgets.QHBoxLayout(self)
        left = QtWidgets.QWidget()
        form_col = QtWidgets.QVBoxLayout(left)
        form_col.setContentsMargins(0, 0, 0, 0)

        panels_box = QtWidgets.QGroupBox("Panels")
        pl = QtWidgets.QVBoxLayout(panels_box)
        self.panel_list = QtWidgets.QListWidget()
        self.panel_list.setObjectName("figure-panels")
        self.panel_list.setToolTip("Tick the panels to include, in this order")
        self.panel_list.itemChanged.connect(self._changed)
        pl.addWidget(self.panel_list)
        base_row = QtWidgets.QFormLayout()
        self.base = QtWidgets.QComboBox()
        for key, label in BASE_LABELS.items():
            self.base.addItem(label, key)
        self.base.setToolTip("What the maps are drawn over")
        self.base.currentIndexChanged.connect(self._changed)
        base_row.addRow("Draw maps over", self.base)
        pl.addLayout(base_row)
        form_col.addWidget(panels_box, 1)

        layout_box = QtWidgets.QGroupBox("Layout and text")
        lf = QtWidgets.QFormLayout(layout_box)
        self.cols = spin_box(
            0, 12, special="automatic", tip="Panels per row (automatic: all in one row, up to six)"
        )
        lf.addRow("Columns", self.cols)
        self.panel_width = spin_box(
            0.5, 8.0, 1.7, step=0.1, suffix=" in",
            tip="Width of one panel; a journal column is about 3.5 in, a page 7 in",
        )
        lf.addRow("Panel width", self.panel_width)
        self.font_size = spin_box(4.0, 24.0, 8.0, step=0.5, suffix=" pt")
        lf.addRow("Font size", self.font_size)
        self.panel_titles = check_box("Panel titles", True)
        self.colorbars = check_box("Colour bars (raw map units)", True)
        self.footnote = check_box("Footnote (model, alignment, colour scale)", True)
        lf.addRow(self.panel_titles)
        lf.addRow(self.colorbars)
        lf.addRow(self.footnote)
        title_row = QtWidgets.QHBoxLayout()
        self.title_on = check_box("", True, "Show a figure title")
        self.title = QtWidgets.QLineEdit()
        self.title.setPlaceholderText("automatic: explained class and probability")
        title_row.addWidget(self.title_on)
        title_row.addWidget(self.title, 1)
        lf.addRow("Title", title_row)
        form_col.addWidget(layout_box)

        ann_box = QtWidgets.QGroupBox("Annotations")
        af = QtWidgets.QVBoxLayout(ann_box)
        self.annotations = check_box("Outline the annotated regions", True)
        self.annotation_labels = check_box("Label them with their HPO term or note", True)
        af.addWidget(self.annotations)
        af.addWidget(self.annotation_labels)
        form_col.addWidget(ann_box)

        out_box = QtWidgets.QGroupBox("Output")
        of = QtWidgets.QFormLayout(out_box)
        self.fmt = QtWidgets.QComboBox()
        self.fmt.setObjectName("figure-format")
        for f in ("pdf", "svg", "png"):
            self.fmt.addItem(FORMAT_LABELS[f], f)
        of.addRow("Format", self.fmt)
        self.dpi = spin_box(
            50, 1200, 300, step=50, suffix=" dpi",
            tip="Resolution of PNG files and of the images inside PDF/SVG (300 for print)",
        )
        of.addRow("Resolution", self.dpi)
        self.include_name = check_box(
            "Put the image's file name in the title",
            tip="Off by default: file names of patient photos often contain names or record numbers",
        )
        of.addRow(self.include_name)
        self.numbered = check_box("Folder export: name files figure-0001… instead of after the images")
        of.addRow(self.numbered)
        form_col.addWidget(out_box)
        self.display_note = QtWidgets.QLabel()
        self.display_note.setWordWrap(True)
        self.display_note.setStyleSheet("color: palette(mid);")
        form_col.addWidget(self.display_note)

        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(left)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Wide enough for the options and a vertical scroll bar, so nothing is cut off on the right.
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(max(360, left.sizeHint().width() + bar + 6))
        outer.addWidget(scroll)

        right = QtWidgets.QVBoxLayout()
        self.preview = QtWidgets.QLabel("Preview")
        self.preview.setObjectName("figure-preview")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(460, 320)
        grow = QtWidgets.QSizePolicy.Policy.Expanding
        self.preview.setSizePolicy(grow, grow)
        self.preview.setStyleSheet("background: #f4f4f4; border: 1px solid #ccc;")
        right.addWidget(self.preview, 1)
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("figure-status")
        self.status.setWordWrap(True)
        right.addWidget(self.status)
        prog = QtWidgets.QHBoxLayout()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setObjectName("figure-batch-progress")
        self.progress.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the folder export after the current image")
        self.cancel_button.clicked.connect(self.cancel_batch)
        self.cancel_button.hide()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_button)
        right.addLayout(prog)
        buttons = QtWidgets.QHBoxLayout()
        self.batch_button = QtWidgets.QPushButton("Export every image…")
        self.batch_button.setToolTip(
            "Compute the chosen maps for every image of the open folder and save one figure per image "
            "(difference and other extra panels are for the current image only)"
        )
        self.batch_button.clicked.connect(self.batch_dialog)
        self.export_button = QtWidgets.QPushButton("Export…")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export_dialog)
        close = QtWidgets.QPushButton("Close")
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
