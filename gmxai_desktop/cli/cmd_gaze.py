"""``gmxai gaze``: how well each attribution method predicts where observers looked."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .common import (
    add_subcommand,
    image_paths_from_args,
    load_model_from_args,
    methods_and_params,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(
        sub,
        "gaze",
        run,
        "compare attribution maps with eye-tracking fixations",
        "Map each fixation through the image's own transform (EXIF orientation, face "
        "alignment, resize) onto the model grid and score every method's map against it with the "
        "MIT saliency benchmark metrics (docs/gaze_metrics.md). Writes DIR/<image-stem>/<method>.npy, "
        "DIR/<image-stem>/fixations.csv (observer,x,y,duration_ms on the model grid), "
        "DIR/<image-stem>/fixation_density.npy, DIR/metrics.csv (per image x method x observer, "
        "observer 'all' pooled, plus the human leave-one-out ceiling and the centre-bias floor) and "
        "DIR/summary.png.",
        model=True,
        align=True,
        methods=True,
        inputs=True,
    )
    g = p.add_argument_group("fixations")
    g.add_argument("--fixations", required=True, metavar="CSV",
                   help="fixation file: CSV image,observer,x,y[,duration_ms,t_ms] in photo pixels, a "
                   "Tobii Pro Lab data export (.tsv) or an EyeLink fixation report")
    g.add_argument("--fixation-format", choices=("auto", "csv", "tobii", "eyelink"), default="auto",
                   help="file format (default: recognised from the header)")
    g.add_argument("--fixation-columns", metavar="FIELD=COLUMN,...", default="",
                   help="override the column mapping, e.g. image=stimulus,observer=subject")
    g.add_argument("--stimulus-origin", metavar="X,Y", default="0,0",
                   help="screen position of the photo's top-left corner, for tracker exports in screen "
                   "pixels (default 0,0)")
    g.add_argument("--stimulus-scale", type=float, default=1.0, metavar="S",
                   help="screen pixels per photo pixel as the photo was shown (default 1)")
    g.add_argument("--fixation-frame", choices=("stored", "oriented"), default="stored",
                   help="stored: coordinates in the photo's pixels as stored in the file, EXIF "
                   "orientation applied here like for the image (default); oriented: already upright")
    d = p.add_argument_group("density and metrics")
    d.add_argument("--sigma", default="4", metavar="S",
                   help="Gaussian σ of the fixation density: model-grid pixels (e.g. 4, the default) or "
                   "degrees of visual angle (e.g. 1deg, see --screen-distance-cm)")
    d.add_argument("--screen-distance-cm", type=float, default=60.0, help="viewing distance (default 60)")
    d.add_argument("--pixel-pitch-mm", type=float, default=0.25, help="screen pixel size (default 0.25)")
    d.add_argument("--display-scale", type=float, default=1.0,
                   help="screen pixels per photo pixel, for σ in degrees (default 1)")
    d.add_argument("--sign", choices=("positive", "abs"), default="positive",
                   help="compare the maps' positive part (default) or their absolute value")
    d.add_argument("--top-percent", type=float, default=10.0, metavar="Q",
                   help="IoU of the top Q %% of the map and of the density (default 10)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")


def _pair(text: str, what: str) -> tuple[float, float]:
    from ..core.base.errors import ParameterError

    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise ParameterError(f"{what} {text!r}: expected two numbers X,Y") from None
    return a, b


def _finite(v: float) -> float | None:
    """JSON has no NaN: an undefined metric (e.g. sAUC with one image) becomes null."""
    return v if math.isfinite(v) else None


def _columns(text: str) -> dict[str, str]:
    from ..core.base.errors import ParameterError

    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, col = item.partition("=")
        if not sep or not key.strip() or not col.strip():
            raise ParameterError(f"--fixation-columns {item!r}: expected FIELD=COLUMN")
        out[key.strip()] = col.strip()
    return out


def run(args: argparse.Namespace) -> int:
    from ..core.base.atomic import atomic_write_text
    from ..core.gaze.density import parse_sigma
    from ..core.gaze.fixations import format_fixations_csv, match_images, read_fixations
    from ..core.gaze.metrics import METRIC_NAMES
    from ..core.gaze.run import GazeOptions, StudyImage, run_study
    from ..core.gaze.study import format_metrics_csv, markdown_table, summarise
    from ..core.gaze.summary_plot import save_summary_png
    from .cmd_explain import unique_stem

    methods, params = methods_and_params(args)
    if args.target.startswith("top:"):
        from ..core.base.errors import ParameterError

        raise ParameterError("--target top:K is not supported by gaze: fixations are compared with one map "
                             "per method")
    sigma = parse_sigma(args.sigma, args.screen_distance_cm, args.pixel_pitch_mm, args.display_scale)
    opts = GazeOptions(sigma=sigma, sign=args.sign, frame=args.fixation_frame, top_percent=args.top_percent,
                       align=args.align, target=args.target)
    table = read_fixations(args.fixations, args.fixation_format, _columns(args.fixation_columns),
                           _pair(args.stimulus_origin, "--stimulus-origin"), args.stimulus_scale)
    paths = image_paths_from_args(args.inputs)
    roots = [Path(p) for p in args.inputs if Path(p).is_dir()]
    matched = match_images(table, paths, roots[0] if len(roots) == 1 else None)
    adapter = load_model_from_args(args)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()

    def write(img: StudyImage) -> None:
        d = out_dir / unique_stem(img.path.stem, used)
        d.mkdir(parents=True, exist_ok=True)
        for m, arr in img.maps.items():
            np.save(d / f"{m}.npy", arr)
        np.save(d / "fixation_density.npy", img.gaze.density().astype(np.float32))
        atomic_write_text(d / "fixations.csv",
                          format_fixations_csv(img.gaze.observer, img.gaze.points, img.gaze.duration_ms))
        if img.gaze.n_outside:
            print(f"gmxai gaze: {img.path.name}: {img.gaze.n_outside} of {len(img.gaze.points)} "
                  "fixations fall outside the face crop (kept in fixations.csv, not scored)", file=sys.stderr)

    result = run_study(adapter, matched, table, methods, params, opts, on_image=write)
    atomic_write_text(out_dir / "metrics.csv", format_metrics_csv(result.rows))
    summary = summarise(result.rows)
    if result.images:
        save_summary_png(summary, out_dir / "summary.png")
    for path, reason in result.failed:
        print(f"gmxai gaze: {path.name}: {reason}", file=sys.stderr)
    unused = len(paths) - len(matched)
    info = {
        "images": len(result.images), "failed": len(result.failed), "images_without_fixations": unused,
        "fixations": result.n_fixations, "outside_crop": result.n_outside, "sigma": sigma.describe(),
        "sign": args.sign, "methods": methods,
        "summary": {m: {k: _finite(summary.mean[m][k]) for k in METRIC_NAMES} for m in summary.methods},
    }
    if args.json:
        print(json.dumps(info, indent=1, allow_nan=False))
    else:
        print(markdown_table(summary))
        print(f"gmxai gaze: {len(result.images)} images, {result.n_fixations} fixations "
              f"({result.n_outside} outside the face crop), {sigma.describe()}; "
              f"{unused} images without fixations; results in {out_dir}")
    return 1 if result.failed else 0
