"""Screenshots of the gaze study on the bundled demo (run under a real or virtual display).

    xvfb-run -a -s "-screen 0 1920x1080x24" python -m gmxai_desktop.gui.gaze_screenshots OUT --size 1920x1080

Opens the demo (its synthetic fixations load by themselves), waits for the first image's maps and
for the folder study, and writes ``gaze_image.png`` (this image's table, the density overlay on)
and ``gaze_folder.png`` (the folder table). Settings go to a temporary folder.
"""

from __future__ import annotations

from .qtenv import prepare_qt_environment

prepare_qt_environment()

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from .doc_screenshots import _wait, demo_window  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Screenshots of the gaze study on the demo")
    p.add_argument("out", type=Path)
    p.add_argument("--size", default="1920x1080")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--methods", default="gradcam,saliency,guided_backprop",
                   help="methods shown and studied (fast ones by default: the folder study computes "
                   "every method on all 56 faces)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    app, win = demo_window(args.size, args.methods.split(","), "gaze")
    c, g = win.controller, win.gaze
    done = {"v": False}
    win.all_results_shown.connect(lambda: done.__setitem__("v", True))
    c.open_demo("demo")
    _wait(app, lambda: done["v"] and bool(g.folder_rows) and c.worker.pending_count() == 0,
          args.timeout, "the maps and the folder study")
    g.dock.raise_()

    def shot(name: str) -> None:
        for _ in range(30):
            app.processEvents()
            time.sleep(0.02)
        path = args.out / name
        win.grab().save(str(path), "PNG")
        print(f"wrote {path} ({win.width()}x{win.height()})")

    g.view.show_density.setChecked(True)
    g.view.tabs.setCurrentIndex(0)
    shot("gaze_image.png")
    g.view.show_density.setChecked(False)
    g.view.tabs.setCurrentIndex(1)
    shot("gaze_folder.png")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
