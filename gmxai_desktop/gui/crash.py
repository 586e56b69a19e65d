"""Uncaught exceptions: a dialog with a copyable report, a log file, and the app keeps running.

Without this, an exception in a Qt slot prints a traceback to a terminal the clinician never sees,
and the click silently does nothing. With it, the user gets a dialog saying what happened and a
report to copy into an e-mail to the maintainers; the same report goes to
``platformdirs.user_log_dir("gmxai-desktop")`` (or ``GMXAI_CONFIG_DIR/logs``).

The report must be safe to send: it holds the app version, the platform and the traceback, and
never an image path, a folder or a file name (names of patient photos are often patient names).
:func:`scrub` rewrites paths inside the program and its libraries to ``<gmxai>/…``,
``<python>/…`` and ``<site-packages>/…`` (useful and harmless) and every other path or file
name to ``<path>`` / ``<file>``.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import sysconfig
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

# A path: optional drive, optional leading relative segment, then at least one separator.
_PATH = re.compile(r"(?:[A-Za-z]:)?[^\s'\"<>|:*?,;()\[\]{}\\/]*[\\/](?:[^\s'\"<>|:*?,;()\[\]{}]+[\\/]?)*")
_FILE = re.compile(
    r"[^\s'\"<>|:*?,;()\[\]{}\\/]+\.(?:jpe?g|png|tiff?|bmp|webp|gif|heic|heif|dcm|csv|json|pt|pth|onnx|npy"
    r"|npz|svg|pdf)\b",
    re.IGNORECASE,
)


def _code_roots() -> list[tuple[str, str]]:
    """(prefix, placeholder) for folders that hold program code, longest first."""
    import gmxai_desktop

    roots = {str(Path(gmxai_desktop.__file__).resolve().parent): "<gmxai>"}
    for key in ("purelib", "platlib"):
        with_site = sysconfig.get_paths().get(key)
        if with_site:
            roots[with_site] = "<site-packages>"
    for key in ("stdlib", "platstdlib"):
        lib = sysconfig.get_paths().get(key)
        if lib:
            roots[lib] = "<python>"
    frozen = getattr(sys, "_MEIPASS", None)  # PyInstaller bundle
    if frozen:
        roots[str(frozen)] = "<bundle>"
    expanded = {}
    for root, name in roots.items():
        expanded[root] = name
        expanded[os.path.realpath(root)] = name
    return sorted(expanded.items(), key=lambda kv: -len(kv[0]))


def scrub(text: str) -> str:
    """Remove every user path and file name from ``text``; keep program-code locations."""
    roots = _code_roots()

    def path_sub(m: re.Match[str]) -> str:
        found = m.group(0)
        if len(found) <= 1:
            return found
        for root, name in roots:
            if found.startswith(root + os.sep) or found.startswith(root + "/"):
                rel = found[len(root) + 1:].replace("\\", "/")
                if rel.endswith(".py") or "/" in rel or rel.isidentifier():
                    return f"{name}/{rel}"
        return "<path>"

    text = _PATH.sub(path_sub, text)
    return _FILE.sub(lambda m: m.group(0) if m.group(0).endswith(".py") else "<file>", text)


def _library_versions() -> str:
    from .. import __version__

    parts = [f"gmxai-desktop {__version__}", f"Python {platform.python_version()}"]
    try:
        from PySide6 import __version__ as pyside
        from PySide6.QtCore import qVersion

        parts.append(f"PySide6 {pyside} (Qt {qVersion()})")
    except ImportError:
        pass
    for name in ("torch", "captum", "numpy"):
        module = sys.modules.get(name)  # only what is loaded: reporting must not import torch
        if module is not None:
            parts.append(f"{name} {getattr(module, '__version__', '?')}")
    return ", ".join(parts)


def build_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
                 where: str = "main thread") -> str:
    """The text shown, copied and logged: version, platform, scrubbed traceback."""
    trace = "".join(traceback.format_exception(exc_type, exc, tb))
    lines = [
        "gmxai-desktop error report",
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"versions: {_library_versions()}",
        f"platform: {platform.platform()} ({platform.machine()})",
        f"frozen: {'yes' if getattr(sys, 'frozen', False) else 'no'}",
        f"where: {where}",
        "",
        trace.rstrip(),
    ]
    return scrub("\n".join(lines)) + "\n"


def log_dir() -> Path:
    env = os.environ.get("GMXAI_CONFIG_DIR")
    if env:
        return Path(env) / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir("gmxai-desktop", appauthor=False))


def write_log(report: str) -> Path | None:
    """Save the report as ``crash-<time>.log``; None if the log folder cannot be written."""
    from ..core.base.atomic import atomic_write_text

    folder = log_dir()
    target = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, report)
    except OSError:
        return None
    return target


class CrashDialog(QDialog):
    """Non-modal: the rest of the window stays usable, and an automated run is never blocked."""

    def __init__(self, report: str, log_file: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gmxai-crash-dialog")
        self.setWindowTitle("gmxai-desktop: something went wrong")
        self.report = report
        where = (f"It was saved to the log folder as {log_file.name}." if log_file
                 else "It could not be saved to the log folder.")
        intro = QLabel(
            "<b>An unexpected error occurred.</b> The last action may not have finished; the app "
            "keeps running and your images and annotations are untouched.<br>Please send the report "
            f"below to the maintainers. {where} It contains no image names, paths or patient data."
        )
        intro.setWordWrap(True)
        self.text = QPlainTextEdit(report)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setMinimumSize(520, 220)
        buttons = QDialogButtonBox()
        self.copy_button = QPushButton("Copy report")
        self.copy_button.clicked.connect(self.copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.text, 1)
        lay.addWidget(buttons)
        self.resize(720, 420)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.report)
        self.copy_button.setText("Copied")


class CrashHandler(QObject):
    """Routes uncaught exceptions (GUI thread and other threads) to one dialog at a time."""

    _from_thread = Signal(str)

    MAX_DIALOGS = 3  # an exception in a paint loop must not open a dialog per frame

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.window = parent
        self.dialogs: list[CrashDialog] = []
        self.reports: list[str] = []
        self._previous_hook = sys.excepthook
        self._previous_thread_hook = threading.excepthook
        self._from_thread.connect(self._show)

    def install(self) -> None:
        sys.excepthook = self.handle
        threading.excepthook = self.handle_thread

    def uninstall(self) -> None:
        sys.excepthook = self._previous_hook
        threading.excepthook = self._previous_thread_hook

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            self._previous_hook(exc_type, exc, tb)
            return
        self._show(build_report(exc_type, exc, tb))

    def handle_thread(self, args: Any) -> None:
        if args.exc_type is SystemExit:
            return
        name = getattr(args.thread, "name", "a background thread")
        report = build_report(args.exc_type, args.exc_value, args.exc_traceback, where=f"thread {name}")
        self._from_thread.emit(report)  # queued to the GUI thread

    def _show(self, report: str) -> None:
        self.reports.append(report)
        print(report, file=sys.stderr)
        log_file = write_log(report)
        open_now = [d for d in self.dialogs if d.isVisible()]
        if len(open_now) >= self.MAX_DIALOGS:
            return
        dialog = CrashDialog(report, log_file, self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.dialogs.append(dialog)
        dialog.show()


def install_crash_handler(window: Any) -> CrashHandler:
    handler = CrashHandler(window)
    handler.install()
    window.crash_handler = handler
    return handler
