"""The "Similar patients" tab: GestaltMatcher-style matching of the current face against the open
folder, and maps that show why two faces match.

The gallery is the open image folder with its labels. Its embeddings are computed on the
controller's compute worker with :func:`gmxai_desktop.core.analysis.embeddings.embed_gallery`, sharing the
per-image disk cache with the composites tab, so a folder is embedded once. The current image is
the query; it is left out of its own ranking. "Rank per syndrome" keeps only each syndrome's best
image, which is how GestaltMatcher ranks (its top-k are syndrome ranks).

Selecting a match draws the pair's similarity maps on both faces
(:func:`gmxai_desktop.core.analysis.similarity.similarity_maps`): the exact decomposition where the
embedding is the spatial mean of a feature layer (the cells of each map then sum to the cosine,
shown in the title), embedding Grad-CAM otherwise.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .composites_view import syndrome_cache_dir
from .panels import PanelGrid
from .widgets import job_widgets
from .worker import PRIORITY_COMPARE, PRIORITY_EXPLAIN

THUMB = 72


@dataclass(frozen=True)
class SimilarityJobKey:
    kind: str  # "gallery", "query" or "pair"
    model_id: str
    token: int


@dataclass
class GalleryData:
    gallery: Any  # core.embeddings.Gallery
    thumbs: list[np.ndarray]  # uint8 RGB thumbnails, rows match the gallery
    align: str
    variants: Any = None  # analysis.variants.VariantGallery: ensembles / Arc test-time augmentation


@dataclass
class QueryData:
    path: Path
    embedding: np.ndarray
    x: Any  # preprocessed query tensor (1, C, H, W)
    face: np.ndarray  # uint8 RGB at model input size
    variants: Any = None  # (V, D) per-variant embeddings when the gallery has them


def _thumb(rgb: np.ndarray) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    s = THUMB / max(h, w)
    return np.ascontiguousarray(cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))),
                                           interpolation=cv2.INTER_AREA))


def _fit(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An aligned face in colour at model input size, the grid the pair maps live on."""
    from PIL import Image

    h, w = size
    img = Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB")
    return np.asarray(img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)


def _icon(rgb: np.ndarray) -> QIcon:
    h, w = rgb.shape[:2]
    img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QIcon(QPixmap.fromImage(img))


def _aligned(adapter: Any, path: Path, align: str) -> np.ndarray:
    """The aligned face the embedding was computed from: from the record cache when there."""
    from ..core.analysis.embeddings import RecordCache, file_digest
    from ..core.inputs.pipeline import prepare_file

    cache = RecordCache(syndrome_cache_dir(), adapter, align)
    rec = cache.load(file_digest(path))
    if "aligned" in rec:
        return rec["aligned"]
    return np.ascontiguousarray(prepare_file(adapter, path, align=align).face.image, dtype=np.uint8)


class SimilarityView(QWidget):
    """See the module docstring. ``matches`` is the ranking shown; ``pair`` the maps shown."""

    ranked = Signal()
    pair_shown = Signal()

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.data: GalleryData | None = None
        self.query: QueryData | None = None
        self.matches: list[Any] = []
        self.pair: Any = None  # core.similarity.PairMaps
        self._token = 0
        self._active: set[SimilarityJobKey] = set()

        self.top = QSpinBox()
        self.top.setRange(1, 100)
        self.top.setValue(10)
        self.top.setPrefix("top ")
        self.per_syndrome = QCheckBox("rank per syndrome")
        self.per_syndrome.setToolTip(
            "Only each syndrome's most similar image counts, as in GestaltMatcher's syndrome ranks"
        )
        self.build_btn = QPushButton("Embed gallery")
        self.build_btn.setToolTip("Compute (or load from the cache) the embeddings of the open folder")
        self.cancel_btn, self.progress, self.status = job_widgets(
            "Open a model with an embedding and an image folder."
        )
        self.list = QListWidget()
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setSpacing(2)
        self.list.setMinimumWidth(280)

        row = QHBoxLayout()
        row.addWidget(self.top)
        row.addWidget(self.per_syndrome)
        row2 = QHBoxLayout()
        row2.addWidget(self.build_btn)
        row2.addWidget(self.cancel_btn)
        side = QVBoxLayout()
        side.addLayout(row)
        side.addLayout(row2)
        side.addWidget(self.progress)
        side.addWidget(self.status)
        side.addWidget(self.list, 1)
        side_box = QWidget()
        side_box.setLayout(side)

        self.grid = PanelGrid()
        self.grid.set_panel_ids(["query", "match"])
        self.grid.face_panel.set_title("<b>Query</b><br>the current image")
        self.pair_label = QLabel(" ")
        self.pair_label.setWordWrap(True)
        self.pair_label.setTextFormat(Qt.TextFormat.RichText)
        right = QVBoxLayout()
        right.addWidget(self.pair_label)
        right.addWidget(self.grid, 1)
        self.pair_area = right  # extension point: views below the pair maps (ensemble_maps_view)
        right_box = QWidget()
        right_box.setLayout(right)
        split = QSplitter()
        split.addWidget(side_box)
        split.addWidget(right_box)
        split.setStretchFactor(1, 3)
        outer = QVBoxLayout(self)
        outer.addWidget(split)

        self.build_btn.clicked.connect(self.build_gallery)
        self.cancel_btn.clicked.connect(self.cancel)
        self.top.valueChanged.connect(lambda *_: self.rank())
        self.per_syndrome.toggled.connect(lambda *_: self.rank())
        self.list.currentRowChanged.connect(self._on_row)
        controller.worker.listen(self)
        controller.folder_loaded.connect(lambda *_: self._invalidate(gallery=True))
        # A similarity view of the same network (arc_integration) keeps the gallery: same embeddings.
        controller.model_loaded.connect(
            lambda role, a: role == "primary" and not a.extra.get("scores_are_similarities")
            and self._invalidate(gallery=True)
        )
        controller.image_changed.connect(lambda *_: self._on_image())
        controller.overlay_changed.connect(lambda *_: self._render_pair())

    # ---- state ------------------------------------------------------------------------------------
    def _invalidate(self, gallery: bool) -> None:
        self.cancel()
        if gallery:
            self.data = None
        self.query = None
        self.matches = []
        self.pair = None
        self.list.clear()
        self._clear_pair()
        if self.isVisible():
            self.build_gallery()

    def _on_image(self) -> None:
        self.query = None
        self.matches = []
        self.pair = None
        self.list.clear()
        self._clear_pair()
        if self.data is not None and self.isVisible():
            self._submit_query()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        """Embedding a folder is real work: only start it when the tab is looked at."""
        super().showEvent(event)
        if self.data is None and not self._active:
            self.build_gallery()
        elif self.data is not None and self.query is None and not self._active:
            self._submit_query()

    # ---- jobs -------------------------------------------------------------------------------------
    def _submit(self, kind: str, fn: Any, priority: int, label: str) -> None:
        adapter = self.controller.adapter
        self._token += 1
        key = SimilarityJobKey(kind, adapter.model_id, self._token)
        self._active = {k for k in self._active if k.kind != kind} | {key}
        self.controller.worker.submit(key, fn, priority, label)
        self.cancel_btn.setEnabled(True)

    def build_gallery(self) -> None:
        c = self.controller
        adapter = c.adapter
        if adapter is None or not c.paths:
            self.status.setText("Open a model with an embedding and an image folder.")
            return
        if not adapter.has_embedding:
            self.status.setText(f"The model {adapter.arch} has no embedding output, which matching needs.")
            return
        images = {p: c.labels.get(p) for p in c.paths}
        align = c.state.align

        from ..core.analysis.variants import variants_for

        variants = variants_for(adapter)

        def run(job: Any) -> GalleryData:
            from ..core.analysis.embeddings import Gallery, embed_gallery
            from ..core.analysis.variants import embed_variant_gallery

            vg = None
            if len(variants) > 1:  # GestaltMatcher-Arc: members x flip x gray, as upstream ranks
                vg = embed_variant_gallery(
                    variants, images, align=align, cache_dir=syndrome_cache_dir(), job=job
                )
                gallery = Gallery(vg.paths, vg.labels, vg.embeddings[:, 0], adapter.model_id, vg.skipped)
            else:
                gallery = embed_gallery(adapter, images, align=align, cache_dir=syndrome_cache_dir(), job=job)
            thumbs = []
            for p in gallery.paths:
                job.check()
                thumbs.append(_thumb(_aligned(adapter, p, align)))
            return GalleryData(gallery, thumbs, align, vg)

        each = f" ({len(variants)} encodings each)" if len(variants) > 1 else ""
        self.status.setText(f"Embedding {len(images)} gallery images{each}…")
        self._submit("gallery", run, PRIORITY_COMPARE, "embedding gallery")

    def _submit_query(self) -> None:
        c = self.controller
        path, adapter = c.state.image, c.adapter
        if path is None or adapter is None or self.data is None:
            return
        align, data = self.data.align, self.data

        def run(job: Any) -> QueryData:
            from ..core.analysis.similarity import embed_file

            job.check()
            emb, prepared = embed_file(adapter, Path(path), align=align)
            face = _fit(np.ascontiguousarray(prepared.face.image, dtype=np.uint8), adapter.input_size)
            per_variant = None
            if data.variants is not None:
                from ..core.analysis.variants import embed_aligned, variants_for

                per_variant = embed_aligned(variants_for(adapter), [prepared.face.image])[0]
            return QueryData(Path(path), emb, prepared.x, face, per_variant)

        self._submit("query", run, PRIORITY_EXPLAIN, "embedding query")

    def _submit_pair(self, match: Any) -> None:
        adapter, q, data = self.controller.adapter, self.query, self.data
        if adapter is None or q is None or data is None:
            return
        align = data.align

        def run(job: Any) -> tuple[Any, Any, np.ndarray]:
            from ..core.analysis.similarity import similarity_maps

            face_b = _aligned(adapter, match.path, align)
            x_b = adapter.preprocess(face_b)
            pair = similarity_maps(adapter, q.x, x_b, job=job)
            return match, pair, _fit(face_b, adapter.input_size)

        self.pair_label.setText(f"Computing similarity maps for match {match.rank}…")
        self._submit("pair", run, PRIORITY_EXPLAIN, "similarity maps")

    def cancel(self) -> None:
        """Queued jobs never report back once cancelled, so they are forgotten here."""
        active = set(self._active)
        if not active:
            return
        self.controller.worker.cancel_where(lambda k: k in active)
        for key in active:
            self._done(key)
        if any(k.kind == "gallery" for k in active):
            self.status.setText("Cancelled. Embedded images are cached; Embed gallery resumes.")

    def _mine(self, key: Hashable) -> bool:
        return isinstance(key, SimilarityJobKey) and key in self._active

    def _done(self, key: SimilarityJobKey) -> None:
        self._active.discard(key)
        self.cancel_btn.setEnabled(bool(self._active))

    def _on_progress(self, key: Hashable, fraction: float, message: str) -> None:
        if self._mine(key) and key.kind == "gallery":
            self.progress.setValue(round(1000 * fraction))
            self.progress.setFormat(message)

    def _on_failed(self, key: Hashable, message: str) -> None:
        if self._mine(key):
            self._done(key)
            (self.pair_label if key.kind == "pair" else self.status).setText(message)

    def _on_cancelled(self, key: Hashable) -> None:
        if self._mine(key):
            self._done(key)
            if key.kind == "gallery":
                self.status.setText("Cancelled. Embedded images are cached; Embed gallery resumes.")

    def _on_finished(self, key: Hashable, result: Any, seconds: float) -> None:
        if not self._mine(key):
            return
        self._done(key)
        if key.kind == "gallery":
            self.data = result
            g = result.gallery
            skipped = f"; {len(g.skipped)} unusable (no face or unreadable)" if g.skipped else ""
            self.status.setText(f"Gallery: {len(g)} faces{skipped}.")
            self.progress.setValue(1000)
            self.progress.setFormat("gallery ready")
            self._submit_query()
        elif key.kind == "query":
            if result.path != self.controller.state.image:
                return
            self.query = result
            self.rank()
        else:
            match, pair, face_b = result
            self.pair = pair
            self._match_face = face_b
            self._shown_match = match
            self._render_pair()
            self.pair_shown.emit()

    # ---- ranking ----------------------------------------------------------------------------------
    def query_row(self) -> int | None:
        """The query's own row in the gallery (left out of its ranking), by resolved path."""
        if self.data is None or self.query is None:
            return None
        target = self.query.path.resolve()
        for i, p in enumerate(self.data.gallery.paths):
            if Path(p).resolve() == target:
                return i
        return None

    def rank(self) -> None:
        from ..core.analysis.similarity import rank_matches

        if self.data is None or self.query is None or not len(self.data.gallery):
            return
        row = self.query_row()
        exclude = () if row is None else (row,)
        if self.data.variants is not None and self.query.variants is not None:
            from ..core.analysis.similarity import rank_by_distance
            from ..core.analysis.variants import mean_cosine_distance

            vg = self.data.variants
            self.matches = rank_by_distance(
                mean_cosine_distance(self.query.variants, vg.embeddings), vg.paths, vg.labels,
                top=int(self.top.value()), per_syndrome=self.per_syndrome.isChecked(), exclude=exclude,
            )
        else:
            self.matches = rank_matches(
                self.query.embedding, self.data.gallery, top=int(self.top.value()),
                per_syndrome=self.per_syndrome.isChecked(), exclude=exclude,
            )
        self.list.blockSignals(True)
        self.list.clear()
        for m in self.matches:
            label = m.label or "unlabelled"
            score = f"distance {m.distance:.3f}" if m.distance is not None else f"cosine {m.similarity:+.3f}"
            text = f"{m.rank}. {label}\n{score}\n{Path(m.path).name}"
            item = QListWidgetItem(_icon(self.data.thumbs[m.index]), text)
            item.setToolTip(f"{Path(m.path).name}: {label}, cosine similarity {m.similarity:+.4f}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        q = self.query
        self.grid.set_face(q.face, q.face.shape[:2])
        kind = "syndromes" if self.per_syndrome.isChecked() else "images"
        self.grid.face_panel.set_title(f"<b>Query</b><br>{q.path.name}")
        how = "cosine similarity"
        if self.data.variants is not None:
            how = f"mean cosine distance over {len(self.data.variants.keys)} encodings"
        self.pair_label.setText(f"Top {len(self.matches)} {kind} by {how}. Select one to see why.")
        self.ranked.emit()
        if self.matches:
            self.list.setCurrentRow(0)

    @property
    def shown_match(self) -> Any:
        """The match whose pair maps are shown (None before the first): for views that follow it."""
        return getattr(self, "_shown_match", None)

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self.matches):
            self._submit_pair(self.matches[row])

    # ---- pair maps --------------------------------------------------------------------------------
    def _clear_pair(self) -> None:
        for pid in ("query", "match"):
            p = self.grid.panel(pid)
            p.set_map(None)
            p.set_title("<b>" + ("Query" if pid == "query" else "Match") + "</b><br>—")

    def _render_pair(self) -> None:
        from .display import render_maps

        pair, q = self.pair, self.query
        if pair is None or q is None:
            return
        ov = self.controller.state.overlay
        hw = pair.map_a.shape
        pq, pm = self.grid.panel("query"), self.grid.panel("match")
        self.grid.face_panel.set_face(q.face, hw)
        pq.set_face(q.face, hw)
        pm.set_face(self._match_face, hw)
        pq.set_map(pair.map_a, pair)
        pm.set_map(pair.map_b, pair)
        # One scale for both faces: the two maps are shares of one similarity.
        disp = render_maps([pair.map_a, pair.map_b], sign=ov.sign_mode, clip_percentile=ov.clip_percentile,
                           shared=True, cmap=ov.colormap, opacity=ov.opacity, fade_weak=ov.fade_weak)
        pq.show_display(disp[0], ov.sign_mode)
        pm.show_display(disp[1], ov.sign_mode)
        m = self._shown_match
        head = f"<b>Match {m.rank}: {m.label or 'unlabelled'}</b><br>"
        if pair.method == "decomposition":
            how = "exact decomposition"
            sa, sb = float(pair.cells_a.sum()), float(pair.cells_b.sum())
            pq.set_title(f"<b>Query: share of similarity</b><br>Σ = {sa:+.4f} = cos {pair.cosine:+.4f}")
            pm.set_title(f"{head}Σ = {sb:+.4f} = cos {pair.cosine:+.4f}")
        elif pair.method == "affine":
            how = "exact decomposition through the affine head (7×7 cells plus a bias share)"
            sa, sb = float(pair.cells_a.sum()), float(pair.cells_b.sum())
            pq.set_title(f"<b>Query</b><br>Σ {sa:+.4f} + bias {pair.bias_a:+.4f} = cos {pair.cosine:+.4f}")
            pm.set_title(f"{head}Σ {sb:+.4f} + bias {pair.bias_b:+.4f} = cos {pair.cosine:+.4f}")
        else:
            how = f"embedding Grad-CAM ({pair.normalization} norms)"
            pq.set_title(f"<b>Query</b><br>Grad-CAM of cos {pair.cosine:+.4f}")
            pm.set_title(f"{head}Grad-CAM of cos {pair.cosine:+.4f}")
        self.pair_label.setText(
            f"Why these faces match: {how} at layer <code>{pair.layer}</code>, cosine similarity "
            f"<b>{pair.cosine:+.4f}</b>. Positive values add to the similarity, negative values lower it."
        )
