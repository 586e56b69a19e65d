"""The main window's docks (images, display settings, analysis column) and status bar.

A mixin of :class:`~gmxai_desktop.gui.main_window.MainWindow`, kept apart so the window module stays
the frame and its extension points; it only builds widgets and stores them on the window.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from .browser import ImageBrowser
from .method_panel import MethodSelector
from .overlay_controls import OverlayControls
from .state import ALIGN_LABELS, ALIGN_MODES, ALIGN_TIPS
from .target_selector import TargetSelector
from .widgets import combo_box


class WindowDocks:
    """Builds ``browser``, ``model_label``, ``prediction_label``, ``target``, ``align``, ``methods``,
    ``overlay_controls`` and the status-bar widgets on the window."""

    def _build_docks(self) -> None:
        self.browser = ImageBrowser()
        self.browser_dock = self.add_dock(self.browser, "Images", Qt.DockWidgetArea.LeftDockWidgetArea)
        self.browser_dock.setMinimumWidth(230)

        side = QWidget()
        col = QVBoxLayout(side)
        col.setContentsMargins(4, 4, 4, 4)
        model_box = QGroupBox("Model and image")
        mform = QFormLayout(model_box)
        self.model_label = QLabel("no model")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        open_model = QPushButton("Open model…")
        open_model.setToolTip("Choose a trained classifier checkpoint (Ctrl+O)")
        open_model.clicked.connect(self.open_model_dialog)
        mform.addRow("Model", self.model_label)
        mform.addRow("", open_model)
        self.prediction_label = QLabel("—")
        self.prediction_label.setObjectName("prediction")
        self.prediction_label.setWordWrap(True)
        self.prediction_label.setTextFormat(Qt.TextFormat.RichText)
        self.prediction_label.setToolTip("The model's five most probable classes for this image")
        mform.addRow("Prediction", self.prediction_label)
        self.alignment_label = QLabel("—")
        self.alignment_label.setWordWrap(True)
        self.alignment_label.setToolTip("How the face was found and aligned before the model saw it")
        mform.addRow("Face", self.alignment_label)
        col.addWidget(model_box)

        target_box = QGroupBox("What to explain")
        tlay = QVBoxLayout(target_box)
        self.target = TargetSelector()
        tlay.addWidget(self.target)
        aform = QFormLayout()
        aform.setContentsMargins(0, 0, 0, 0)
        self.align = combo_box(
            ((m, ALIGN_LABELS[m], ALIGN_TIPS[m]) for m in ALIGN_MODES),
            name="align-mode",
            tip="How faces are located and aligned to the model's template before analysis",
        )
        aform.addRow("Alignment", self.align)
        tlay.addLayout(aform)
        col.addWidget(target_box)

        methods_box = QGroupBox("Methods")
        mlay = QVBoxLayout(methods_box)
        self.methods = MethodSelector()
        mlay.addWidget(self.methods)
        col.addWidget(methods_box, 1)

        # Display settings get their own dock (below the images), always in view: they are changed
        # often and never recompute anything.
        display = QWidget()
        dlay = QVBoxLayout(display)
        dlay.setContentsMargins(8, 4, 8, 4)
        self.overlay_controls = OverlayControls()
        dlay.addWidget(self.overlay_controls)
        dlay.addStretch(1)

        for host in (side, display):
            for combo in host.findChildren(QComboBox):
                combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
                combo.setMinimumContentsLength(10)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(side)
        scroll.setMinimumWidth(300)
        self.analysis_dock = self.add_dock(scroll, "Analysis", Qt.DockWidgetArea.RightDockWidgetArea)
        self.display_dock = self.add_dock(display, "Display", Qt.DockWidgetArea.LeftDockWidgetArea)
        self.splitDockWidget(self.browser_dock, self.display_dock, Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel("device: —")
        self.device_label.setToolTip("Where the model runs")
        self.timing_label = QLabel("")
        self.timing_label.setMinimumWidth(50)  # long timing lines are cut, never widen the window
        self.timing_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.timing_label.setToolTip("Time taken by the last steps")
        self.progress = QProgressBar()
        self.progress.setObjectName("overall-progress")
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%v of %m maps")
        self.progress.setToolTip("Maps ready for this image")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop computing maps for this image (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.controller.cancel)
        bar.addWidget(self.timing_label, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.device_label)

