"""``gmxai composite``: composite faces and syndrome-wise mean maps for a labelled folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.base.jobs import JobControl
from .common import (
    add_method_options,
    add_subcommand,
    checked_methods,
    labelled_folder_from_args,
    load_model_from_args,
)

HELP = "composite faces and syndrome-wise attribution maps"
DESCRIPTION = """\
For each syndrome, average the aligned faces (mean, or exact median) and the raw attribution maps of
its images. Writes OUT/<class>/face.png, OUT/<class>/<method>.npy (the mean raw float32 map at model
input resolution), the same over all images under OUT/_all/ (the generic face and maps),
OUT/counts.json ({class: images used}) and OUT/manifest.json (settings, class -> folder, skipped and
excluded images). Class folder names are the class names with characters unsafe in file names
replaced by '_'. Labels come from subfolder names or --labels. With --cache a cancelled run resumes
where it stopped. Exit status 1 when some images could not be used (listed on stderr and in
manifest.json).
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(sub, "composite", run, HELP, DESCRIPTION, model=True, align=True)
    p.add_argument("--images", required=True, metavar="DIR", help="folder of face images")
    p.add_argument(
        "--labels",
        metavar="CSV",
        help="CSV with columns image,label (default: each image's subfolder name is its label)",
    )
    add_method_options(
        p, required=False, labelled=True,
        methods_help="comma-separated attribution methods, or 'all' (default: composite faces only)",
    )
    p.add_argument("--only-correct", action="store_true", help="use only correctly classified images")
    p.add_argument(
        "--statistic",
        choices=("mean", "median"),
        default="mean",
        help="how faces are combined (default: mean); the median is exact. Maps are always means",
    )
    p.add_argument(
        "--skip-unknown",
        action="store_true",
        help="leave out images whose label is not a class of the model, instead of stopping",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="keep per-image results (aligned faces, maps) here, so an interrupted or extended run "
        "only computes what is missing. It holds patient-derived data: choose its place accordingly",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")


def _progress_printer() -> JobControl:
    """A one-line progress display on an interactive terminal; silent otherwise (logs, pipes)."""
    if not sys.stderr.isatty():
        return JobControl()

    def show(fraction: float, message: str) -> None:
        print(f"\r{fraction * 100:5.1f}%  {message[:70]:<70}", end="", file=sys.stderr, flush=True)

    return JobControl(on_progress=show, min_interval_s=0.2)


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.composites import ALL, compute_composites
    from ..core.analysis.composites_io import save_composites

    methods, params = checked_methods(args)
    images_dir, labels = labelled_folder_from_args(args)
    adapter = load_model_from_args(args)
    job = _progress_printer()
    try:
        result = compute_composites(
            adapter,
            labels,
            methods,
            target=args.target,
            only_correct=args.only_correct,
            statistic=args.statistic,
            params=params,
            align=args.align,
            cache_dir=Path(args.cache) if args.cache else None,
            job=job,
            unknown_labels="skip" if args.skip_unknown else "error",
        )
    except KeyboardInterrupt:
        if job.on_progress is not None:
            print(file=sys.stderr)
        if args.cache:
            print(f"gmxai composite: finished images are cached in {args.cache}; run the same "
                  "command again to resume", file=sys.stderr)
        raise
    if job.on_progress is not None:
        print(file=sys.stderr)
    out_dir = Path(args.out)
    save_composites(result, out_dir, image_root=images_dir)

    for path, reason in result.skipped:
        print(f"gmxai composite: skipped {path.name}: {reason}", file=sys.stderr)
    if result.excluded:
        print(f"gmxai composite: {len(result.excluded)} image(s) excluded by the options "
              "(listed in manifest.json)", file=sys.stderr)
    used = [c for c in result.classes if result.counts.get(c)]
    print(
        f"gmxai composite: {result.counts.get(ALL, 0)} images in {len(used)} syndrome(s) "
        f"({result.computed} computed, {result.cached} from the cache, {len(result.skipped)} skipped, "
        f"{len(result.excluded)} excluded); results in {out_dir}"
    )
    return 1 if result.skipped else 0
