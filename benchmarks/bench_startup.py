"""Start-up latency of the two entry points, median of N fresh processes each.

    python benchmarks/bench_startup.py                 # 5 runs each
    python benchmarks/bench_startup.py --runs 3 --skip-gui
    python benchmarks/bench_startup.py --app dist/gmxai-desktop/gmxai-desktop --cli dist/gmxai-desktop/gmxai

Measured, from the moment the process is spawned:

* ``gmxai --help`` and ``gmxai-desktop --help`` until they exit (target < 0.5 s);
* ``gmxai-desktop --demo``: the first window on screen ("loading model…"), the main window, the
  first attribution map and all maps (targets 2 s and 5 s), read from the app's
  ``GMXAI_STARTUP_TRACE`` events; it runs with ``--screenshot`` so it exits by itself.

Peers in the same run, so a loaded machine reads as ratios: a bare ``python -c pass`` and
``python -c "import torch"`` (what every start would pay if torch were imported eagerly).
Runs under ``xvfb-run`` when there is no display and it is installed, else offscreen.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return dt


def _gui_env(tmp: Path) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, GMXAI_CONFIG_DIR=str(tmp / "config"))
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM"):
        return [], env
    xvfb = shutil.which("xvfb-run")
    if xvfb:
        return [xvfb, "-a", "-s", "-screen 0 1366x768x24"], env
    env["QT_QPA_PLATFORM"] = "offscreen"
    return [], env


def demo_launch(app: list[str], tmp: Path) -> dict[str, float]:
    """One ``--demo`` launch; seconds from spawn to each traced event."""
    prefix, env = _gui_env(tmp)
    trace = tmp / "trace.txt"
    trace.unlink(missing_ok=True)
    env["GMXAI_STARTUP_TRACE"] = str(trace)
    cmd = [*prefix, *app, "--demo", "--size", "1366x768", "--screenshot", str(tmp / "shot.png")]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"demo launch failed:\n{proc.stderr[-2000:]}")
    events: dict[str, float] = {}
    for line in trace.read_text().splitlines():
        name, stamp = line.split()
        events.setdefault(name, float(stamp) - t0)
    return events


def _median_line(
    label: str, values: list[float], target: float | None = None, ref: float | None = None
) -> str:
    med = statistics.median(values)
    extra = f"  target < {target:g} s: {'ok' if med < target else 'MISSED'}" if target else ""
    ratio = f"  ({med / ref:.2f}x python -c pass)" if ref else ""
    spread = f"[{min(values):.2f}-{max(values):.2f}]"
    return f"{label:<34} {med:7.3f} s  {spread:<14}{ratio}{extra}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--skip-gui", action="store_true", help="only the --help timings")
    p.add_argument("--app", help="gmxai-desktop executable (default: this checkout via python -m)")
    p.add_argument("--cli", help="gmxai executable (default: this checkout via python -m)")
    args = p.parse_args(argv)

    py = sys.executable
    app = [args.app] if args.app else [py, "-m", "gmxai_desktop.gui.app"]
    cli = [args.cli] if args.cli else [py, "-m", "gmxai_desktop.cli.main"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))

    rows: dict[str, list[float]] = {k: [] for k in ("pass", "torch", "cli", "app")}
    for _ in range(args.runs):
        rows["pass"].append(_timed([py, "-c", "pass"], env))
        rows["torch"].append(_timed([py, "-c", "import torch"], env))
        rows["cli"].append(_timed([*cli, "--help"], env))
        rows["app"].append(_timed([*app, "--help"], env))
    ref = statistics.median(rows["pass"])
    print(f"start-up, median of {args.runs} fresh processes [min-max]")
    print(_median_line("python -c pass (peer)", rows["pass"]))
    print(_median_line("python -c 'import torch' (peer)", rows["torch"], ref=ref))
    print(_median_line("gmxai --help", rows["cli"], 0.5, ref))
    print(_median_line("gmxai-desktop --help", rows["app"], 0.5, ref))
    if args.skip_gui:
        return 0

    launches: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="gmxai-bench-startup-") as d:
        for _ in range(args.runs):
            launches.append(demo_launch(app, Path(d)))
    for event, label, target in (
        ("startup-window", "gmxai-desktop --demo: first window", 2.0),
        ("main-window", "  main window", None),
        ("first-map", "  first map", 5.0),
        ("all-maps", "  all maps", None),
    ):
        values = [run[event] for run in launches if event in run]
        if values:
            print(_median_line(label, values, target))
    torch_s = statistics.median(rows["torch"])
    first = statistics.median(run.get("first-map", float("nan")) for run in launches)
    print(f"first map / import torch: {first / torch_s:.2f}x (torch's import is the floor of any first map)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
