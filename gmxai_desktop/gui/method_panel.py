"""Method selector and per-method parameter editors, generated from the methods' Param specs.

Nothing here knows a particular method: the list, labels, descriptions, parameter kinds, ranges,
choices and help texts all come from :func:`gmxai_desktop.core.attribution.methods.list_methods`, so a method
added to the core appears here with working editors.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
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
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

FAMILY_LABELS = {
    "cam": "class activation map",
    "gradient": "gradient based",
    "perturbation": "perturbation based; slow: many forward passes",
}


def _float_step(p: Any) -> float:
    lo, hi = p.minimum, p.maximum
    if lo is not None and hi is not None and hi - lo <= 1.0:
        return 0.01
    if isinstance(p.default, (int, float)) and p.default not in (None, 0) and abs(p.default) < 1:
        return 0.01
    return 0.1


def make_editor(p: Any, value: Any, on_change: Any) -> QWidget:
    """A widget for one Param: checkbox, combo, spin box or line edit; calls on_change(value)."""
    tip = p.help
    if p.kind is bool:
        w = QCheckBox()
        w.setChecked(bool(value))
        w.toggled.connect(lambda v: on_change(bool(v)))
    elif p.choices is not None:
        w = QComboBox()
        for c in p.choices:
            w.addItem(str(c), c)
        idx = max(0, w.findData(value))
        w.setCurrentIndex(idx)
        w.currentIndexChanged.connect(lambda i, box=w: on_change(box.itemData(i)))
    elif p.kind is int:
        w = QSpinBox()
        w.setRange(
            int(p.minimum) if p.minimum is not None else -1_000_000,
            int(p.maximum) if p.maximum is not None else 1_000_000,
        )
        w.setValue(int(value))
        w.setKeyboardTracking(False)
        w.valueChanged.connect(lambda v: on_change(int(v)))
    elif p.kind is float:
        w = QDoubleSpinBox()
        w.setDecimals(4)
        w.setRange(
            float(p.minimum) if p.minimum is not None else -1e9,
            float(p.maximum) if p.maximum is not None else 1e9,
        )
        w.setSingleStep(_float_step(p))
        w.setValue(float(value))
        w.setKeyboardTracking(False)
        w.valueChanged.connect(lambda v: on_change(float(v)))
    else:
        w = QLineEdit("" if value is None else str(value))
        w.setPlaceholderText("default")
        w.editingFinished.connect(lambda box=w: on_change(box.text().strip() or None))
    w.setToolTip(tip)
    w.setObjectName(f"param:{p.name}")
    return w


class ParamEditor(QGroupBox):
    """Editors for one method's parameters plus a reset button."""

    changed = Signal(str, dict)  # method, overrides

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Parameters", parent)
        self._method: Any = None
        self._values: dict[str, Any] = {}
        self._layout = QVBoxLayout(self)
        self._description = QLabel()
        self._description.setWordWrap(True)
        self._description.setTextFormat(Qt.TextFormat.PlainText)
        self._layout.addWidget(self._description)
        self._form_host = QWidget()
        self._form = QFormLayout(self._form_host)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self._form_host)
        self._error = QLabel()
        self._error.setWordWrap(True)
        self._error.setStyleSheet("color: #c62828;")
        self._error.hide()
        self._layout.addWidget(self._error)
        row = QHBoxLayout()
        row.addStretch(1)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every parameter of this method back to its default value")
        self.reset_button.clicked.connect(self._reset)
        row.addWidget(self.reset_button)
        self._layout.addLayout(row)

    def show_method(self, method_cls: Any, overrides: dict[str, Any]) -> None:
        self._method = method_cls
        self._error.hide()
        while self._form.rowCount():
            self._form.removeRow(0)
        if method_cls is None:
            self.setTitle("Parameters")
            self._description.setText("")
            return
        self.setTitle(f"{method_cls.label}: parameters")
        family = FAMILY_LABELS.get(getattr(method_cls, "family", ""), "")
        desc = method_cls.description + (f"\n({family})" if family else "")
        self._description.setText(desc)
        self._values = method_cls.resolve_params(overrides)
        if not method_cls.params:
            self._form.addRow(QLabel("This method has no parameters."))
        for p in method_cls.params:
            editor = make_editor(p, self._values[p.name], lambda v, name=p.name: self._edit(name, v))
            label = QLabel(p.name.replace("_", " "))
            label.setToolTip(p.help)
            self._form.addRow(label, editor)
        self.reset_button.setEnabled(bool(method_cls.params))

    def show_error(self, message: str) -> None:
        self._error.setText(message)
        self._error.setVisible(bool(message))

    def _edit(self, name: str, value: Any) -> None:
        if self._method is None:
            return
        self._values[name] = value
        self._error.hide()
        self.changed.emit(self._method.name, dict(self._values))

    def _reset(self) -> None:
        if self._method is None:
            return
        self.changed.emit(self._method.name, {})
        self.show_method(self._method, {})


class MethodSelector(QWidget):
    """Checkable method list (which panels to show) and the parameter editor of the current one."""

    toggled = Signal(str, bool)  # method name, on
    params_changed = Signal(str, dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core.attribution.methods import list_methods

        self._methods = {m.name: m for m in list_methods()}
        self._overrides: dict[str, dict[str, Any]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        hint = QLabel("Tick the methods to show. Select one to edit its parameters.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.list = QListWidget()
        self.list.setObjectName("method-list")
        for i, (name, cls) in enumerate(self._methods.items()):
            item = QListWidgetItem(cls.label)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            shortcut = f"  (Ctrl+{(i + 1) % 10})" if i < 10 else ""
            item.setToolTip(f"{cls.description}{shortcut}")
            self.list.addItem(item)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.currentItemChanged.connect(self._on_current)
        layout.addWidget(self.list, 1)
        self.editor = ParamEditor()
        self.editor.changed.connect(self._on_params)
        layout.addWidget(self.editor)
        self._updating = False

    def set_checked(self, names: list[str], focus_checked: bool = False) -> None:
        self._updating = True
        try:
            for i in range(self.list.count()):
                item = self.list.item(i)
                on = item.data(Qt.ItemDataRole.UserRole) in names
                item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        finally:
            self._updating = False
        current = self.list.currentItem()
        unchecked = current is not None and current.checkState() != Qt.CheckState.Checked
        if self.list.count() and (current is None or (focus_checked and unchecked)):
            # show the parameters of a method that is on screen
            rows = range(self.list.count())
            first = next((i for i in rows if self.list.item(i).checkState() == Qt.CheckState.Checked), 0)
            self.list.setCurrentRow(first)

    def set_overrides(self, overrides: dict[str, dict[str, Any]]) -> None:
        self._overrides = {k: dict(v) for k, v in overrides.items()}
        self._on_current(self.list.currentItem(), None)

    def show_error(self, message: str) -> None:
        self.editor.show_error(message)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if not self._updating:
            self.toggled.emit(item.data(Qt.ItemDataRole.UserRole), item.checkState() == Qt.CheckState.Checked)

    def _on_current(self, item: QListWidgetItem | None, _prev: object) -> None:
        if item is None:
            self.editor.show_method(None, {})
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        self.editor.show_method(self._methods[name], self._overrides.get(name, {}))

    def _on_params(self, method: str, values: dict) -> None:
        self._overrides[method] = dict(values)
        self.params_changed.emit(method, dict(values))
