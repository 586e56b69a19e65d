"""Which class the maps explain: the predicted class, the top-k classes, or any class by name."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QCompleter, QFormLayout, QSpinBox, QWidget

from .widgets import combo_box

MODES = (
    ("predicted", "Predicted class", "Explain the class the model ranks first for this image."),
    (
        "top",
        "Top-k classes",
        "One map per method for each of the k most probable classes, to see what separates them.",
    ),
    (
        "class",
        "A chosen class",
        "Explain any class by name, e.g. the confirmed diagnosis, even if the model ranks it low.",
    ),
)


class TargetSelector(QWidget):
    """Emits the engine's target spec: "predicted", "top:K" or "name:<class name>"."""

    target_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.mode = combo_box(MODES, name="target-mode", tip="Which class the attribution maps explain")
        form.addRow("Explain", self.mode)
        self.k = QSpinBox()
        self.k.setRange(2, 10)
        self.k.setValue(3)
        self.k.setToolTip("How many of the most probable classes to explain (one row of maps each)")
        form.addRow("k", self.k)
        self.cls = QComboBox()
        self.cls.setObjectName("target-class")
        self.cls.setEditable(True)
        self.cls.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.cls.setToolTip("Type to search the model's classes")
        form.addRow("Class", self.cls)
        self._form = form
        self._block = False
        self.mode.currentIndexChanged.connect(self._emit)
        self.k.valueChanged.connect(self._emit)
        self.cls.activated.connect(self._emit)
        self._sync_visibility()

    def set_classes(self, names: list[str]) -> None:
        self._block = True
        try:
            current = self.cls.currentText()
            self.cls.clear()
            self.cls.addItems(sorted(names, key=str.lower))
            completer = QCompleter(sorted(names, key=str.lower), self.cls)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            self.cls.setCompleter(completer)
            if current in names:
                self.cls.setCurrentText(current)
        finally:
            self._block = False

    def set_target(self, target: str) -> None:
        self._block = True
        try:
            if target == "predicted":
                self.mode.setCurrentIndex(0)
            elif target.startswith("top:"):
                self.mode.setCurrentIndex(1)
                with contextlib.suppress(ValueError):
                    self.k.setValue(int(target[4:]))
            else:
                self.mode.setCurrentIndex(2)
                self.cls.setCurrentText(target.removeprefix("name:"))
        finally:
            self._block = False
        self._sync_visibility()

    def target(self) -> str:
        mode = self.mode.currentData()
        if mode == "top":
            return f"top:{self.k.value()}"
        if mode == "class":
            text = self.cls.currentText().strip()
            # "name:" makes the core read digit-only names (disorder ids) as names, not indices
            return f"name:{text}" if text and self.cls.findText(text) >= 0 else "predicted"
        return "predicted"

    def _sync_visibility(self) -> None:
        mode = self.mode.currentData()
        self._form.setRowVisible(self.k, mode == "top")
        self._form.setRowVisible(self.cls, mode == "class")

    def _emit(self, *_args: object) -> None:
        self._sync_visibility()
        if not self._block:
            self.target_changed.emit(self.target())
