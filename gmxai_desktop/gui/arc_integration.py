"""GestaltMatcher-Arc in the app: what was recognised, and explaining similarities.

* A "Model" dock says what the loaded file was recognised as: architecture, ensemble members,
  classes, embedding size, how it was rebuilt and that no code from the file was run.
* "Explain similarity to…" targets: the current image's embedding, or a syndrome centroid (the
  mean of that syndrome's normalised embeddings in the Similar-patients gallery). The primary
  model is swapped for a similarity view of itself (``targets.similarity_adapter``) through the
  controller's ``set_model`` intent, so every method panel explains the similarity; "Classes"
  swaps the model back. The embedding runs on the controller's worker.

Hooked into the window with :func:`install_arc` (extension points only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .worker import PRIORITY_EXPLAIN

_ATTR = "_gmxai_arc"


def describe_model(adapter: Any) -> list[str]:
    """Plain lines about a loaded model, for the dock and tests (no Qt). Safety comes second so
    that it stays visible in a short dock."""
    extra = adapter.extra
    lines = [f"Architecture: {adapter.arch}"]
    if extra.get("format") == "pickled-module":
        lines.append("Loaded with full unpickling (you allowed code in the file to run)")
    else:
        lines.append("No code from the file was run")
    members = extra.get("members")
    if members:
        shown = extra.get("member", members[0])
        lines.append(f"Ensemble members: {', '.join(members)} (panels show {shown})")
    classes = f"Classes: {adapter.num_classes}" if adapter.num_classes else "Classes: none (embedding only)"
    dim = extra.get("embedding_dim")
    embedding = f"{dim}-d" if dim else ("yes" if adapter.has_embedding else "none")
    lines.append(f"{classes} · embedding: {embedding}")
    lines.append(f"Input: {adapter.input_size[0]}×{adapter.input_size[1]}, {adapter.channels} channel(s)")
    if extra.get("rebuilt_from"):
        lines.append(f"Read as: {extra['rebuilt_from']}")
    return lines


@dataclass(frozen=True)
class ReferenceKey:
    model_id: str
    what: str


class ArcPanel(QWidget):
    """The "Model" dock: recognition summary plus similarity-target choices."""

    def __init__(self, window: Any) -> None:
        super().__init__()
        self.window = window
        self.controller = window.controller
        self.base: Any = None  # the adapter with classes; similarity views are built from it
        layout = QVBoxLayout(self)
        self.info = QLabel("No model loaded.")
        self.info.setObjectName("model-info")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.info)
        layout.addWidget(QLabel("<b>Explain</b>"))
        self.target = QComboBox()
        self.target.setObjectName("similarity-target")
        self.target.addItem("Classes (logits)", ("classes", None))
        self.target.addItem("Similarity to the current image", ("image", None))
        self.target.setToolTip(
            "Explain the cosine similarity of each face's embedding to a reference instead of a class.\n"
            "Syndrome centroids appear once the Similar patients gallery is embedded."
        )
        row = QHBoxLayout()
        row.addWidget(self.target, 1)
        self.apply = QPushButton("Apply")
        self.apply.clicked.connect(self.apply_target)
        row.addWidget(self.apply)
        layout.addLayout(row)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.controller.model_loaded.connect(self._on_model)
        w = self.controller.worker
        w.finished.connect(self._on_finished)
        w.failed.connect(lambda key, msg: isinstance(key, ReferenceKey) and self.status.setText(msg))

    def _on_model(self, role: str, adapter: Any) -> None:
        if role != "primary":
            return
        if adapter.arch == "gestaltmatcher-arc" and getattr(self, "dock", None) is not None:
            self.dock.raise_()  # what was recognised, and the similarity targets Arc models are for
        if adapter.extra.get("scores_are_similarities"):
            return  # our own similarity view of the base model
        self.base = adapter
        lines = describe_model(adapter)
        self.info.setText("<br>".join(lines))
        self.info.setToolTip("\n".join(lines))
        self.target.setCurrentIndex(0)
        self.refresh_centroids()

    def refresh_centroids(self) -> None:
        """Offer each syndrome of the embedded Similar-patients gallery as a centroid target."""
        while self.target.count() > 2:
            self.target.removeItem(2)
        views = getattr(self.window, "_gmxai_syndrome_views", None)
        data = getattr(getattr(views, "similarity", None), "data", None)
        if data is None:
            return
        for label in sorted({lab for lab in data.gallery.labels if lab is not None}):
            self.target.addItem(f"Similarity to the {label} centroid", ("centroid", label))

    def apply_target(self) -> None:
        kind, label = self.target.currentData()
        base = self.base
        if base is None:
            self.status.setText("Open a model first.")
            return
        if kind == "classes":
            self.controller.set_model(base)
            self.status.setText("Explaining classes.")
            return
        if not base.has_embedding:
            self.status.setText(f"{base.arch} has no embedding, so it cannot explain a similarity.")
            return
        if kind == "centroid":
            from ..core.attribution.targets import similarity_adapter, syndrome_centroid

            views = getattr(self.window, "_gmxai_syndrome_views", None)
            gallery = views.similarity.data.gallery
            centre = syndrome_centroid(gallery.embeddings, gallery.labels, label)
            self.controller.set_model(
                similarity_adapter(base, [(f"similarity to the {label} centroid", centre)])
            )
            self.status.setText(f"Explaining the similarity to the {label} centroid.")
            return
        path = self.controller.state.image
        if path is None:
            self.status.setText("Choose an image first: its face becomes the reference.")
            return
        align = self.controller.state.align

        def run(job: Any) -> tuple[str, Any]:
            from ..core.analysis.similarity import embed_file

            job.check()
            emb, _ = embed_file(base, Path(path), align=align)
            return Path(path).name, emb

        self.status.setText(f"Embedding {Path(path).name} as the reference…")
        self.controller.worker.submit(
            ReferenceKey(base.model_id, str(path)), run, PRIORITY_EXPLAIN, "reference"
        )

    def _on_finished(self, key: Any, result: Any, seconds: float) -> None:
        if not isinstance(key, ReferenceKey) or self.base is None or key.model_id != self.base.model_id:
            return
        from ..core.attribution.targets import similarity_adapter

        name, emb = result
        self.controller.set_model(similarity_adapter(self.base, [(f"similarity to {name}", emb)]))
        self.status.setText(f"Explaining the similarity to {name}. Choose another image to explain it.")


def install_arc(window: Any) -> ArcPanel:
    """Add the "Model" dock; calling it again returns the same panel."""
    existing = getattr(window, _ATTR, None)
    if existing is not None:
        return existing
    panel = ArcPanel(window)
    # A tab beside Analysis (as Regions does): a dock of its own would raise the window's minimum size.
    dock = window.add_dock(panel, "Model", Qt.DockWidgetArea.RightDockWidgetArea)
    analysis = getattr(window, "analysis_dock", None)
    if analysis is not None:
        window.tabifyDockWidget(analysis, dock)
        analysis.raise_()
    panel.dock = dock
    views = getattr(window, "_gmxai_syndrome_views", None)
    if views is not None:
        views.similarity.ranked.connect(panel.refresh_centroids)
    setattr(window, _ATTR, panel)
    return panel
