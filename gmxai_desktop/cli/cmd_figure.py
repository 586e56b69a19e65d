"""``gmxai figure``: publication figures (PNG at any DPI, SVG, PDF) for one image or a folder.

The layout is one panel with the face the model sees, then one overlay per method (and per
target for ``--target top:K``), optionally with the clinician's annotation outlines. A folder gets
the same layout for every image. Nothing about the source file (name, path, EXIF) goes into a
figure unless ``--include-filename`` asks for the name in the title.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.base.errors import ParameterError
from ..core.output.figure_spec import AnnotationFinder, FigureOptions, batch_file_names, figure_for_file
from .common import (
    add_subcommand,
    checked_methods,
    image_paths_from_args,
    load_model_from_args,
)
from .runner import RunSummary, run_images

HELP = "export a publication figure of attribution maps"
DESCRIPTION = """\
Export a figure: the aligned face the model sees, then one overlay per method, with colour bars in
raw map units and, with --annotations, the annotated regions outlined. IMAGE may be a folder: then
--out is a folder and every image gets the same layout. File names, paths and EXIF never go into the
figure unless --include-filename.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_subcommand(
        sub, "figure", run, HELP, DESCRIPTION, model=True, align=True, methods=True, inputs=True
    )
    p.add_argument("--annotations", metavar="FILE_OR_DIR",
                   help="gmxai annotation file, or a folder of them; matched to images by content hash")
    p.add_argument("--region-metrics", metavar="CSV",
                   help="also write the region × method table (attribution mass inside each annotated "
                   "region, pointing game) for all images to this CSV file")
    g = p.add_argument_group("appearance")
    g.add_argument("--sign", choices=("auto", "signed", "positive", "negative", "absolute"), default="auto",
                   help="which part of each map to show; auto: signed for maps with negative values, "
                   "otherwise positive (default)")
    g.add_argument("--cmap", help="matplotlib colour map (default: RdBu_r for signed, inferno otherwise)")
    g.add_argument("--clip-percentile", type=float, default=99.5, metavar="P",
                   help="the colour scale saturates at this percentile of the shown values (default 99.5)")
    g.add_argument("--shared-scale", action="store_true",
                   help="one colour scale for all maps with the same sign mode in a figure")
    g.add_argument("--alpha", type=float, default=0.5, help="overlay opacity 0..1 (default 0.5)")
    g.add_argument("--fade-weak", action="store_true",
                   help="overlay opacity grows with attribution strength, so the face shows where the map "
                   "is weak")
    g.add_argument("--maps-only", action="store_true", help="draw maps without the face underneath")
    g.add_argument("--original-panel", action="store_true",
                   help="add a first panel with the whole photo as loaded (before alignment), annotations "
                   "outlined")
    g.add_argument("--no-input-panel", action="store_true", help="leave out the panel with the model input")
    g.add_argument("--cols", type=int, default=None, help="panels per row (default: all in one row, up to 6)")
    g.add_argument("--panel-width", type=float, default=1.7, metavar="INCHES",
                   help="panel width (default 1.7)")
    g.add_argument("--font-size", type=float, default=8.0, metavar="PT", help="base font size (default 8)")
    g.add_argument("--title", default=None,
                   help="figure title (default: the explained class and its probability)")
    g.add_argument("--no-labels", action="store_true", help="outline annotated regions without their labels")
    o = p.add_argument_group("output")
    o.add_argument("--dpi", type=int, default=300,
                   help="resolution for PNG and embedded rasters (default 300)")
    o.add_argument("--format", choices=("pdf", "svg", "png"),
                   help="output format for a folder (default pdf); for one image the --out extension decides")
    o.add_argument("--include-filename", action="store_true",
                   help="put the image's file name in the figure title (off by default: patient privacy)")
    o.add_argument("--numbered", action="store_true",
                   help="folder export: name figures figure-0001.pdf ... instead of after the images")
    o.add_argument("--out", required=True, metavar="FILE_OR_DIR",
                   help="output file (.pdf, .svg or .png) for one image, or a folder for a folder")


def _check_args(args: argparse.Namespace) -> None:
    if not 0.0 <= args.alpha <= 1.0:
        raise ParameterError(f"--alpha must be between 0 and 1, got {args.alpha}")
    if not 0.0 < args.clip_percentile <= 100.0:
        raise ParameterError(f"--clip-percentile must be in (0, 100], got {args.clip_percentile}")
    if args.cols is not None and args.cols < 1:
        raise ParameterError("--cols must be at least 1")
    if not 10 <= args.dpi <= 2400:
        raise ParameterError(f"--dpi must be between 10 and 2400, got {args.dpi}")


def _batch_mode(args: argparse.Namespace) -> bool:
    return len(args.inputs) > 1 or Path(args.inputs[0]).is_dir()


def figure_options(args: argparse.Namespace, methods: list[str], fmt: str) -> FigureOptions:
    """The command line's flags as the typed options the GUI's export dialog also fills in."""
    same = ("sign", "cmap", "alpha", "clip_percentile", "fade_weak", "shared_scale", "maps_only", "dpi")
    return FigureOptions(
        methods=methods,
        photo_panel=args.original_panel,
        input_panel=not args.no_input_panel,
        base="model",
        figure_title=args.title,
        annotation_labels=not args.no_labels,
        cols=args.cols or 0,
        panel_width_in=args.panel_width,
        font_size=args.font_size,
        fmt=fmt,
        include_file_name=args.include_filename,
        **{name: getattr(args, name) for name in same},
    )


def _annotation_finder(spec: str, batch: bool) -> AnnotationFinder:
    from ..core.annotations import AnnotationError, find_for_image, load_document

    path = Path(spec)
    if path.is_dir():
        return lambda _image, ref: find_for_image(ref, [path])
    doc = load_document(path)

    def find(_image: Path, ref: Any) -> Any:
        if doc.image.matches(ref):
            return doc
        if batch:
            return None  # this file belongs to another image of the folder
        raise AnnotationError(f"{path.name} annotates a different image (the content hashes differ)")

    return find


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.region_metrics import compute_region_metrics, export_metrics_csv
    from ..core.output.figure import figure_format, save_figure

    _check_args(args)
    methods, params = checked_methods(args)
    if args.annotations and not Path(args.annotations).exists():
        raise ParameterError(f"--annotations: {args.annotations} does not exist")
    batch = _batch_mode(args)
    out = Path(args.out)
    if batch:
        fmt = args.format or "pdf"
        if out.exists() and not out.is_dir():
            raise ParameterError("--out must be a folder when the input is a folder or several images")
        out.mkdir(parents=True, exist_ok=True)
    else:
        if not out.suffix and not args.format:
            raise ParameterError("--out needs an extension (.pdf, .svg or .png), or give --format")
        fmt = figure_format(out) if out.suffix else args.format
        if args.format and args.format != fmt:
            raise ParameterError(f"--format {args.format} disagrees with the extension of {out.name}")
    paths = image_paths_from_args(args.inputs)
    adapter = load_model_from_args(args)
    opts = figure_options(args, methods, fmt)
    finder = _annotation_finder(args.annotations, batch) if args.annotations else None
    names = iter(batch_file_names(paths, fmt, args.numbered))  # one per image, in order

    summary = RunSummary()
    metric_rows: list = []
    annotated = [0]

    def one(path: Path) -> Path:
        target = out / next(names) if batch else out
        fig = figure_for_file(
            adapter, path, opts, align=args.align, target=args.target, params=params, find_annotations=finder
        )
        annotated[0] += fig.doc is not None
        if fig.doc is not None and args.region_metrics:
            metric_rows.extend(compute_region_metrics(fig.doc, fig.results))
        save_figure(fig.spec, target, fmt=fmt)
        if args.numbered:
            print(f"{target.name} <- {path}")
        return target

    written = run_images(paths, one, summary)
    summary.print("figure")
    if args.region_metrics:
        export_metrics_csv(metric_rows, args.region_metrics)
    if args.annotations and annotated[0] == 0:
        print("gmxai figure: note: no annotation file matched the images", file=sys.stderr)
    total = len(summary.ok) + len(summary.failed)
    where = out if batch else (written[0] if written else out)
    print(f"gmxai figure: {len(written)} of {total} figures written to {where}")
    return summary.exit_code
