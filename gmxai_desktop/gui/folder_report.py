"""Say what an open folder leaves out, and when only part of a file is used.

When a folder opens, a short-lived thread lists the files the image listing skipped (unsupported
types such as HEIC, each with the reason; :func:`~gmxai_desktop.core.inputs.imageio.skipped_files`)
and hands them to the browser and to a status-bar counter, so nothing vanishes silently. When an
image is selected whose file holds several frames (animated GIF, multi-page TIFF), the status bar
says that the first frame is used. Only base names are shown: these are patient files.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel


class FolderReport(QObject):
    _listed = Signal(int, list)  # token, [(Path, reason)]; emitted from the listing thread

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self._token = 0
        self._notes: dict[Path, str | None] = {}
        self.label = QLabel("")
        self.label.setObjectName("skipped-count")
        self.label.setVisible(False)
        self._listed.connect(self._on_listed)
        self.controller.folder_loaded.connect(self._on_folder_loaded)
        self.controller.image_changed.connect(self._on_image_changed)

    def _on_folder_loaded(self, _paths: list, _labels: dict) -> None:
        self._token += 1
        self._notes.clear()
        self.window.browser.set_skipped([])
        self.label.setVisible(False)
        folder = getattr(self.controller, "folder", None)
        if folder is None:
            return
        threading.Thread(target=self._list, args=(Path(folder), self._token), name="gmxai-skipped",
                         daemon=True).start()

    def _list(self, folder: Path, token: int) -> None:
        from ..core.inputs.imageio import skipped_files

        try:
            skipped = skipped_files(folder)
        except OSError:
            skipped = []
        self._listed.emit(token, skipped)

    def _on_listed(self, token: int, skipped: list) -> None:
        if token != self._token:
            return  # another folder was opened meanwhile
        self.window.browser.set_skipped(skipped)
        n = len(skipped)
        self.label.setText(f"{n} file{'s' if n != 1 else ''} skipped")
        self.label.setToolTip(
            "Not opened (unsupported type):\n"
            + "\n".join(f"{p.name}: {reason}" for p, reason in skipped[:20])
            + (f"\n… and {n - 20} more (see the list under the images)" if n > 20 else "")
        )
        self.label.setVisible(n > 0)

    def _on_image_changed(self, path: Path | None) -> None:
        if path is None:
            return
        if path not in self._notes:
            from ..core.inputs.imageio import multi_frame_note

            self._notes[path] = multi_frame_note(Path(path))  # header only: ~1 ms, GIF/TIFF/WebP only
        note = self._notes[path]
        if note:
            self.window.statusBar().showMessage(note, 15000)


def install_folder_report(window: Any) -> FolderReport:
    report = FolderReport(window)
    window.statusBar().addPermanentWidget(report.label)
    window.folder_report = report
    return report
