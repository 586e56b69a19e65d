"""``gmxai demo-data``: generate synthetic phenotype faces with labels and ground-truth masks."""

from __future__ import annotations

import argparse
import sys

from ..core.demo.classes import IMBALANCE_HELP
from .common import add_subcommand

HELP = "generate synthetic phenotype faces (labels and ground-truth masks)"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..core.demo.classes import DEMO_CLASSES

    classes = "; ".join(
        f"{c.name} ({', '.join(h for h, _ in c.hpo)})" if c.hpo else c.name for c in DEMO_CLASSES
    )
    p = add_subcommand(
        sub, "demo-data", run, HELP,
        "Draw frontal cartoon faces, pre-aligned to the ArcFace 112x112 template, for "
        f"the classes: {classes}. Writes DIR/images/<class>/*.png, DIR/labels.csv (image,label), "
        "DIR/masks/<image stem>.png (where the face differs from the same person unaffected; "
        "empty for 'unaffected') and DIR/dataset.json. The same seed always gives byte-identical "
        "files, and a face depends only on (seed, class, index).",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--per-class", type=int, default=20, metavar="N",
                   help="faces per class; with --imbalance zipf the size of the largest class (default 20)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--imbalance", metavar="SPEC", default="none", help=IMBALANCE_HELP)
    p.add_argument("--overwrite", action="store_true",
                   help="write into a folder that already holds a data set")


def run(args: argparse.Namespace) -> int:
    from ..core.base.jobs import JobControl
    from ..core.demo.dataset import class_counts, write_dataset

    counts = class_counts(args.per_class, args.imbalance)
    job = JobControl()
    if sys.stderr.isatty():
        def show(fraction: float, message: str) -> None:
            print(f"\r{fraction * 100:5.1f}%  {message[:60]:<60}", end="", file=sys.stderr, flush=True)

        job = JobControl(on_progress=show, min_interval_s=0.2)
    info = write_dataset(args.out, counts, args.seed, overwrite=args.overwrite, job=job)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    total = sum(counts.values())
    print(f"wrote {total} faces (seed {args.seed}) to {args.out}: "
          + ", ".join(f"{k} {v}" for k, v in info.counts.items()))
    return 0
