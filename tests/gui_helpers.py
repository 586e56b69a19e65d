"""Shared fixtures for the GUI tests: a tiny real model, a folder of synthetic faces, a window.

Everything runs through the real core (model loading, face pipeline, engine); only the model's
weights are random, which keeps the tests fast and independent of the bundled demo model.
"""

from __future__ import annotations

import os

from gmxai_desktop.gui.qtenv import prepare_qt_environment

prepare_qt_environment()  # before pytest-qt creates the QApplication (tests/conftest.py does it too)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

CLASSES = ["unaffected", "hypertelorism", "synophrys", "thin-upper-lip"]
FAST_METHODS = ["saliency", "gradcam"]


@dataclass
class GuiData:
    root: Path
    model: Path
    images: Path
    paths: list[Path]
    labels: dict[str, str]


def _write_faces(folder: Path, n: int, seed: int) -> list[Path]:
    from PIL import Image

    from gmxai_desktop.core.demo.faces import make_face

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = CLASSES[i % 2]
        path = folder / f"face{i:02d}.png"
        Image.fromarray(make_face(label, rng, with_mask=False).image).save(path)
        out.append(path)
    return out


def write_model(path: Path, seed: int) -> Path:
    from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1

    torch.manual_seed(seed)
    net = GestaltMatcherV1(num_classes=len(CLASSES)).eval()
    with torch.no_grad():  # spread the logits so predictions differ between images
        net.classifier[0].weight.mul_(40.0)
    torch.save(net.state_dict(), path)
    path.with_name(f"{path.stem}.classes.txt").write_text("\n".join(CLASSES) + "\n")
    return path


@pytest.fixture(scope="session")
def gui_data(tmp_path_factory: pytest.TempPathFactory) -> GuiData:
    root = tmp_path_factory.mktemp("gui-data")
    model = write_model(root / "tiny.pt", seed=0)
    images = root / "images"
    paths = _write_faces(images, 6, seed=1)
    labels = {p.name: CLASSES[i % 2] for i, p in enumerate(paths)}
    (images / "labels.csv").write_text("image,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()))
    return GuiData(root, model, images, paths, labels)


@pytest.fixture()
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cfg = tmp_path / "config"
    monkeypatch.setenv("GMXAI_CONFIG_DIR", str(cfg))
    return cfg


@pytest.fixture()
def make_window(qtbot, config_dir: Path) -> Iterator[Callable[..., object]]:
    """Factory for a shown MainWindow with the given methods; windows are closed after the test."""
    from gmxai_desktop.gui.main_window import MainWindow

    windows: list[MainWindow] = []

    def factory(methods: list[str] | None = None, size: tuple[int, int] = (1200, 800)) -> MainWindow:
        win = MainWindow()
        qtbot.addWidget(win)
        win.resize(*size)
        win.controller.set_methods(list(methods or FAST_METHODS))
        win._sync_controls()
        win.show()
        win.activateWindow()
        qtbot.waitExposed(win)
        qtbot.waitUntil(win.isActiveWindow, timeout=5000)  # keyboard shortcuts need the active window
        windows.append(win)
        return win

    yield factory
    for win in windows:
        if win.isVisible():
            win.close()
        win.controller.shutdown()
        win.browser.shutdown()


def open_data(qtbot, win, data: GuiData, timeout: int = 60_000) -> None:
    """Open the tiny model and the folder, and wait until the first image's maps are shown."""
    from gmxai_desktop.gui.controller import ModelRequest

    with qtbot.waitSignal(win.all_results_shown, timeout=timeout):
        win.controller.open_model(ModelRequest(str(data.model)))
        win.open_folder(data.images)


def expected_maps(
    adapter, path: Path, methods: list[str], target: str = "predicted", params: dict | None = None
) -> dict[str, list]:
    """The core's results computed directly (no GUI), to compare what the panels show."""
    from gmxai_desktop.core.attribution.engine import explain
    from gmxai_desktop.core.inputs.pipeline import prepare_file

    x = prepare_file(adapter, path).x
    return {m: explain(adapter, x, [m], target=target, params=params or {}) for m in methods}


def wait_idle(qtbot, win, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: win.controller.worker.pending_count() == 0, timeout=timeout)
    qtbot.wait(50)
