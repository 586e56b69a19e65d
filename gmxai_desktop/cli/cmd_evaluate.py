"""``gmxai evaluate``: accuracy, and whether the attribution maps fall on the ground-truth regions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    add_method_options,
    add_subcommand,
    checked_methods,
    load_model_from_args,
)

HELP = "accuracy and localisation (pointing game, relevance mass) on a labelled folder"
DESCRIPTION = """\
Report top-1 and top-5 accuracy over a labelled image folder. With --masks and --methods, also score
each attribution method against the ground-truth masks: the pointing game (share of images whose map
maximum lies in the mask; tied maxima must all lie inside) and the relevance mass (mean share of
positive attribution inside the mask). A uniform map scores the mean mask area on both: the chance
level shown under the table. Maps explain the true class unless --target predicted. Masks are <image
stem>.png at the image's resolution; images with an empty mask (unaffected) get no localisation
score.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(sub, "evaluate", run, HELP, DESCRIPTION, model=True, align=True)
    p.add_argument("--images", required=True, metavar="DIR", help="image folder")
    p.add_argument("--labels", metavar="CSV",
                   help="labels file with columns image,label (image relative to --images); default: "
                   "labels.csv in or beside --images, else the class subfolder names")
    p.add_argument("--masks", metavar="DIR", help="ground-truth masks, <image stem>.png")
    add_method_options(
        p, required=False, labelled=True,
        methods_help="comma-separated methods to score, or 'all' (see 'gmxai methods'); needs --masks",
    )
    p.add_argument("--mass", choices=("positive", "absolute"), default="positive",
                   help="relevance mass of positive attribution (default) or of its absolute value")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.evaluate import evaluate, format_report
    from ..core.base.errors import ParameterError
    from ..core.base.jobs import JobControl
    methods, params = checked_methods(args)
    if methods and not args.masks:
        raise ParameterError("--methods needs --masks (the ground truth to score the maps against)")
    images = Path(args.images)
    if not images.is_dir():
        raise ParameterError(f"--images {images}: not a folder")
    adapter = load_model_from_args(args)
    tty = sys.stderr.isatty()

    def show(fraction: float, message: str) -> None:
        print(f"\r{fraction * 100:5.1f}%  {message[:64]:<64}", end="", file=sys.stderr, flush=True)

    job = JobControl(on_progress=show if tty else None, min_interval_s=0.2)
    report = evaluate(adapter, images, args.labels, args.masks, methods, target=args.target,
                      align=args.align, params=params, mass_mode=args.mass, job=job)
    if tty:
        print("\r" + " " * 74 + "\r", end="", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), indent=1))
    else:
        print(format_report(report, markdown=args.markdown))
    for image, reason in report.skipped:
        print(f"gmxai evaluate: skipped {image}: {reason}", file=sys.stderr)
    return 1 if report.skipped else 0
