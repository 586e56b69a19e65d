"""The current image's annotation document: finding it, recovering autosaves, saving, autosaving.

A mixin of :class:`~gmxai_desktop.gui.annotations_integration.AnnotationsFeature` (which owns the
state it reads: ``path``, ``ref``, ``original``, ``entry``, ``doc``, ``store``, ``layer``). The rules
for where files go and how the clinician's work is kept safe are in that module's docstring.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox

from ...core.annotations import (
    Alignment,
    AnnotationDocument,
    Autosaver,
    ImageRef,
    Recovery,
    find_recovery,
    save_document,
    untitled_autosave_path,
    write_autosave,
)
from ...core.base.errors import GmxaiError
from .layer import AnnotationLayer
from .shapes import PanelFrame
from .store import alignment_of, recovery_dir

AUTOSAVE_INTERVAL_S = 8.0
MAX_CACHED_DOCUMENTS = 64


class DocumentLifecycle:
    """Open, recover, close, save and autosave the document of the image on screen."""

    window: Any
    controller: Any
    layer: AnnotationLayer

    def _alignment(self) -> Alignment | None:
        adapter = self.controller.adapter
        if self.entry is None or adapter is None:
            return None
        return alignment_of(self.entry, adapter.template)

    def _open_document(self) -> None:
        """Show the current image's document once both its identity and its alignment are known."""
        alignment = self._alignment()
        if self.path is None or self.ref is None or alignment is None:
            return
        if self.doc is None:
            doc, doc_path = self._find_document(self.path, self.ref, alignment)
            self.doc, self.doc_path = doc, doc_path
            self._docs[self.path] = (doc, doc_path)
            self._docs.move_to_end(self.path)
            while len(self._docs) > MAX_CACHED_DOCUMENTS:
                self._docs.popitem(last=False)
            self.autosaver = Autosaver(doc, doc_path, interval_s=AUTOSAVE_INTERVAL_S)
        assert self.doc is not None and self.entry is not None
        self.doc.author = self.author()
        if self.doc.alignment != alignment:
            self.doc.set_alignment(alignment)  # another model or alignment mode: regions stay on the photo
        frame = PanelFrame(tuple(self.entry.grid_size), alignment.size)
        if self.layer.document is self.doc:
            self.layer.set_frame(frame)
        else:
            self.layer.set_document(self.doc, frame)
            self.document_opened.emit(self.doc)
        self._update_actions()
        self.schedule_metrics()

    def _find_document(
        self, image: Path, ref: ImageRef, alignment: Alignment
    ) -> tuple[AnnotationDocument, Path]:
        cached = self._docs.get(image)
        if cached is not None and cached[0].image.matches(ref):
            return cached
        located = self.store.locate(image, ref)
        if located.problem:
            self._notice(f"Annotations: {located.problem}; new regions are saved in {located.path.name}")
        doc = located.document
        for auto in (located.path, untitled_autosave_path(recovery_dir(), ref)):
            rec = find_recovery(auto)
            if rec is None or not rec.document.image.matches(ref):
                continue
            if self.confirm_recovery(rec):
                doc = rec.restore()
                if auto != located.path:
                    rec.discard()  # it now lives in the open document (unsaved), saved where it belongs
                break
            rec.discard()
        if doc is None:
            doc = AnnotationDocument(ref, alignment, author=self.author(), hpo_release=self._hpo_release())
        return doc, located.path

    @staticmethod
    def _hpo_release() -> str | None:
        from ...core.phenotype.hpo import face_index

        try:
            return face_index().version
        except GmxaiError:
            return None

    def _ask_recovery(self, rec: Recovery) -> bool:
        from datetime import datetime

        when = datetime.fromtimestamp(rec.autosave_time).strftime("%Y-%m-%d %H:%M")
        saved = (
            f"The saved file has {rec.regions_in_saved} region(s)."
            if rec.regions_in_saved is not None
            else "These regions were never saved to a file."
        )
        answer = QMessageBox.question(
            self.window,
            "Recover unsaved annotations?",
            f"Annotations of this image were not saved when gmxai-desktop last closed "
            f"(autosaved {when}, {rec.regions_in_autosave} region(s)). {saved}\n\n"
            "Recover them? If you choose No, the unsaved version is deleted.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _close_document(self) -> None:
        self.doc = None
        self.doc_path = None
        self.autosaver = None
        self.layer.set_document(None, None)
        self._update_actions()

    # -- saving ------------------------------------------------------------------------------
    def save_current(self) -> bool:
        """Save the open document if it has unsaved edits; True when nothing is left unsaved."""
        self.inspector.commit_pending()
        doc, path = self.doc, self.doc_path
        if doc is None or path is None or not doc.is_modified:
            return True
        try:
            save_document(doc, path)
        except GmxaiError as exc:
            self._save_failed(doc, str(exc))
            return False
        self._discard_untitled(doc)
        self.saved.emit(path)
        self._notice(f"Annotations saved to {path.name}")
        return True

    def _discard_untitled(self, doc: AnnotationDocument) -> None:
        target = untitled_autosave_path(recovery_dir(), doc.image)
        with contextlib.suppress(OSError):
            target.unlink(missing_ok=True)

    def _save_failed(self, doc: AnnotationDocument, message: str) -> None:
        """Keep the regions in the recovery folder and tell the user how to store them."""
        kept = ""
        try:
            target = untitled_autosave_path(recovery_dir(), doc.image)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_autosave(doc, target)
            kept = (
                " They are kept in gmxai-desktop's recovery folder and offered again when you reopen "
                "the image."
            )
        except (GmxaiError, OSError):
            kept = " They could not be kept either: export them (Annotate > Export annotations…) now."
        text = (
            f"The annotations could not be saved: {message}.{kept}\n\nTo store annotations of "
            "images in a read-only folder, choose Annotate > Store annotations in a folder…"
        )
        self._notice(f"Annotations not saved: {message}")
        if not self._warned_unsaved:
            self._warned_unsaved = True
            QMessageBox.warning(self.window, "Annotations not saved", text)

    def autosave_tick(self, force: bool = False) -> Path | None:
        saver = self.autosaver
        if saver is None:
            return None
        try:
            return saver.tick(force=force)
        except GmxaiError:
            # The folder is not writable: keep autosaving in the recovery folder instead.
            if self.doc is None:
                return None
            fallback = untitled_autosave_path(recovery_dir(), self.doc.image)
            fallback.parent.mkdir(parents=True, exist_ok=True)
            saver.target = fallback
            try:
                return saver.tick(force=True)
            except GmxaiError as exc:
                self._notice(f"Autosave failed: {exc}")
                return None
