"""Thumbnail browser for an image folder: lazy thumbnails, per-image status, filter by name/label.

A folder of 10,000 photos opens at once because nothing is decoded up front: the list model holds
paths only, Qt asks for decorations of the visible items alone, and each request goes to a
background thread (most recent first, so scrolling fast does not queue the whole folder). The same
visibility drives the controller's lowest-priority predictions, so the status line under each
thumbnail (predicted class and score, alignment state, errors) fills in for what the user looks at.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .cache import ByteLRU
from .state import ImageStatus

THUMB = 96
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2
LABEL_ROLE = Qt.ItemDataRole.UserRole + 3

COLOR_OK = QColor(46, 160, 67)
COLOR_WARN = QColor(230, 160, 20)
COLOR_ERROR = QColor(211, 47, 47)
COLOR_UNKNOWN = QColor(140, 140, 140)


def read_thumbnail(path: Path, size: int = THUMB) -> np.ndarray:
    """Small uint8 RGB preview, EXIF-rotated like the core loader. JPEG draft mode makes it cheap."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.draft("RGB", (size * 2, size * 2))
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("RGB")
        im.thumbnail((size, size))
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


class ThumbnailLoader(QObject):
    """Decodes thumbnails on a daemon thread; newest request first; emits QImages (thread-safe)."""

    loaded = Signal(str, object)  # path, QImage | None

    def __init__(self, parent: QObject | None = None, max_pending: int = 256) -> None:
        super().__init__(parent)
        self._pending: deque[str] = deque()
        self._queued: set[str] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._max_pending = max_pending
        self._thread = threading.Thread(target=self._loop, name="gmxai-thumbnails", daemon=True)
        self._thread.start()

    def request(self, path: str) -> None:
        with self._cond:
            if path in self._queued:
                return
            self._pending.append(path)
            self._queued.add(path)
            while len(self._pending) > self._max_pending:  # scrolled far past these
                self._queued.discard(self._pending.popleft())
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify_all()
        self._thread.join(timeout=2.0)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                path = self._pending.pop()
                self._queued.discard(path)
            try:
                rgb = read_thumbnail(Path(path))
                h, w = rgb.shape[:2]
                img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            except Exception:  # unreadable here; the status line reports the core loader's reason
                img = None
            if not self._stop:
                self.loaded.emit(path, img)


class ImageListModel(QAbstractListModel):
    """Rows are image paths; decorations and statuses arrive later and update single rows."""

    status_wanted = Signal(object)  # Path: the row became visible, its prediction is wanted

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths: list[Path] = []
        self.labels: dict[Path, str] = {}
        self.statuses: dict[Path, ImageStatus] = {}
        self._row: dict[str, int] = {}
        self._thumbs = ByteLRU(96 * 1024 * 1024, sizeof=lambda p: p.width() * p.height() * 4 + 64)
        self._failed: set[str] = set()
        self.loader = ThumbnailLoader(self)
        self.loader.loaded.connect(self._on_thumbnail)
        self._placeholder = QPixmap(THUMB, THUMB)
        self._placeholder.fill(QColor(60, 60, 66))

    def set_images(self, paths: list[Path], labels: dict[Path, str]) -> None:
        self.beginResetModel()
        self.paths = list(paths)
        self.labels = dict(labels)
        self.statuses = {}
        self._row = {str(p): i for i, p in enumerate(self.paths)}
        self._failed.clear()
        self.endResetModel()

    def clear_statuses(self) -> None:
        self.statuses = {}
        if self.paths:
            self.dataChanged.emit(self.index(0), self.index(len(self.paths) - 1), [STATUS_ROLE])

    def set_status(self, path: Path, status: ImageStatus) -> None:
        row = self._row.get(str(path))
        if row is None:
            return
        self.statuses[Path(path)] = status
        idx = self.index(row)
        self.dataChanged.emit(idx, idx, [STATUS_ROLE, Qt.ItemDataRole.ToolTipRole])

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.paths)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        path = self.paths[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return path.name
        if role == PATH_ROLE:
            return path
        if role == LABEL_ROLE:
            return self.labels.get(path, "")
        if role == STATUS_ROLE:
            status = self.statuses.get(path)
            if status is None:
                self.status_wanted.emit(path)
            return status
        if role == Qt.ItemDataRole.DecorationRole:
            key = str(path)
            pix = self._thumbs.get(key)
            if pix is None:
                if key not in self._failed:
                    self.loader.request(key)
                return self._placeholder
            return pix
        if role == Qt.ItemDataRole.ToolTipRole:
            return status_tooltip(path.name, self.labels.get(path), self.statuses.get(path))
        return None

    def row_of(self, path: Path) -> int | None:
        return self._row.get(str(path))

    def _on_thumbnail(self, path: str, image: QImage | None) -> None:
        row = self._row.get(path)
        if row is None:
            return
        if image is None:
            self._failed.add(path)
            return
        self._thumbs.put(path, QPixmap.fromImage(image))
        idx = self.index(row)
        self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


def status_tooltip(name: str, label: str | None, status: ImageStatus | None) -> str:
    lines = [name]
    if label:
        lines.append(f"Label: {label}")
    if status is None or not status.known:
        lines.append("Prediction: not computed yet")
    elif status.error:
        lines.append(f"Problem: {status.error}")
    else:
        lines.append(f"Predicted: {status.predicted} ({status.score:.0%})")
        if label:
            lines.append("Agrees with the label" if label == status.predicted else "Differs from the label")
        lines.append(f"Face: {status.alignment_message or status.alignment}")
    return "\n".join(lines)


class LabelFilterProxy(QSortFilterProxyModel):
    """Case-insensitive substring filter over file name and label (and predicted class)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self._text = text.strip().lower()
            self.endFilterChange()
        else:
            self._text = text.strip().lower()
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        if not self._text:
            return True
        model = self.sourceModel()
        assert isinstance(model, ImageListModel)
        path = model.paths[row]
        hay = [path.name.lower(), model.labels.get(path, "").lower()]
        status = model.statuses.get(path)
        if status is not None and status.predicted:
            hay.append(status.predicted.lower())
        return any(self._text in h for h in hay)


class ThumbnailDelegate(QStyledItemDelegate):
    """Thumbnail, a status dot (green aligned, amber not aligned, red problem), name, prediction."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        fm = QFontMetrics(option.font)
        return QSize(THUMB + 36, THUMB + 2 * fm.height() + 14)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal: QPalette = option.palette
        if selected:
            painter.fillRect(rect.adjusted(1, 1, -1, -1), pal.highlight())
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        tx = rect.x() + (rect.width() - THUMB) // 2
        ty = rect.y() + 4
        if isinstance(pix, QPixmap):
            px = tx + (THUMB - pix.width()) // 2
            py = ty + (THUMB - pix.height()) // 2
            painter.drawPixmap(px, py, pix)
        status: ImageStatus | None = index.data(STATUS_ROLE)
        label = index.data(LABEL_ROLE) or ""
        color = COLOR_UNKNOWN
        if status is not None and status.known:
            color = COLOR_ERROR if status.error else (COLOR_OK if status.aligned else COLOR_WARN)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(20, 20, 20))
        painter.setBrush(color)
        painter.drawEllipse(tx + THUMB - 14, ty + 4, 11, 11)
        fm = QFontMetrics(option.font)
        text_color = pal.highlightedText().color() if selected else pal.text().color()
        y = ty + THUMB + 4
        name = fm.elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole)), Qt.TextElideMode.ElideMiddle, rect.width() - 6
        )
        painter.setPen(text_color)
        painter.drawText(
            QRect(rect.x() + 3, y, rect.width() - 6, fm.height()), Qt.AlignmentFlag.AlignHCenter, name
        )
        y += fm.height()
        if status is None or not status.known:
            line, line_color = (label or "…"), text_color
        elif status.error:
            line, line_color = "cannot be used", COLOR_ERROR
        else:
            line = f"{status.predicted} {status.score:.0%}"
            line_color = text_color
            if label:
                line_color = COLOR_OK if label == status.predicted else COLOR_ERROR
                if selected:
                    line_color = text_color
        painter.setPen(line_color)
        painter.drawText(
            QRect(rect.x() + 3, y, rect.width() - 6, fm.height()),
            Qt.AlignmentFlag.AlignHCenter,
            fm.elidedText(line, Qt.TextElideMode.ElideRight, rect.width() - 6),
        )
        painter.restore()


class ImageBrowser(QWidget):
    """Filter box + thumbnail list. Emits ``image_selected`` for the current image."""

    image_selected = Signal(object)  # Path
    status_wanted = Signal(object)  # Path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.filter = QLineEdit()
        self.filter.setObjectName("browser-filter")
        self.filter.setPlaceholderText("Filter by file name, label or predicted class")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Only show images whose name, label or predicted class contains this text")
        layout.addWidget(self.filter)
        self.count_label = QLabel("No folder open")
        layout.addWidget(self.count_label)
        self.model = ImageListModel(self)
        self.proxy = LabelFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = QListView()
        self.view.setObjectName("browser-list")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(200)
        self.view.setSpacing(2)
        self.view.setWordWrap(False)
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.view.setItemDelegate(ThumbnailDelegate(self.view))
        self.view.setModel(self.proxy)
        self.view.setToolTip("")
        layout.addWidget(self.view, 1)
        # Files the folder listing left out (unsupported types), with the reason: collapsed to one
        # line until the user asks, and absent when there are none.
        self.skipped: list[tuple[Path, str]] = []
        self.skipped_button = QToolButton()
        self.skipped_button.setObjectName("browser-skipped-toggle")
        self.skipped_button.setCheckable(True)
        self.skipped_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_button.setArrowType(Qt.ArrowType.RightArrow)
        self.skipped_button.setAutoRaise(True)
        self.skipped_button.setToolTip("Files in this folder that are not opened, and why")
        self.skipped_button.toggled.connect(self._show_skipped_list)
        self.skipped_list = QListWidget()
        self.skipped_list.setObjectName("browser-skipped")
        self.skipped_list.setMaximumHeight(110)
        self.skipped_list.setWordWrap(True)
        layout.addWidget(self.skipped_button)
        layout.addWidget(self.skipped_list)
        self.set_skipped([])
        self.filter.textChanged.connect(self._on_filter)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.model.status_wanted.connect(self.status_wanted)

    def shutdown(self) -> None:
        self.model.loader.stop()

    def set_images(self, paths: list[Path], labels: dict[Path, str]) -> None:
        self.model.set_images(paths, labels)
        self._update_count()

    def set_status(self, path: Path, status: ImageStatus) -> None:
        self.model.set_status(path, status)

    def set_skipped(self, skipped: list[tuple[Path, str]]) -> None:
        """Show the files the folder listing left out, each with its reason (base names only)."""
        self.skipped = list(skipped)
        self.skipped_list.clear()
        for path, reason in self.skipped:
            self.skipped_list.addItem(f"{path.name}: {reason}")
            self.skipped_list.item(self.skipped_list.count() - 1).setToolTip(reason)
        n = len(self.skipped)
        self.skipped_button.setText(f"{n} file{'s' if n != 1 else ''} skipped")
        self.skipped_button.setVisible(n > 0)
        if n == 0:
            self.skipped_button.setChecked(False)
        self._show_skipped_list(self.skipped_button.isChecked())
        self._update_count()

    def _show_skipped_list(self, shown: bool) -> None:
        self.skipped_list.setVisible(shown and bool(self.skipped))
        self.skipped_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def clear_statuses(self) -> None:
        self.model.clear_statuses()

    def current_path(self) -> Path | None:
        idx = self.view.currentIndex()
        return idx.data(PATH_ROLE) if idx.isValid() else None

    def select_path(self, path: Path) -> bool:
        row = self.model.row_of(path)
        if row is None:
            return False
        idx = self.proxy.mapFromSource(self.model.index(row))
        if not idx.isValid():
            return False
        self.view.setCurrentIndex(idx)
        self.view.scrollTo(idx)
        return True

    def select_row(self, row: int) -> None:
        if 0 <= row < self.proxy.rowCount():
            idx = self.proxy.index(row, 0)
            self.view.setCurrentIndex(idx)
            self.view.scrollTo(idx)

    def step(self, delta: int) -> None:
        """Move to the next (+1) or previous (−1) visible image, wrapping at neither end."""
        n = self.proxy.rowCount()
        if n == 0:
            return
        cur = self.view.currentIndex()
        row = cur.row() + delta if cur.isValid() else 0
        self.select_row(min(max(row, 0), n - 1))

    def _on_filter(self, text: str) -> None:
        """Filter without switching the analysed image: the current image stays selected if it
        still matches, and stays analysed (just not listed) if it does not."""
        current = self.current_path()
        sel = self.view.selectionModel()
        sel.blockSignals(True)
        try:
            self.proxy.set_text(text)
            if current is not None:
                row = self.model.row_of(current)
                idx = self.proxy.mapFromSource(self.model.index(row)) if row is not None else None
                if idx is not None and idx.isValid():
                    self.view.setCurrentIndex(idx)
                    self.view.scrollTo(idx)
                else:
                    self.view.clearSelection()
                    self.view.setCurrentIndex(self.proxy.index(-1, 0))
        finally:
            sel.blockSignals(False)
        self.view.viewport().update()
        self._update_count()

    def _update_count(self) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        skipped = f" · {len(self.skipped)} skipped" if getattr(self, "skipped", None) else ""
        if total == 0:
            self.count_label.setText("No images" + skipped)
        elif shown == total:
            self.count_label.setText(f"{total} images{skipped}")
        else:
            self.count_label.setText(f"{shown} of {total} images match{skipped}")

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.image_selected.emit(current.data(PATH_ROLE))
