"""Folders say what they skip; GIF and multi-frame TIFF use their first frame, and say so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmxai_desktop.core.base.errors import GmxaiError
from gmxai_desktop.core.inputs.imageio import (
    COMPANION_SUFFIXES,
    SUPPORTED_SUFFIXES,
    iter_image_paths,
    load_image,
    multi_frame_note,
    skipped_files,
)

# Flat colours a GIF palette holds exactly, so the decoded first frame can be compared pixel by pixel.
RED, BLUE = (200, 30, 40), (20, 40, 210)


def _flat(colour: tuple[int, int, int], size: tuple[int, int] = (12, 10)) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (*size, 3)).copy()


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    (root / ".cache").mkdir()
    Image.fromarray(_flat(RED)).save(root / "a.png")
    Image.fromarray(_flat(RED)).save(root / "anim.gif", save_all=True,
                                     append_images=[Image.fromarray(_flat(BLUE))], duration=100)
    (root / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (root / "sub" / "scan.dcm").write_bytes(b"DICM")
    (root / "sub" / "README").write_text("no extension")
    (root / "sub" / "weird.xyz").write_bytes(b"x")
    (root / "labels.csv").write_text("image,label\n")
    (root / "a.gmxai-annotations.json").write_text("{}")
    (root / "._a.png").write_bytes(b"x")  # macOS resource fork: hidden, not a photo
    (root / ".cache" / "b.heic").write_bytes(b"x")  # hidden folder: not listed at all
    return root


def test_every_visible_file_is_an_image_a_companion_or_skipped_with_a_reason(tmp_path) -> None:
    root = _folder(tmp_path)
    images = iter_image_paths([root])
    skipped = dict(skipped_files(root))
    assert [p.name for p in images] == ["a.png", "anim.gif"]  # GIF is an image now
    assert sorted(p.name for p in skipped) == ["IMG_0001.HEIC", "README", "scan.dcm", "weird.xyz"]
    assert "HEIC" in skipped[root / "IMG_0001.HEIC"] and "JPEG" in skipped[root / "IMG_0001.HEIC"]
    assert "DICOM" in skipped[root / "sub" / "scan.dcm"]
    assert "no file extension" in skipped[root / "sub" / "README"]
    assert ".xyz" in skipped[root / "sub" / "weird.xyz"]
    # a partition of the visible files, written out independently of the module's walk
    visible = [p for p in root.rglob("*") if p.is_file()
               and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    companions = [p for p in visible if p.suffix.lower() in COMPANION_SUFFIXES]
    assert sorted(visible) == sorted([*images, *skipped, *companions])
    assert not set(images) & set(skipped)


def test_no_images_error_mentions_what_was_skipped(tmp_path) -> None:
    folder = tmp_path / "iphone"
    folder.mkdir()
    (folder / "IMG_1.heic").write_bytes(b"x")
    pattern = r"no images found.*1 file\(s\) of other types skipped, e\.g\. IMG_1"
    with pytest.raises(GmxaiError, match=pattern):
        iter_image_paths([folder])


def test_gif_uses_its_first_frame_and_says_so(tmp_path) -> None:
    root = _folder(tmp_path)
    np.testing.assert_array_equal(load_image(root / "anim.gif"), _flat(RED))
    note = multi_frame_note(root / "anim.gif")
    assert note is not None and "animated GIF" in note and "first frame" in note
    assert str(root) not in note and note.startswith("anim.gif")  # base name only
    Image.fromarray(_flat(BLUE)).save(tmp_path / "still.gif")
    assert multi_frame_note(tmp_path / "still.gif") is None
    np.testing.assert_array_equal(load_image(tmp_path / "still.gif"), _flat(BLUE))
    assert multi_frame_note(root / "a.png") is None


def test_multi_page_tiff_note_counts_pages(tmp_path) -> None:
    pages = [Image.fromarray(_flat(c)) for c in (RED, BLUE, RED)]
    pages[0].save(tmp_path / "m.tiff", save_all=True, append_images=pages[1:])
    note = multi_frame_note(tmp_path / "m.tiff")
    assert note is not None and "multi-page TIFF (3 pages)" in note
    np.testing.assert_array_equal(load_image(tmp_path / "m.tiff"), _flat(RED))
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    assert multi_frame_note(tmp_path / "broken.tif") is None  # load_image reports it instead


def test_gif_is_supported() -> None:
    assert ".gif" in SUPPORTED_SUFFIXES


@pytest.mark.gui
def test_browser_lists_skipped_files_and_status_bar_counts_them(qtbot, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GMXAI_CONFIG_DIR", str(tmp_path / "config"))
    from gmxai_desktop.gui.app import create_window

    root = _folder(tmp_path)
    win = create_window()
    qtbot.addWidget(win)
    try:
        win.show()
        report = win.folder_report
        win.open_folder(root)
        qtbot.waitUntil(lambda: report.label.isVisible(), timeout=20_000)
        assert report.label.text() == "4 files skipped"
        browser = win.browser
        assert browser.skipped_button.isVisible() and "4 files skipped" in browser.skipped_button.text()
        assert "2 images · 4 skipped" in browser.count_label.text()
        browser.skipped_button.setChecked(True)
        assert browser.skipped_list.isVisible()
        lines = [browser.skipped_list.item(i).text() for i in range(browser.skipped_list.count())]
        assert any(line.startswith("IMG_0001.HEIC: ") and "HEIC" in line for line in lines)
        assert not any(str(root) in line for line in lines)  # names only, never the folder path
        # selecting the animated GIF says that its first frame is used
        assert browser.select_path(root / "anim.gif")
        qtbot.waitUntil(lambda: "first frame" in win.statusBar().currentMessage(), timeout=5000)
    finally:
        win.close()
        win.controller.shutdown()
        win.browser.shutdown()
