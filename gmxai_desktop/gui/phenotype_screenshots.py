"""Screenshots of the phenotype views from the bundled demo (run under a real or virtual display).

    xvfb-run -a -s "-screen 0 1920x1080x24" \
        python -m gmxai_desktop.gui.phenotype_screenshots OUT --size 1920x1080

Writes ``phenotype_dock.png`` (atlas overlay on, Phenotype dock raised, first demo face) and
``hpo_regions_tab.png`` (the per-syndrome view after composites with Grad-CAM). Settings go to a
temporary folder, never to the user's configuration.
"""

from __future__ import annotations

from .qtenv import prepare_qt_environment

prepare_qt_environment()

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Screenshots of the phenotype views from the demo")
    p.add_argument("out", type=Path)
    p.add_argument("--size", default="1366x768")
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args(argv)
    from .doc_screenshots import _wait, demo_window
    from .phenotype_integration import install_phenotype

    args.out.mkdir(parents=True, exist_ok=True)
    app, win = demo_window(args.size, ["gradcam", "saliency"], "pheno")
    c = win.controller
    feature = install_phenotype(win)  # the window already has it: this returns the installed feature
    done = {"v": False}
    win.all_results_shown.connect(lambda: done.__setitem__("v", True))
    tag = f"_{args.size}"

    def shot(name: str) -> None:
        for _ in range(30):
            app.processEvents()
            time.sleep(0.02)
        path = args.out / f"{name}{tag}.png"
        if not win.grab().save(str(path), "PNG"):
            raise SystemExit(f"phenotype_screenshots: cannot write {path}")
        print(f"wrote {path}")

    c.open_demo("demo")
    _wait(app, lambda: done["v"] and c.worker.pending_count() == 0 and feature.panel.report is not None,
          args.timeout, "the first image's maps and phenotype report")
    feature.atlas_action.setChecked(True)
    feature.dock.raise_()
    shot("phenotype_dock")

    views = win._gmxai_syndrome_views
    views.composites.set_methods(["gradcam"])
    win.tabs.setCurrentWidget(views.composites)
    views.composites.compute()
    _wait(app, lambda: "primary" in views.composites.results and c.worker.pending_count() == 0
          and views.composites.results["primary"].complete, args.timeout, "composites")
    win.tabs.setCurrentWidget(feature.syndrome_tab)
    feature.syndrome_view.fill()
    _wait(app, lambda: feature.syndrome_view.panel.report is not None, args.timeout, "the syndrome report")
    shot("hpo_regions_tab")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
