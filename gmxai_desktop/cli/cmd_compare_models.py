"""``gmxai compare-models``: per-class agreement of two models' syndrome-wise maps (class-imbalance study)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import (
    add_align_option,
    add_method_options,
    add_model_options,
    checked_methods,
    labelled_folder_from_args,
    load_model_from_args,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare-models",
        help="do two models explain each syndrome alike? agreement per class vs class size",
        description="Compute the syndrome-wise mean maps of model A (--model) and model B (--model-b) "
        "on the same labelled images and compare them class by class. Writes OUT/agreement.csv "
        "(class, method, train_images_a, train_images_b [from each model's JSON, empty when unknown], "
        "test_images, spearman [rank correlation of the two mean maps, average ranks for ties], "
        "top10_overlap [share of A's top 10 %% pixels also in B's top 10 %%, a fraction], top1_a, "
        "top1_b [per-class accuracy on these images]), OUT/<class>/<method>_a.npy and _b.npy (the "
        "mean raw maps compared) and OUT/agreement.png (agreement against model B's training-set "
        "size, log x, one series per method). Progress goes to stderr. Ctrl+C stops without "
        "writing any output file; per-image results stay in the cache and the same command resumes.",
    )
    add_model_options(p)
    p.add_argument("--model-b", required=True, metavar="CKPT",
                   help="the second model: a checkpoint file or 'demo' / 'demo-imbalanced'")
    p.add_argument("--classes-b", metavar="FILE", help="class names of --model-b (like --classes)")
    add_align_option(p)
    p.add_argument("--images", required=True, metavar="DIR", help="folder of labelled face images")
    p.add_argument("--labels", metavar="CSV",
                   help="CSV with columns image,label (default: each image's subfolder name is its label)")
    add_method_options(p, required=True, labelled=True,
                       methods_help="comma-separated attribution methods to compare, or 'all'")
    p.add_argument("--cache", metavar="DIR",
                   help="per-image results (aligned faces, logits, maps) for resuming (default: "
                   "OUT/.cache). It holds patient-derived data: choose its place accordingly")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run)


def _progress() -> Any:
    """Progress on stderr: one updating line on a terminal, a line every few seconds in a log."""
    from ..core.base.jobs import JobControl

    tty = sys.stderr.isatty()

    def show(fraction: float, message: str) -> None:
        if tty:
            print(f"\r{fraction * 100:5.1f}%  {message[:70]:<70}", end="", file=sys.stderr, flush=True)
        else:
            print(f"{fraction * 100:5.1f}%  {message}", file=sys.stderr, flush=True)

    return JobControl(on_progress=show, min_interval_s=0.2 if tty else 5.0)


def _without_interrupts(write: Callable[[], Any]) -> Any:
    """Run ``write`` with Ctrl+C held back until it returns (moving files into place takes
    milliseconds; an interrupt in the middle would leave new and old results mixed)."""
    try:
        previous = signal.getsignal(signal.SIGINT)
        pending: list[int] = []
        signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    except ValueError:  # not the main thread: no signals to hold back
        return write()
    try:
        out = write()
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt
    return out


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.model_comparison import compare_models, write_comparison
    from ..core.models import load_model

    methods, params = checked_methods(args)
    _images_dir, labels = labelled_folder_from_args(args)
    out_dir = Path(args.out)
    cache = Path(args.cache) if args.cache else out_dir / ".cache"
    model_a = load_model_from_args(args)
    model_b = load_model(args.model_b, classes=args.classes_b, device=args.device,
                         trust_pickle=args.trust_pickle)
    job = _progress()
    try:
        result = compare_models(model_a, model_b, labels, methods, cache_dir=cache, target=args.target,
                                params=params, align=args.align, job=job)
    except KeyboardInterrupt:
        print(f"\ngmxai compare-models: no output written; finished images are cached in {cache}: "
              "run the same command again to resume", file=sys.stderr)
        raise
    if sys.stderr.isatty():
        print(file=sys.stderr)
    title = f"A: {Path(args.model).name}   B: {Path(args.model_b).name}   ({args.target} class maps)"
    _without_interrupts(lambda: write_comparison(result, out_dir, title))
    for path, reason in result.skipped:
        print(f"gmxai compare-models: skipped {path.name}: {reason}", file=sys.stderr)
    print(f"{'class':30s} {'method':22s} {'n_B':>5s} {'rho':>7s} {'top10':>6s} {'acc_A':>6s} {'acc_B':>6s}")
    for r in result.rows:
        cells = r.csv_cells()
        print(f"{r.class_name:30s} {r.method:22s} {cells[3]:>5s} {r.spearman:7.3f} {r.top10_overlap:6.2f} "
              f"{cells[7][:5]:>6s} {cells[8][:5]:>6s}")
    print(f"gmxai compare-models: {len(result.classes)} classes x {len(methods)} methods; "
          f"results in {out_dir}")
    return 1 if result.skipped else 0
