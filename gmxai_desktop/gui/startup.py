"""A window within a second of launch, while torch and the models load behind it.

Building :class:`~gmxai_desktop.gui.main_window.MainWindow` needs the attribution-method
registry, which imports torch and captum (several seconds on a laptop), and the HPO face index.
Doing that first would leave the user staring at nothing. Instead ``gmxai-desktop`` starts
:func:`preload` on a background thread before Qt starts, shows :class:`StartupWindow` ("loading
model…", an indeterminate bar, still movable and repainted), and builds the real window when the
thread is done. A failed preload is not reported here: the main thread then imports the same
modules again and reports the real error in the usual way.

``GMXAI_STARTUP_TRACE=FILE`` appends ``event unix-time`` lines (``startup-window``,
``main-window``, ``first-map``, ``all-maps``) to FILE; ``benchmarks/bench_startup.py`` reads them.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

# What the main window needs before it can be built, slowest first.
PRELOAD_MODULES = (
    "gmxai_desktop.core.attribution.methods",  # torch, captum
    "gmxai_desktop.core.models",  # torchvision
    "gmxai_desktop.core.demo",
)


APP_ID = "io.github.gmxai.GmxaiDesktop"
"""Desktop-entry id (packaging/linux): lets Wayland docks match the window to its menu entry."""


def app_icon_path() -> Path | None:
    """The icon: ``resources/icons`` in a packaged app, ``packaging/icons`` in a checkout.

    The 256 px PNG, not the SVG: reading SVG needs Qt's svg plugins, which a frozen build may lack.
    """
    from ..core.base.resources import resources_dir

    res = resources_dir()
    for candidate in (res / "icons" / "gmxai-desktop-256.png",
                      res.parent / "packaging" / "icons" / "gmxai-desktop-256.png"):
        if candidate.is_file():
            return candidate
    return None


def trace(event: str) -> None:
    """Record a start-up milestone for the benchmark (no-op unless GMXAI_STARTUP_TRACE is set)."""
    target = os.environ.get("GMXAI_STARTUP_TRACE")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(f"{event} {time.time():.6f}\n")


def install_app_identity(app: Any) -> None:
    """Window icon and desktop-entry name, so docks and task bars show the app's own icon."""
    from PySide6.QtGui import QIcon

    app.setDesktopFileName(APP_ID)
    icon = app_icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))


class Preloader(threading.Thread):
    """Imports :data:`PRELOAD_MODULES` off the GUI thread (the HPO index is warmed on the worker
    after the first maps, see ``warm_hpo_index``)."""

    def __init__(self) -> None:
        super().__init__(name="gmxai-preload", daemon=True)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for name in PRELOAD_MODULES:
                importlib.import_module(name)
        except BaseException as exc:  # the main thread re-imports and reports it
            self.error = exc


def preload() -> Preloader:
    thread = Preloader()
    thread.start()
    return thread


class StartupWindow(QWidget):
    """What the user sees while :func:`preload` runs: the app's name and "loading model…"."""

    def __init__(self, message: str = "Loading model…") -> None:
        super().__init__()
        self.setObjectName("gmxai-startup-window")
        self.setWindowTitle("gmxai-desktop")
        title = QLabel("<h2>gmxai-desktop</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel(message)
        self.message.setObjectName("startup-message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar = QProgressBar()
        bar.setRange(0, 0)  # busy indicator: imports report no progress
        bar.setFixedWidth(300)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        icon_path = app_icon_path()
        if icon_path is not None:
            from PySide6.QtGui import QIcon

            logo = QLabel()
            logo.setPixmap(QIcon(str(icon_path)).pixmap(64, 64))
            logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lay.addWidget(logo)
        lay.addWidget(title)
        lay.addWidget(self.message)
        lay.addWidget(bar, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(1)
        self.resize(480, 260)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        QTimer.singleShot(0, lambda: trace("startup-window"))

    def wait(self, thread: threading.Thread, poll_ms: int = 20) -> None:
        """Keep this window live (painted, movable) until ``thread`` ends."""
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(poll_ms)
        timer.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
        timer.start()
        if thread.is_alive():
            loop.exec()
        timer.stop()

    def finish(self) -> None:
        self.close()
        self.deleteLater()


def install_startup_trace(window: Any) -> None:
    """Trace when the main window shows, its first map arrives and all maps are shown."""
    if not os.environ.get("GMXAI_STARTUP_TRACE"):
        return
    seen: set[str] = set()

    def once(event: str) -> None:
        if event not in seen:
            seen.add(event)
            trace(event)

    QTimer.singleShot(0, lambda: once("main-window"))
    window.controller.panel_result.connect(lambda *_: QTimer.singleShot(0, lambda: once("first-map")))
    window.all_results_shown.connect(lambda: once("all-maps"))
