"""The "Open model" dialog: a checkpoint file, with the architecture detected unless overridden."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .controller import ModelRequest

AUTO = "Detect automatically"
CHECKPOINT_FILTER = (
    "Model files (*.pt *.pth *.onnx *.pth.tar *.ckpt *.bin *.jit *.torchscript);;All files (*)"
)


def architecture_choices() -> list[str]:
    from ..core.models import torchvision_zoo

    return [
        "gestaltmatcher-v1",
        "gestaltmatcher-arc",
        "torchscript",
        *(f"torchvision:{a}" for a in torchvision_zoo.classification_archs()),
    ]


class ModelDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, start_dir: str = "", title: str = "Open model") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Choose a trained model: GestaltMatcher v1 / DeepGestalt checkpoints, GestaltMatcher-Arc "
            "files (.pth, .onnx) or a model folder (an ensemble), torchvision classifiers and "
            "TorchScript files are recognised automatically, without running code from the file. "
            "Type <i>demo</i> or <i>demo-imbalanced</i> for the bundled demo models."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.path = QLineEdit()
        self.path.setObjectName("model-path")
        self.path.setPlaceholderText("model file or folder, or demo")
        browse = QPushButton("File…")
        browse.clicked.connect(lambda: self._browse(self.path, CHECKPOINT_FILTER, start_dir))
        folder = QPushButton("Folder…")
        folder.setToolTip("A model folder: upstream saved_models/ or one with gmxai-ensemble.json")
        folder.clicked.connect(lambda: self._browse_folder(start_dir))
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        row.addWidget(folder)
        form.addRow("Model file", row)
        self.arch = QComboBox()
        self.arch.setObjectName("model-arch")
        self.arch.setEditable(True)
        self.arch.addItem(AUTO)
        self.arch.addItems(architecture_choices())
        self.arch.setToolTip("Leave on automatic unless the checkpoint matches several architectures")
        form.addRow("Architecture", self.arch)
        self.classes = QLineEdit()
        self.classes.setPlaceholderText("optional: lookup_table.txt or one class name per line")
        browse_c = QPushButton("Browse…")
        browse_c.clicked.connect(
            lambda: self._browse(self.classes, "Text files (*.txt);;All files (*)", start_dir)
        )
        row_c = QHBoxLayout()
        row_c.addWidget(self.classes, 1)
        row_c.addWidget(browse_c)
        form.addRow("Class names", row_c)
        self.device = QComboBox()
        self.device.addItem("Automatic (GPU if available)", None)
        self.device.addItem("CPU", "cpu")
        self.device.addItem("GPU (cuda)", "cuda")
        form.addRow("Run on", self.device)
        self.trust = QCheckBox("Allow full unpickling (runs code stored in the file)")
        self.trust.setToolTip(
            "Only for files from a source you trust, and only for whole pickled models gmxai does\n"
            "not recognise. GestaltMatcher-Arc's *_last_model.pth and weight files never need it."
        )
        form.addRow("", self.trust)
        layout.addLayout(form)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        layout.addWidget(self.error)

    def _browse(self, target: QLineEdit, file_filter: str, start_dir: str) -> None:
        start = str(Path(target.text()).parent) if target.text() else start_dir
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, file_filter)
        if path:
            target.setText(path)

    def _browse_folder(self, start_dir: str) -> None:
        start = self.path.text() or start_dir
        path = QFileDialog.getExistingDirectory(self, "Choose a model folder", start)
        if path:
            self.path.setText(path)

    def _accept(self) -> None:
        spec = self.path.text().strip()
        if not spec:
            self.error.setText("Choose a model file first.")
            return
        if not spec.startswith("demo") and not Path(spec).exists():
            self.error.setText(f"{Path(spec).name}: file not found.")
            return
        self.accept()

    def request(self) -> ModelRequest:
        arch = self.arch.currentText().strip()
        return ModelRequest(
            spec=self.path.text().strip(),
            arch=None if arch in ("", AUTO) else arch,
            classes=self.classes.text().strip() or None,
            device=self.device.currentData(),
            trust_pickle=self.trust.isChecked(),
        )
