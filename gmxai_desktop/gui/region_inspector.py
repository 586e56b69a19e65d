"""The Regions dock: every region of the current image, and the selected region's description.

A clinician labels a region with an HPO term (searched as they type over the face-related branch
of the ontology, offline), a free-text note, a confidence and their name. Every field edit is an
intent on the document, so it is undoable like a shape edit; typing in the note or nudging the
confidence merges into one undo step per field instead of one per keystroke.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.annotations import AnnotationDocument, AnnotationError, Region
from ..core.base.errors import GmxaiError
from ..core.base.jobs import JobControl
from .annotation_layer import AnnotationLayer, region_color
from .worker import PRIORITY_PREFETCH, WorkerCalls

HpoSearch = Callable[[str, int], list]
"""(query, limit) -> list of core.hpo.HpoMatch."""

NOTE_COMMIT_MS = 600
DEFINITION_ROLE = Qt.ItemDataRole.UserRole + 1
NO_CONFIDENCE = -0.05  # the spin box's minimum, shown as "not stated"
KIND_LABELS = {
    "rect": "rectangle",
    "ellipse": "ellipse",
    "polygon": "polygon",
    "lasso": "lasso",
    "brush": "brush stroke",
}


def term_text(term_id: str, name: str) -> str:
    """How a term is shown everywhere: 'Hypertelorism (HP:0000316)'."""
    return f"{name} ({term_id})"


def confidence_words(value: float | None) -> str:
    if value is None:
        return "not stated"
    if value < 0.3:
        return "low"
    if value < 0.6:
        return "moderate"
    if value < 0.9:
        return "high"
    return "certain"


def local_time(stamp: str) -> str:
    """ISO UTC time stamp -> local 'YYYY-MM-DD HH:MM' (the stored value stays UTC)."""
    if not stamp:
        return "—"
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def _default_search(query: str, limit: int) -> list:
    from ..core.phenotype.hpo import face_index

    return face_index().search(query, limit)


def warm_hpo_index(calls: WorkerCalls) -> None:
    """Build the HPO index on the worker, after the maps (about half a second), so the first
    keystroke in the search box is instant."""

    def build(_job: JobControl) -> None:
        from ..core.phenotype.hpo import face_index

        with contextlib.suppress(GmxaiError):  # the search box reports it when used
            face_index()

    calls.submit("hpo-index", build, lambda _result: None, priority=PRIORITY_PREFETCH)


def _swatch(color: str, size: int = 12) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return QIcon(pix)


class RegionInspector(QWidget):
    """Region list + editor for the selected region. All edits go through the document."""

    error = Signal(str)  # an edit the document refused

    def __init__(
        self, layer: AnnotationLayer, parent: QWidget | None = None, *, hpo_search: HpoSearch | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("region-inspector")
        self.layer = layer
        self._search = hpo_search or _default_search
        self._loading = False
        self._shown_id: str | None = None
        self._note_target: str | None = None  # the region the note being typed belongs to
        self._listed_doc: AnnotationDocument | None = None
        self._listed_rows: list[tuple] = []

        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setObjectName("regions-hint")
        col.addWidget(self.hint)
        self.list = QListWidget()
        self.list.setObjectName("region-list")
        self.list.setIconSize(QSize(12, 12))
        self.list.setToolTip("Regions on this image; select one to describe it")
        self.list.setMinimumHeight(70)
        self.list.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.list.currentItemChanged.connect(self._on_list_choice)
        col.addWidget(self.list, 1)

        self.editor = QGroupBox("Selected region")
        form = QFormLayout(self.editor)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        term_row = QHBoxLayout()
        self.term_label = QLabel()
        self.term_label.setObjectName("hpo-term")
        self.term_label.setWordWrap(True)
        self.term_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        term_row.addWidget(self.term_label, 1)
        self.clear_term = QToolButton()
        self.clear_term.setText("×")
        self.clear_term.setToolTip("Remove the HPO term from this region")
        self.clear_term.clicked.connect(self._on_clear_term)
        term_row.addWidget(self.clear_term)
        form.addRow("HPO term", term_row)

        self.search = QLineEdit()
        self.search.setObjectName("hpo-search")
        self.search.setPlaceholderText("Search HPO: name, synonym or HP:id…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(
            "Type part of a feature's name, a synonym (e.g. 'widely spaced eyes') or an HPO id; "
            "press Enter or click a result to assign it"
        )
        self.search.textEdited.connect(self._on_search_text)
        self.search.returnPressed.connect(self._pick_current)
        self.search.installEventFilter(self)
        form.addRow("Find term", self.search)
        self.results = QListWidget()
        self.results.setObjectName("hpo-results")
        self.results.setMaximumHeight(120)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.setTextElideMode(Qt.TextElideMode.ElideRight)  # the tooltip has the definition
        self.results.itemActivated.connect(self._pick_item)
        self.results.itemClicked.connect(self._pick_item)
        self.results.currentItemChanged.connect(self._on_result_highlight)
        self.results.hide()
        form.addRow("", self.results)
        self.definition = QLabel()
        self.definition.setObjectName("hpo-definition")
        self.definition.setWordWrap(True)
        self.definition.setStyleSheet("color: palette(mid);")
        form.addRow("", self.definition)

        self.note = QPlainTextEdit()
        self.note.setObjectName("region-note")
        self.note.setPlaceholderText("Free-text note (what you see, measurements…)")
        self.note.setFixedHeight(64)
        self.note.textChanged.connect(self._on_note_typed)
        self.note.installEventFilter(self)
        form.addRow("Note", self.note)
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(NOTE_COMMIT_MS)
        self._note_timer.timeout.connect(self._commit_note)

        conf_row = QHBoxLayout()
        self.confidence = QDoubleSpinBox()
        self.confidence.setObjectName("region-confidence")
        self.confidence.setRange(NO_CONFIDENCE, 1.0)
        self.confidence.setSingleStep(0.05)
        self.confidence.setDecimals(2)
        self.confidence.setSpecialValueText("not stated")
        self.confidence.setToolTip(
            "How sure you are that this feature is present, from 0 (not at all) to 1 (certain); "
            "step below 0 for 'not stated'"
        )
        self.confidence.valueChanged.connect(self._on_confidence)
        conf_row.addWidget(self.confidence)
        self.confidence_words = QLabel()
        conf_row.addWidget(self.confidence_words, 1)
        form.addRow("Confidence", conf_row)

        self.author = QLineEdit()
        self.author.setObjectName("region-author")
        self.author.setToolTip("Who drew and described this region (stored in the annotation file)")
        self.author.editingFinished.connect(self._on_author)
        form.addRow("Author", self.author)
        self.times = QLabel()
        self.times.setObjectName("region-times")
        self.times.setStyleSheet("color: palette(mid);")
        form.addRow("Drawn", self.times)

        buttons = QHBoxLayout()
        self.delete_button = QPushButton("Delete region")
        self.delete_button.setToolTip("Delete the selected region (Del); Undo brings it back")
        self.delete_button.clicked.connect(layer.delete_selected)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        form.addRow(buttons)
        col.addWidget(self.editor)

        layer.regions_changed.connect(self.refresh)
        layer.selection_changed.connect(lambda _rid: self.refresh())
        layer.document_replaced.connect(lambda _doc: self.refresh())
        self.refresh()

    # -- reading -----------------------------------------------------------------------------
    @property
    def document(self) -> AnnotationDocument | None:
        return self.layer.document

    def _region(self) -> Region | None:
        doc, rid = self.document, self.layer.selected
        if doc is None or rid is None:
            return None
        try:
            return doc.get(rid)
        except AnnotationError:
            return None

    def refresh(self) -> None:
        """Re-render from the document (after any edit, undo, selection or image change)."""
        if self._loading:
            return
        if self._note_timer.isActive() and self._note_target != self.layer.selected:
            self._commit_note()  # the note typed for the previous region goes to that region
        self._loading = True
        try:
            self._fill_list()
            self._fill_editor()
        finally:
            self._loading = False

    def _fill_list(self) -> None:
        doc = self.document
        rows = []
        if doc is not None:
            for k, region in enumerate(doc.regions):
                text = f"{k + 1}. {region.label}"
                if region.hpo_id and region.note.strip():
                    text += " — " + region.note.strip().splitlines()[0][:40]
                term = term_text(region.hpo_id, region.hpo_name or "") if region.hpo_id else ""
                rows.append((region.id, text, region_color(region, k), term, region.note, region.kind))
        if doc is self._listed_doc and rows == self._listed_rows:
            # Only the selection may differ (a drag changes geometry, not the list): keep the widget.
            self._select_listed()
            return
        self._listed_doc, self._listed_rows = doc, rows
        self.list.blockSignals(True)
        self.list.clear()
        if doc is None:
            self.hint.setText("Open a model and an image to annotate it.")
        elif len(doc) == 0:
            self.hint.setText(
                "No regions yet. Choose a tool (Rectangle, Ellipse, Polygon, Brush, Lasso) and draw on "
                "any panel; the region appears on all of them."
            )
        else:
            n = len(doc)
            self.hint.setText(f"{n} region{'s' if n != 1 else ''} on this image")
        for rid, text, color, term, note, kind in rows:
            item = QListWidgetItem(_swatch(color), text)
            item.setData(Qt.ItemDataRole.UserRole, rid)
            tip = [KIND_LABELS.get(kind, kind)]
            if term:
                tip.append(term)
            if note:
                tip.append(note)
            item.setToolTip("\n".join(tip))
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._select_listed()

    def _select_listed(self) -> None:
        current = None
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == self.layer.selected:
                current = self.list.item(i)
        if self.list.currentItem() is not current:
            self.list.blockSignals(True)
            self.list.setCurrentItem(current)
            self.list.blockSignals(False)

    def _fill_editor(self) -> None:
        region = self._region()
        self.editor.setEnabled(region is not None)
        if region is None:
            self._shown_id = None
            self.editor.setTitle("Selected region")
            self.term_label.setText("<i>select a region</i>")
            self.clear_term.setEnabled(False)
            for w in (self.search, self.author):
                if w.text():
                    w.clear()
            self.results.clear()
            self.results.hide()
            self.definition.clear()
            if self.note.toPlainText():
                self.note.setPlainText("")
            self.confidence.setValue(NO_CONFIDENCE)
            self.confidence_words.clear()
            self.times.clear()
            return
        doc = self.document
        assert doc is not None
        index = doc.regions.index(region) + 1
        self.editor.setTitle(f"Region {index}: {KIND_LABELS.get(region.kind, region.kind)}")
        if region.hpo_id:
            self.term_label.setText(f"<b>{term_text(region.hpo_id, region.hpo_name or '')}</b>")
            self.clear_term.setEnabled(True)
        else:
            self.term_label.setText("<i>none yet: search below</i>")
            self.clear_term.setEnabled(False)
        if region.id != self._shown_id:
            self.search.clear()
            self.results.clear()
            self.results.hide()
            self._show_definition(region.hpo_id)
        # Keep what the user is typing: only overwrite a field whose stored value differs.
        if self.note.toPlainText() != region.note and not self._note_timer.isActive():
            self.note.setPlainText(region.note)
        want = NO_CONFIDENCE if region.confidence is None else region.confidence
        if abs(self.confidence.value() - want) > 1e-9:
            self.confidence.setValue(want)
        self.confidence_words.setText(confidence_words(region.confidence))
        if self.author.text() != region.author and not self.author.hasFocus():
            self.author.setText(region.author)
        self.times.setText(f"{local_time(region.created)}, changed {local_time(region.modified)}")
        self._shown_id = region.id

    def _show_definition(self, term_id: str | None) -> None:
        if not term_id:
            self.definition.clear()
            return
        try:
            from ..core.phenotype.hpo import face_index

            term = face_index().lookup_any(term_id)
        except GmxaiError:  # a definition is optional decoration
            term = None
        self.definition.setText(term.definition if term is not None else "")

    # -- list --------------------------------------------------------------------------------
    def _on_list_choice(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if self._loading:
            return
        self.layer.select(item.data(Qt.ItemDataRole.UserRole) if item is not None else None)

    # -- HPO search --------------------------------------------------------------------------
    def _on_search_text(self, text: str) -> None:
        self.results.clear()
        if not text.strip():
            self.results.hide()
            return
        try:
            matches = self._search(text, 25)
        except GmxaiError as exc:  # the ontology file may be missing: say so where the user looks
            self.results.hide()
            self.definition.setText(f"HPO search is unavailable: {exc}")
            return
        for m in matches:
            label = term_text(m.term.id, m.term.name)
            if m.is_synonym:
                label += f" — “{m.matched}”"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, (m.term.id, m.term.name))
            item.setData(DEFINITION_ROLE, m.term.definition)
            item.setToolTip(f"{label}\n\n{m.term.definition}" if m.term.definition else label)
            self.results.addItem(item)
        if matches:
            self.results.setCurrentRow(0)
            self.results.show()
        else:
            self.results.hide()
            self.definition.setText("No face-related HPO term matches.")

    def _on_result_highlight(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is not None:
            self.definition.setText(item.data(DEFINITION_ROLE) or "")

    def _pick_current(self) -> None:
        item = self.results.currentItem()
        if item is not None and self.results.isVisible():
            self._pick_item(item)

    def _pick_item(self, item: QListWidgetItem) -> None:
        term_id, name = item.data(Qt.ItemDataRole.UserRole)
        self.assign_term(term_id, name)

    def assign_term(self, term_id: str | None, name: str | None) -> None:
        """Set (or with None, remove) the selected region's HPO term: one undo step."""
        region = self._region()
        doc = self.document
        if region is None or doc is None:
            return
        self.search.clear()
        self.results.clear()
        self.results.hide()
        try:
            doc.update_region(region.id, hpo_id=term_id, hpo_name=name, text="Set HPO term")
        except AnnotationError as exc:
            self.error.emit(str(exc))
            return
        self._show_definition(term_id)

    def _on_clear_term(self) -> None:
        self.assign_term(None, None)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        results = getattr(self, "results", None)
        if obj is self.search and event.type() == QEvent.Type.KeyPress and results and results.isVisible():
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                row = self.results.currentRow() + (1 if key == Qt.Key.Key_Down else -1)
                self.results.setCurrentRow(max(0, min(row, self.results.count() - 1)))
                return True
        if obj is getattr(self, "note", None) and event.type() == QEvent.Type.FocusOut:
            self._commit_note()
        return super().eventFilter(obj, event)

    # -- other fields ------------------------------------------------------------------------
    def _update(self, merge: str | None, text: str, **changes: Any) -> None:
        region, doc = self._region(), self.document
        if region is None or doc is None:
            return
        key = (merge, region.id) if merge else None
        try:
            doc.update_region(region.id, merge_key=key, text=text, **changes)
        except AnnotationError as exc:
            self.error.emit(str(exc))

    def _on_note_typed(self) -> None:
        if not self._loading and self._shown_id is not None:
            self._note_target = self._shown_id
            self._note_timer.start()

    def commit_pending(self) -> None:
        """Store a note still being typed (before the image changes or the window closes)."""
        if self._note_timer.isActive():
            self._commit_note()

    def _commit_note(self) -> None:
        """Store the typed note (after a pause in typing, on leaving the field, or on reselection)."""
        self._note_timer.stop()
        doc, rid = self.document, self._note_target
        if doc is None or rid is None:
            return
        try:
            region = doc.get(rid)
        except AnnotationError:
            return
        text = self.note.toPlainText()
        if text != region.note:
            try:
                doc.update_region(rid, merge_key=("note", rid), text="Edit note", note=text)
            except AnnotationError as exc:
                self.error.emit(str(exc))

    def _on_confidence(self, value: float) -> None:
        if self._loading:
            return
        conf = None if value <= NO_CONFIDENCE + 1e-9 else round(min(max(value, 0.0), 1.0), 4)
        self.confidence_words.setText(confidence_words(conf))
        self._update("confidence", "Set confidence", confidence=conf)

    def _on_author(self) -> None:
        if self._loading:
            return
        region = self._region()
        if region is not None and self.author.text().strip() != region.author:
            self._update(None, "Set author", author=self.author.text().strip())


__all__ = ["RegionInspector", "confidence_words", "local_time", "term_text", "warm_hpo_index"]
