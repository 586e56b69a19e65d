"""Overlay controls: colour maps, opacity, sign mode, per-map or shared scale, percentile clip.

These only change how maps are coloured; the maps themselves are never recomputed for them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QSlider, QWidget

from .display import DIVERGING_CMAPS, SEQUENTIAL_CMAPS
from .state import SIGN_MODE_LABELS, SIGN_MODES, OverlaySettings
from .widgets import combo_box

SCALE_TIP = (
    "Per map: every panel uses its own colour range, best for seeing each method's pattern.\n"
    "Shared: one range for all panels, so equal colours mean equal values; only meaningful when\n"
    "the maps have the same units (the same method on different targets or models)."
)


class OverlayControls(QWidget):
    settings_changed = Signal(object)  # OverlaySettings

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.sign = combo_box(
            ((m, SIGN_MODE_LABELS[m]) for m in SIGN_MODES),
            name="overlay-sign",
            tip="Signed: red pixels raised the score of the explained class, blue pixels lowered it.\n"
            "Positive/negative: only one direction. Absolute: how much a pixel mattered, either way.",
        )
        form.addRow("Show", self.sign)
        self.diverging = QComboBox()
        self.diverging.addItems(DIVERGING_CMAPS)
        self.diverging.setToolTip("Colour map for signed maps: white is zero, the two colours the two signs")
        form.addRow("Signed colours", self.diverging)
        self.sequential = QComboBox()
        self.sequential.addItems(SEQUENTIAL_CMAPS)
        self.sequential.setToolTip(
            "Colour map for one-sided maps (positive, negative, absolute). With the default\n"
            "inferno, negative-only views use blues, so blue always means 'against the class'."
        )
        form.addRow("One-sided colours", self.sequential)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("overlay-opacity")
        self.opacity.setRange(0, 100)
        self.opacity.setToolTip("How strongly the colours cover the face")
        form.addRow("Opacity", self.opacity)
        self.fade = QCheckBox("Fade weak values")
        self.fade.setToolTip("Let the face show through where the map is close to zero")
        form.addRow("", self.fade)
        self.scale = combo_box(
            ((False, "Per map"), (True, "Shared across panels")), name="overlay-scale", tip=SCALE_TIP
        )
        form.addRow("Colour scale", self.scale)
        self.clip = QDoubleSpinBox()
        self.clip.setRange(50.0, 100.0)
        self.clip.setDecimals(1)
        self.clip.setSingleStep(0.5)
        self.clip.setSuffix(" %")
        self.clip.setKeyboardTracking(False)
        self.clip.setToolTip(
            "Full colour is reached at this percentile of the values; the few strongest pixels above\n"
            "it are clipped so they do not wash out the rest. 100 % uses the maximum."
        )
        form.addRow("Clip at percentile", self.clip)
        self._block = False
        self.set_settings(OverlaySettings())
        for sig in (
            self.sign.currentIndexChanged,
            self.diverging.currentIndexChanged,
            self.sequential.currentIndexChanged,
            self.opacity.valueChanged,
            self.fade.toggled,
            self.scale.currentIndexChanged,
            self.clip.valueChanged,
        ):
            sig.connect(self._emit)

    def set_settings(self, s: OverlaySettings) -> None:
        self._block = True
        try:
            self.sign.setCurrentIndex(max(0, self.sign.findData(s.sign_mode)))
            if self.diverging.findText(s.diverging_cmap) < 0:
                self.diverging.addItem(s.diverging_cmap)
            self.diverging.setCurrentText(s.diverging_cmap)
            if self.sequential.findText(s.sequential_cmap) < 0:
                self.sequential.addItem(s.sequential_cmap)
            self.sequential.setCurrentText(s.sequential_cmap)
            self.opacity.setValue(round(s.opacity * 100))
            self.fade.setChecked(s.fade_weak)
            self.scale.setCurrentIndex(1 if s.shared_scale else 0)
            self.clip.setValue(s.clip_percentile)
        finally:
            self._block = False

    def settings(self) -> OverlaySettings:
        return OverlaySettings(
            sign_mode=self.sign.currentData(),
            diverging_cmap=self.diverging.currentText(),
            sequential_cmap=self.sequential.currentText(),
            opacity=self.opacity.value() / 100.0,
            fade_weak=self.fade.isChecked(),
            shared_scale=bool(self.scale.currentData()),
            clip_percentile=float(self.clip.value()),
        )

    def _emit(self, *_args: object) -> None:
        if not self._block:
            self.settings_changed.emit(self.settings())
