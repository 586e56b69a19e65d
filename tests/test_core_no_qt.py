"""The core must stay importable and usable without Qt (headless CLI, CI, other front ends)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import importlib, pkgutil, sys
import gmxai_desktop.core as core
names = []
for info in pkgutil.walk_packages(core.__path__, prefix="gmxai_desktop.core."):
    importlib.import_module(info.name)
    names.append(info.name)
QT = {"PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6"}
qt = sorted(m for m in sys.modules if m.split(".")[0] in QT)
print(len(names))
print(",".join(qt))
"""


def test_core_imports_no_qt() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    count, qt = out.stdout.strip().split("\n") + [""] * (2 - len(out.stdout.strip().split("\n")))
    assert int(count) >= 10, "expected the core modules to be importable"
    assert qt == "", f"core pulled in Qt modules: {qt}"
