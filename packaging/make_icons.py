"""Render packaging/icons/gmxai-desktop.svg to the PNG sizes Linux desktops use, plus the Windows
.ico and macOS .icns the PyInstaller spec needs. Rerun after editing the SVG:

    python packaging/make_icons.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (needed for painting)
    renderer = QSvgRenderer(str(HERE / "gmxai-desktop.svg"))
    if not renderer.isValid():
        raise SystemExit("gmxai-desktop.svg is not a valid SVG")
    pngs = {}
    for size in SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = HERE / f"gmxai-desktop-{size}.png"
        img.save(str(out), "PNG")
        pngs[size] = out
    big = Image.open(pngs[256]).convert("RGBA")
    big.save(HERE / "gmxai-desktop.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    Image.open(pngs[512]).convert("RGBA").save(HERE / "gmxai-desktop.icns")
    print(f"wrote {len(pngs)} PNGs, gmxai-desktop.ico and gmxai-desktop.icns to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
