"""Factories for the option widgets that forms repeat: a spin box or check box set up in one call,
so a form reads as a list of options rather than a page of setter calls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
)


def spin_box(
    minimum: float,
    maximum: float,
    value: float | None = None,
    *,
    step: float | None = None,
    suffix: str = "",
    tip: str = "",
    decimals: int | None = None,
    special: str = "",
) -> QSpinBox | QDoubleSpinBox:
    """A ``QDoubleSpinBox`` when any bound, value or step is a float, else a ``QSpinBox``.

    ``special`` is the text shown at the minimum (e.g. "automatic" for 0)."""
    floats = any(isinstance(v, float) for v in (minimum, maximum, value, step))
    box: QSpinBox | QDoubleSpinBox = QDoubleSpinBox() if floats else QSpinBox()
    if decimals is not None and isinstance(box, QDoubleSpinBox):
        box.setDecimals(decimals)  # before the range and value, which it rounds
    box.setRange(minimum, maximum)  # type: ignore[arg-type]
    if step is not None:
        box.setSingleStep(step)  # type: ignore[arg-type]
    if value is not None:
        box.setValue(value)  # type: ignore[arg-type]
    if suffix:
        box.setSuffix(suffix)
    if special:
        box.setSpecialValueText(special)
    if tip:
        box.setToolTip(tip)
    return box


def combo_box(choices: Iterable[Sequence[Any]] = (), *, name: str = "", tip: str = "") -> QComboBox:
    """A combo box of ``(data, label)`` or ``(data, label, item tooltip)`` choices."""
    box = QComboBox()
    if name:
        box.setObjectName(name)
    for data, label, *item_tip in choices:
        box.addItem(label, data)
        if item_tip:
            box.setItemData(box.count() - 1, item_tip[0], Qt.ItemDataRole.ToolTipRole)
    if tip:
        box.setToolTip(tip)
    return box


def check_box(text: str = "", checked: bool = False, tip: str = "") -> QCheckBox:
    box = QCheckBox(text)
    box.setChecked(checked)
    if tip:
        box.setToolTip(tip)
    return box


def job_widgets(idle_text: str) -> tuple[QPushButton, QProgressBar, QLabel]:
    """A long-job view's Cancel button (off until a job runs), progress bar in thousandths and
    wrapping status line showing ``idle_text``."""
    cancel = QPushButton("Cancel")
    cancel.setEnabled(False)
    progress = QProgressBar()
    progress.setRange(0, 1000)
    status = QLabel(idle_text)
    status.setWordWrap(True)
    return cancel, progress, status


__all__ = ["check_box", "combo_box", "job_widgets", "spin_box"]


class MethodChecklist(QListWidget):
    """Every registered attribution method as a checkable row (label shown, registry name kept), for
    views that run several methods over a folder (composites, faithfulness)."""

    def __init__(self, tip: str = "") -> None:
        super().__init__()
        from ..core.attribution.methods import list_methods

        if tip:
            self.setToolTip(tip)
        for m in list_methods():
            item = QListWidgetItem(m.label)
            item.setData(Qt.ItemDataRole.UserRole, m.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.addItem(item)

    def set_checked(self, names: list[str]) -> None:
        for i in range(self.count()):
            item = self.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def checked(self) -> list[str]:
        return [
            self.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.count())
            if self.item(i).checkState() == Qt.CheckState.Checked
        ]
