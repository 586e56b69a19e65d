"""The figure dialog's widgets: panel list, layout and text, annotations, output, preview, buttons.

A mixin of :class:`~gmxai_desktop.gui.figure_dialog.FigureDialog` that only builds and lays out
widgets (stored on the dialog) and connects them to the dialog's slots; what the options mean and
how the figure is made stay in ``figure_dialog``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

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
