"""``gmxai-desktop`` command line, run in-process: user errors and the screenshot timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.register_assert_rewrite("gui_helpers")

from gui_helpers import write_model  # noqa: E402

pytest_plugins = ("gui_helpers",)
pytestmark = pytest.mark.gui


def test_unknown_method_is_a_user_error(qtbot, config_dir, capsys) -> None:
    from gmxai_desktop.gui.app import main

    assert main(["--methods", "gradcam,magic"]) == 2
    err = capsys.readouterr().err
    assert "magic" in err and "gradcam" in err and "Traceback" not in err


def test_missing_checkpoint_exits_2_without_a_screenshot(qtbot, config_dir, tmp_path, capsys) -> None:
    from gmxai_desktop.gui.app import main

    out = tmp_path / "x.png"
    assert main(["--model", str(tmp_path / "missing.pt"), "--screenshot", str(out)]) == 2
    err = capsys.readouterr().err
    assert "missing.pt" in err and "Traceback" not in err
    assert not out.exists()


def test_empty_folder_is_a_user_error(qtbot, config_dir, tmp_path, capsys) -> None:
    from gmxai_desktop.gui.app import main

    model = write_model(tmp_path / "m.pt", seed=3)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--model", str(model), "--images", str(empty), "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "no images" in capsys.readouterr().err


def test_screenshot_timeout_exits_3(qtbot, config_dir, tmp_path, capsys) -> None:
    from gmxai_desktop.gui.app import main

    model = write_model(tmp_path / "m.pt", seed=3)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not an image")  # no maps can ever be shown
    out = tmp_path / "never.png"
    rc = main(["--model", str(model), "--images", str(broken), "--screenshot", str(out),
               "--screenshot-timeout", "2"])
    assert rc == 3
    assert "no results" in capsys.readouterr().err
    assert not out.exists()


def test_screenshot_in_process(qtbot, config_dir, gui_data, tmp_path: Path) -> None:
    from PIL import Image

    from gmxai_desktop.gui.app import main

    out = tmp_path / "shot.png"
    rc = main(["--model", str(gui_data.model), "--images", str(gui_data.images), "--methods", "saliency",
               "--screenshot", str(out), "--size", "1100x700"])
    assert rc == 0
    img = Image.open(out)
    # the requested size, or wider where the installed feature tabs need more room
    assert img.size[1] == 700 and img.size[0] >= 1100
    assert (config_dir / "gmxai-desktop.ini").is_file()  # settings went to the test's config dir


def test_bad_size_is_rejected(config_dir) -> None:
    from gmxai_desktop.gui.app import main

    with pytest.raises(SystemExit, match="WIDTHxHEIGHT"):
        main(["--size", "big"])
