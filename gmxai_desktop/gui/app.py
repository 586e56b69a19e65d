"""``gmxai-desktop`` entry point.

``--demo`` opens the bundled demo model and demo faces and computes a default set of methods;
``--model M --images DIR`` opens those; ``--screenshot FILE`` saves the window once the first
image's maps are shown and exits (0 on success, 3 if no results came within the timeout, 2 for a
user error such as a missing checkpoint).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .main_window import MainWindow

EXIT_USER_ERROR = 2
EXIT_TIMEOUT = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gmxai-desktop",
        description="Explore why a facial-syndrome classifier predicts what it predicts.",
    )
    p.add_argument("--demo", action="store_true", help="open the bundled demo model and demo faces")
    p.add_argument("--model", metavar="CKPT", help="checkpoint file, or demo / demo-imbalanced")
    p.add_argument("--arch", metavar="NAME", help="force the architecture (default: detected from the file)")
    p.add_argument("--classes", metavar="FILE", help="class names: lookup_table.txt or one name per line")
    p.add_argument("--device", metavar="DEV", help="cpu, cuda or cuda:N (default: cuda if available)")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow checkpoints that need full unpickling (runs code in the file; trusted files only)",
    )
    p.add_argument("--images", metavar="DIR", help="folder of face images to browse")
    p.add_argument("--labels", metavar="CSV", help="CSV with the known label of each image")
    p.add_argument(
        "--compare", metavar="CKPT", help="a second model for the Difference tab, e.g. demo-imbalanced"
    )
    p.add_argument(
        "--methods",
        metavar="LIST",
        help="comma-separated methods to show (default: the last used, or a quick set)",
    )
    p.add_argument(
        "--screenshot", metavar="FILE", help="save a PNG of the window once results are shown, then exit"
    )
    p.add_argument(
        "--screenshot-timeout",
        metavar="S",
        type=float,
        default=300.0,
        help="give up on --screenshot after this many seconds (exit status 3)",
    )
    p.add_argument("--size", metavar="WxH", help="window size, e.g. 1500x900")
    return p


def create_window() -> MainWindow:
    """The application window: the core MainWindow plus the features that plug into its extension
    points (annotation tools, region metrics and figure export; composites and similar patients;
    eye-tracking fixations; HPO phenotype views; folder report, about and privacy; small screens)."""
    from .about import install_about_and_privacy
    from .annotations_integration import install_annotations
    from .arc_integration import install_arc
    from .ensemble_maps_view import install_ensemble_maps
    from .evaluate_view import install_evaluate
    from .folder_report import install_folder_report
    from .gaze_integration import install_gaze
    from .main_window import MainWindow
    from .model_comparison_view import install_model_comparison
    from .phenotype_integration import install_phenotype
    from .small_screen import install_small_screen_support
    from .syndrome_integration import install_syndrome_views

    window = MainWindow()
    install_annotations(window)
    install_syndrome_views(window)
    install_arc(window)
    install_ensemble_maps(window)  # after install_syndrome_views: it sits in Similar patients
    install_evaluate(window)
    install_phenotype(window)
    install_gaze(window)
    install_folder_report(window)
    install_about_and_privacy(window)
    install_model_comparison(window)
    install_small_screen_support(window)  # last: it manages the docks the others added
    return window


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(
            f"gmxai-desktop: error: --size {text!r}: expected WIDTHxHEIGHT, e.g. 1500x900"
        ) from None
    return max(w, 400), max(h, 300)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help answers before anything heavy is imported
    size = _parse_size(args.size)
    # cv2 must be imported, and its Qt plugin path removed, before anything creates a QApplication.
    from .qtenv import limit_torch_threads, prepare_qt_environment

    prepare_qt_environment()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .crash import install_crash_handler
    from .startup import StartupWindow, install_app_identity, install_startup_trace, preload

    loading = preload()  # torch and the models load while Qt starts and the first window shows
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "gmxai-desktop"])
    app.setApplicationName("gmxai-desktop")
    app.setOrganizationName("gmxai")
    install_app_identity(app)
    splash = StartupWindow()
    splash.show()
    splash.wait(loading)
    limit_torch_threads()

    from ..core.attribution.methods import list_methods
    from ..core.base.errors import GmxaiError
    from .controller import COMPARE, ModelRequest
    from .state import DEFAULT_METHODS

    known = [m.name for m in list_methods()]
    wanted: list[str] | None = None
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in known]
        if unknown:
            print(
                f"gmxai-desktop: error: unknown method(s) {', '.join(unknown)}; "
                f"available: {', '.join(known)}",
                file=sys.stderr,
            )
            splash.finish()
            return EXIT_USER_ERROR
    elif args.demo:
        wanted = [m for m in DEFAULT_METHODS if m in known]

    window = create_window()
    install_startup_trace(window)
    controller = window.controller
    if size:
        window.resize(*size)
    if wanted is not None:
        controller.set_methods(wanted)
    window._sync_controls()

    exit_code = {"value": 0}

    def fail(code: int, message: str) -> None:
        if exit_code["value"]:
            return  # the first error is the one to report
        print(f"gmxai-desktop: error: {message}", file=sys.stderr)
        exit_code["value"] = code
        app.exit(code)

    if args.screenshot:
        target = Path(args.screenshot)
        done = {"value": False}

        def grab() -> None:
            app.processEvents()
            pix = window.grab()
            target.parent.mkdir(parents=True, exist_ok=True)
            if not pix.save(str(target), "PNG"):
                fail(EXIT_USER_ERROR, f"cannot write {target.name}")
                return
            print(f"gmxai-desktop: saved {target}")
            app.exit(0)

        def on_shown() -> None:
            if not done["value"]:
                done["value"] = True
                QTimer.singleShot(500, grab)  # let every panel paint once more

        window.all_results_shown.connect(on_shown)
        window.show_error = lambda title, msg: fail(EXIT_USER_ERROR, f"{title}: {msg}")  # type: ignore[method-assign]
        QTimer.singleShot(
            int(args.screenshot_timeout * 1000),
            lambda: fail(
                EXIT_TIMEOUT, f"no results within {args.screenshot_timeout:g} s; no screenshot saved"
            ),
        )

    try:
        if args.demo:
            controller.open_demo("demo", device=args.device)
        elif args.model:
            controller.open_model(
                ModelRequest(args.model, args.arch, args.classes, args.device, args.trust_pickle)
            )
        if args.images:
            window.open_folder(Path(args.images), Path(args.labels) if args.labels else None)
        if args.compare:
            controller.open_model(ModelRequest(args.compare, device=args.device), COMPARE)
    except GmxaiError as exc:
        print(f"gmxai-desktop: error: {exc}", file=sys.stderr)
        window.close()
        splash.finish()
        return EXIT_USER_ERROR

    crash_handler = install_crash_handler(window)  # uncaught errors: a dialog and a log; the app goes on
    window.show()
    splash.finish()
    rc = app.exec()
    crash_handler.uninstall()
    if window.isVisible():
        window.close()
    return exit_code["value"] or rc


if __name__ == "__main__":
    sys.exit(main())
