"""GUI-thread stalls while the heaviest methods run in the background.

A QTimer ticks every 5 ms on the GUI thread and records the gap between ticks while the window
computes Integrated Gradients + Occlusion (by default) for a series of images, the browser shows
thumbnails and the crosshair moves over the panels. A responsive UI keeps every gap under 50 ms.

    python benchmarks/bench_ui.py                      # demo model if bundled, else a GM v1 of equal cost
    python benchmarks/bench_ui.py --images 12 --methods integrated_gradients,occlusion --threads 1
    python benchmarks/bench_ui.py --flip 300           # hold N / P: 300 rapid switches while maps compute

Prints max / p99 / median tick gap, per-image compute time and the torch thread count.
``--flip N`` is the "hold N or P to flip through a folder" scenario instead: N switches, one per
key auto-repeat interval (``--flip-ms``, 33 ms like a typical 30 Hz repeat), forward then back
through a folder of ``--images`` faces, while the controller starts, cancels and restarts maps.
Runs offscreen by default (set QT_QPA_PLATFORM=xcb under Xvfb to include real painting).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from gmxai_desktop.gui.qtenv import prepare_qt_environment

prepare_qt_environment()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def synthetic_folder(n: int, root: Path) -> Path:
    """Demo-style faces (112 px aligned crops) written to a temporary folder."""
    from PIL import Image

    from gmxai_desktop.core.demo.faces import make_face

    folder = root / "images"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(make_face("unaffected", rng, with_mask=False).image).save(folder / f"face{i:03d}.png")
    return folder


def random_model(root: Path) -> Path:
    """GestaltMatcher v1 with random weights: the same compute cost as the demo model."""
    from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1

    torch.manual_seed(0)
    path = root / "gm_v1_random.pt"
    torch.save(GestaltMatcherV1(num_classes=12).eval().state_dict(), path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=6, help="how many images to explain one after another")
    p.add_argument("--methods", default="integrated_gradients,occlusion")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the app's choice)")
    p.add_argument("--model", default=None, help="checkpoint (default: bundled demo, else random GM v1)")
    p.add_argument("--tick-ms", type=int, default=5)
    p.add_argument("--switch-ms", type=float, default=None, help="sys.setswitchinterval (default: unchanged)")
    p.add_argument("--baseline-s", type=int, default=5, help="idle seconds measured before the work")
    p.add_argument("--no-hover", action="store_true", help="do not move the crosshair on every tick")
    p.add_argument("--trace", action="store_true", help="name the GUI events closest to each gap over 30 ms")
    p.add_argument("--flip", type=int, default=0, metavar="N",
                   help="hold-N/P scenario: N rapid image switches (e.g. 300) instead of explaining images")
    p.add_argument("--flip-ms", type=float, default=33.0, help="interval between switches (key repeat)")
    args = p.parse_args(argv)

    from PySide6.QtCore import QPointF, QTimer
    from PySide6.QtWidgets import QApplication

    from gmxai_desktop.core.demo import demo_model_paths
    from gmxai_desktop.gui.controller import ModelRequest
    from gmxai_desktop.gui.main_window import MainWindow
    from gmxai_desktop.gui.qtenv import limit_torch_threads

    if args.switch_ms is not None:
        sys.setswitchinterval(args.switch_ms / 1000.0)
    threads = limit_torch_threads() if args.threads is None else args.threads
    torch.set_num_threads(threads)
    tmp = Path(tempfile.mkdtemp(prefix="gmxai-bench-ui-"))
    os.environ["GMXAI_CONFIG_DIR"] = str(tmp / "config")
    folder = synthetic_folder(args.images, tmp)
    if args.model:
        model = args.model
    else:
        demo_ckpt, _ = demo_model_paths("demo")
        model = "demo" if demo_ckpt.is_file() else str(random_model(tmp))

    app = QApplication.instance() or QApplication([])
    win = MainWindow()
    win.resize(1500, 900)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    win.controller.set_methods(methods)
    win._sync_controls()
    win.show()

    done = {"n": 0, "t": time.perf_counter()}
    per_image: list[float] = []
    gaps: list[float] = []
    last = {"t": time.perf_counter(), "active": False}
    hover = {"i": 0}

    events: list[tuple[float, str]] = []
    big: list[tuple[float, float]] = []
    if args.trace:
        c = win.controller
        c.prepared.connect(lambda *_: events.append((time.perf_counter(), "face prepared")))
        c.panel_result.connect(lambda pid, _r: events.append((time.perf_counter(), f"result {pid}")))
        c.image_changed.connect(lambda *_: events.append((time.perf_counter(), "image changed")))
        c.panel_progress.connect(lambda pid, *_: events.append((time.perf_counter(), f"progress {pid}")))
        c.image_status.connect(lambda *_: events.append((time.perf_counter(), "thumbnail status")))

    def tick() -> None:
        now = time.perf_counter()
        if last["active"]:
            gaps.append((now - last["t"]) * 1000.0)
            if gaps[-1] > 30:
                big.append((now, gaps[-1]))
        last["t"] = now
        # keep the GUI busy the way a user does: the crosshair follows the mouse over a panel
        face = win.grid.face_panel
        if face.grid_size is not None and not args.no_hover:
            hover["i"] = (hover["i"] + 1) % 97
            face._on_mouse(face.view_box.mapViewToScene(QPointF(1.5 + hover["i"], 50.5)))

    def on_shown() -> None:
        now = time.perf_counter()
        per_image.append(now - done["t"])
        done["n"] += 1
        if done["n"] >= args.images:
            app.quit()
            return
        done["t"] = time.perf_counter()
        QTimer.singleShot(0, lambda: win.browser.step(1))

    if not args.flip:
        win.all_results_shown.connect(on_shown)
    timer = QTimer()
    timer.setInterval(args.tick_ms)
    timer.timeout.connect(tick)
    timer.start()

    baseline: list[float] = []

    flips = {"n": 0, "dir": 1, "t0": 0.0, "t1": 0.0}
    flip_timer = QTimer()
    flip_timer.setInterval(max(1, round(args.flip_ms)))

    def flip() -> None:
        """One key repeat of N (or P on the way back): what holding the key does."""
        rows = win.browser.proxy.rowCount()
        cur = win.browser.view.currentIndex().row()
        if (flips["dir"] > 0 and cur >= rows - 1) or (flips["dir"] < 0 and cur <= 0):
            flips["dir"] = -flips["dir"]
        win.browser.step(flips["dir"])
        flips["n"] += 1
        if flips["n"] >= args.flip:
            flip_timer.stop()
            flips["t1"] = time.perf_counter()
            QTimer.singleShot(1000, app.quit)  # and one second of settling after the key is let go

    flip_timer.timeout.connect(flip)

    def start_flipping(paths: list, _labels: dict) -> None:
        if args.flip and paths and not flip_timer.isActive() and not flips["n"]:
            flips["t0"] = time.perf_counter()
            flip_timer.start()

    win.controller.folder_loaded.connect(start_flipping)

    def start() -> None:
        baseline.extend(gaps)  # ticks while idle: the machine's own scheduling noise
        gaps.clear()
        last["active"] = True
        last["t"] = time.perf_counter()
        done["t"] = time.perf_counter()
        win.open_folder(folder)

    def on_model(role: str, _adapter: object) -> None:
        if role == "primary":  # first measure an idle baseline, then start the work
            last["active"] = True
            QTimer.singleShot(args.baseline_s * 1000, start)

    win.controller.model_loaded.connect(on_model)
    win.controller.open_model(ModelRequest(model))
    QTimer.singleShot(1_800_000, app.quit)
    app.exec()
    timer.stop()
    win.close()

    g = np.array(gaps) if gaps else np.zeros(1)
    b = np.array(baseline) if baseline else np.zeros(1)
    device = win.device_label.text()
    print(f"bench_ui: {done['n']} images, methods {', '.join(methods)}, {device}, torch threads {threads}, "
          f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms")
    if args.flip:
        took = flips["t1"] - flips["t0"]
        print(f"  hold N/P: {flips['n']} switches over {args.images} images in {took:.1f} s "
              f"({flips['n'] / max(took, 1e-9):.0f} per s; key repeat {1000 / args.flip_ms:.0f} per s)")
    if per_image:
        print(f"  compute per image: median {np.median(per_image):.2f} s, max {max(per_image):.2f} s")
    print(f"  GUI tick gaps ({args.tick_ms} ms timer, {len(gaps)} ticks): max {g.max():.1f} ms, "
          f"p99 {np.percentile(g, 99):.1f} ms, median {np.median(g):.1f} ms")
    print(f"  idle baseline ({len(baseline)} ticks, nothing computing): max {b.max():.1f} ms, "
          f"p99 {np.percentile(b, 99):.1f} ms, median {np.median(b):.1f} ms")
    for t_end, gap in big if args.trace else []:
        t_start = t_end - gap / 1000.0
        near = [name for t, name in events if t_start - 0.01 <= t <= t_end + 0.001]
        print(f"    gap {gap:6.1f} ms; GUI events in it: {', '.join(dict.fromkeys(near)) or 'none'}")
    over = int((g > 50).sum())
    print(f"  gaps over 50 ms: {over} -> {'OK' if g.max() <= 50 else 'STALLS'} (target: none over 50 ms)")
    if args.flip:
        return 0 if flips["n"] >= args.flip else 1
    return 0 if done["n"] >= args.images else 1


if __name__ == "__main__":
    sys.exit(main())
