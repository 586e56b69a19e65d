"""Thumbnail browser: a 10,000-image folder opens at once and only what is visible is decoded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import wait_idle  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 image files (hard links to two small faces: cheap to create, real to decode)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    sources = []
    for i in range(2):
        src = root / f"src{i}.png"
        Image.fromarray(rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)).save(src)
        sources.append(src)
    folder = root / "images"
    folder.mkdir()
    for i in range(10_000):
        os.link(sources[i % 2], folder / f"img{i:05d}.png")
    return folder


def test_ten_thousand_images_open_lazily(qtbot, make_window, gui_data, big_folder) -> None:
    from gmxai_desktop.gui.controller import ModelRequest

    win = make_window(methods=["saliency"])
    model = win.browser.model
    requested: list[str] = []
    real_request = model.loader.request
    model.loader.request = lambda p: (requested.append(p), real_request(p))[1]
    status_requests: list[Path] = []
    win.browser.status_wanted.connect(status_requests.append)
    with qtbot.waitSignal(win.all_results_shown, timeout=60_000):
        win.controller.open_model(ModelRequest(str(gui_data.model)))
        win.open_folder(big_folder)
    assert model.rowCount() == 10_000
    assert win.browser.count_label.text() == "10000 images"
    qtbot.waitUntil(lambda: len(model._thumbs) > 0, timeout=30_000)  # visible thumbnails arrive
    visible_estimate = 200  # far more than fit on screen, far fewer than the folder
    assert 0 < len(set(requested)) < visible_estimate
    assert 0 < len(set(status_requests)) < visible_estimate
    # jump to the end: the last images are decoded, the middle of the folder is not
    win.browser.select_row(9_999)
    qtbot.waitUntil(lambda: str(big_folder / "img09999.png") in model._thumbs, timeout=30_000)
    assert str(big_folder / "img05000.png") not in set(requested)
    assert win.controller.state.image == big_folder / "img09999.png"
    wait_idle(qtbot, win)
    assert len(win.controller.statuses) < visible_estimate  # predictions only for what was seen


def test_thumbnail_matches_the_core_loader_orientation(tmp_path) -> None:
    """Thumbnails apply EXIF orientation like the core loader, so the list shows what is analysed."""
    from PIL import Image

    from gmxai_desktop.core.inputs.imageio import load_image
    from gmxai_desktop.gui.browser import read_thumbnail

    img = Image.new("RGB", (60, 30), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif, quality=95)
    full = load_image(path)
    thumb = read_thumbnail(path, size=96)
    assert full.shape[0] > full.shape[1] and thumb.shape[0] > thumb.shape[1]  # portrait, like the core
    small = np.asarray(Image.fromarray(full).resize(thumb.shape[1::-1]))
    assert np.abs(small.astype(int) - thumb.astype(int)).mean() < 12
