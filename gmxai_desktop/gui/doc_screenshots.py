"""Regenerate the README screenshots from the bundled demo (run under a real or virtual display).

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m gmxai_desktop.gui.doc_screenshots docs/screenshots

Writes ``main.png`` (the demo's default methods on the first face, crosshair on the left eye),
``difference.png`` (Integrated Gradients on the demo model minus the same method on
``demo-imbalanced``, with the agreement summary) and ``topk.png`` (Grad-CAM and Integrated
Gradients for the three most probable classes) and ``comparison.png`` (Analysis › Compare with
demo-imbalanced: Grad-CAM composites of both models side by side, the agreement table and the
agreement-vs-class-size scatter). Settings go to a temporary folder, never to the user's
configuration.
"""

from __future__ import annotations

from .qtenv import limit_torch_threads, prepare_qt_environment

prepare_qt_environment()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402


def _wait(app: object, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"doc_screenshots: timed out waiting for {what}")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def demo_window(size: str, methods: list[str], tag: str) -> tuple[object, object]:
    """(QApplication, shown application window) for a screenshot script: settings in a fresh
    temporary folder (never the user's), ``size`` as ``WxH``, ``methods`` selected."""
    width, height = (int(v) for v in size.split("x"))
    os.environ["GMXAI_CONFIG_DIR"] = tempfile.mkdtemp(prefix=f"gmxai-{tag}-shots-")
    limit_torch_threads()

    from PySide6.QtWidgets import QApplication

    from .app import create_window

    app = QApplication.instance() or QApplication(["gmxai-desktop"])
    win = create_window()
    win.resize(width, height)
    win.controller.set_methods(methods)
    win._sync_controls()
    win.show()
    return app, win


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Regenerate the README screenshots from the bundled demo")
    p.add_argument("out", type=Path, help="output folder, e.g. docs/screenshots")
    p.add_argument("--size", default="1500x900")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for each view")
    args = p.parse_args(argv)
    from PySide6.QtCore import QPointF

    from .controller import COMPARE, ModelRequest
    from .state import DEFAULT_METHODS

    args.out.mkdir(parents=True, exist_ok=True)
    app, win = demo_window(args.size, list(DEFAULT_METHODS), "doc")
    c = win.controller
    complete = {"v": False}
    win.all_results_shown.connect(lambda: complete.__setitem__("v", True))

    def shot(name: str) -> None:
        for _ in range(30):
            app.processEvents()
            time.sleep(0.02)
        path = args.out / name
        if not win.grab().save(str(path), "PNG"):
            raise SystemExit(f"doc_screenshots: cannot write {path}")
        print(f"wrote {path}")

    def settle(what: str) -> None:
        _wait(app, lambda: complete["v"] and c.worker.pending_count() == 0, args.timeout, what)

    # 1. the demo's default view, crosshair on a feature so the readouts show values
    c.open_demo("demo")
    settle("the first image's maps")
    face = win.grid.face_panel
    h, w = face.grid_size or (100, 100)
    face._on_mouse(face.view_box.mapViewToScene(QPointF(w * 0.34, h * 0.42)))
    shot("main.png")

    # 2. the same method on two models: what changed when the training data was imbalanced
    complete["v"] = False
    with_compare = {"v": False}
    c.model_loaded.connect(lambda role, a: with_compare.__setitem__("v", role == COMPARE and a is not None))
    c.open_model(ModelRequest("demo-imbalanced"), COMPARE)
    _wait(app, lambda: with_compare["v"], args.timeout, "the comparison model")
    diff = win.difference_view()
    win.show_tab(diff)
    diff.select("integrated_gradients", "cmp:integrated_gradients")
    _wait(app, lambda: bool(diff.last_values), args.timeout, "the difference view")
    diff._on_hover(None)
    shot("difference.png")

    # 3. top-3 classes: what separates the model's best guesses
    win.show_tab(win.grid)
    complete["v"] = False
    c.set_methods(["integrated_gradients", "gradcam"])
    win.target.set_target("top:3")
    c.set_target("top:3")
    settle("the top-3 maps")
    shot("topk.png")

    # 4. the class-imbalance study: both models' syndrome-wise maps, agreement vs class size
    from .model_comparison_view import install_model_comparison
    from .syndrome_integration import install_syndrome_views

    action = install_model_comparison(win)
    cv = install_syndrome_views(win).composites
    cv.set_methods(["gradcam"])
    action.trigger()
    _wait(app, lambda: {"primary", "compare"} <= set(cv.results) and not cv._active, args.timeout,
          "the model comparison")
    shot("comparison.png")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
