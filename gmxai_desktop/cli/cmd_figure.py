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
from .common import (
    add_align_option,
    add_method_options,
    add_model_options,
    image_paths_from_args,
    load_model_from_args,
    methods_and_params,
)
from .runner import RunSummary, run_images


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "figure",
        help="export a publication figure of attribution maps",
        description="Export a figure: the aligned face the model sees, then one overlay per method, with "
        "colour bars in raw map units and, with --annotations, the annotated regions outlined. IMAGE may "
        "be a folder: then --out is a folder and every image gets the same layout. File names, paths and "
        "EXIF never go into the figure unless --include-filename.",
    )
    add_model_options(p)
    add_align_option(p)
    add_method_options(p)
    p.add_argument(
        "--annotations",
        metavar="FILE_OR_DIR",
        help="gmxai annotation file, or a folder of them; matched to images by content hash",
    )
    p.add_argument(
        "--region-metrics",
        metavar="CSV",
        help="also write the region × method table (attribution mass inside each annotated "
        "region, pointing game) for all images to this CSV file",
    )
    g = p.add_argument_group("appearance")
    g.add_argument(
        "--sign",
        choices=("auto", "signed", "positive", "negative", "absolute"),
        default="auto",
        help="which part of each map to show; auto: signed for maps with negative values, "
        "otherwise positive (default)",
    )
    g.add_argument("--cmap", help="matplotlib colour map (default: RdBu_r for signed, inferno otherwise)")
    g.add_argument(
        "--clip-percentile",
        type=float,
        default=99.5,
        metavar="P",
        help="the colour scale saturates at this percentile of the shown values (default 99.5)",
    )
    g.add_argument(
        "--shared-scale",
        action="store_true",
        help="one colour scale for all maps with the same sign mode in a figure",
    )
    g.add_argument("--alpha", type=float, default=0.5, help="overlay opacity 0..1 (default 0.5)")
    g.add_argument(
        "--fade-weak",
        action="store_true",
        help="overlay opacity grows with attribution strength, so the face shows where the map is weak",
    )
    g.add_argument("--maps-only", action="store_true", help="draw maps without the face underneath")
    g.add_argument(
        "--original-panel",
        action="store_true",
        help="add a first panel with the whole photo as loaded (before alignment), annotations outlined",
    )
    g.add_argument("--no-input-panel", action="store_true", help="leave out the panel with the model input")
    g.add_argument("--cols", type=int, default=None, help="panels per row (default: all in one row, up to 6)")
    g.add_argument(
        "--panel-width", type=float, default=1.7, metavar="INCHES", help="panel width (default 1.7)"
    )
    g.add_argument("--font-size", type=float, default=8.0, metavar="PT", help="base font size (default 8)")
    g.add_argument(
        "--title", default=None, help="figure title (default: the explained class and its probability)"
    )
    g.add_argument("--no-labels", action="store_true", help="outline annotated regions without their labels")
    o = p.add_argument_group("output")
    o.add_argument(
        "--dpi", type=int, default=300, help="resolution for PNG and embedded rasters (default 300)"
    )
    o.add_argument(
        "--format",
        choices=("pdf", "svg", "png"),
        help="output format for a folder (default pdf); for one image the --out extension decides",
    )
    o.add_argument(
        "--include-filename",
        action="store_true",
        help="put the image's file name in the figure title (off by default: patient privacy)",
    )
    o.add_argument(
        "--numbered",
        action="store_true",
        help="folder export: name figures figure-0001.pdf ... instead of after the images",
    )
    o.add_argument(
        "--out",
        required=True,
        metavar="FILE_OR_DIR",
        help="output file (.pdf, .svg or .png) for one image, or a folder for a folder",
    )
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.set_defaults(func=run)


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


def build_spec(
    args: argparse.Namespace,
    prep: Any,
    results: list,
    adapter: Any,
    annotation_doc: Any,
    file_name: str | None,
) -> Any:
    """The figure for one image: input panel + one overlay per (target, method)."""
    from ..core.annotations import Alignment
    from ..core.attribution.methods import get_method
    from ..core.output.figure import FigureSpec, PanelSpec, annotation_shapes

    shapes: list = []
    photo_shapes: list = []
    if annotation_doc is not None:
        annotation_doc.set_alignment(Alignment.from_face(prep.face, prep.original.shape, adapter.template))
        shapes = annotation_shapes(annotation_doc, "aligned")
        photo_shapes = annotation_shapes(annotation_doc, "original")
    targets = list(dict.fromkeys(r.target for r in results))
    multi = len(targets) > 1
    panels = []
    if args.original_panel:
        panels.append(
            PanelSpec(
                kind="image", image=_thumbnail(prep.original, args), title="Photo", annotations=photo_shapes
            )
        )
    # One row per explained class for top:K: the face (titled with the class) then its maps.
    for t in targets:
        row = [r for r in results if r.target == t]
        head = f"{row[0].target_name} (p = {row[0].probability:.2f})"
        if not args.no_input_panel:
            title = head if multi else "Model input"
            panels.append(PanelSpec(kind="image", image=prep.display, title=title, annotations=shapes))
        for r in row:
            sign = args.sign if args.sign != "auto" else ("signed" if float(r.map.min()) < 0 else "positive")
            label = get_method(r.method).label
            panels.append(
                PanelSpec(
                    kind="overlay",
                    image=None if args.maps_only else prep.display,
                    map=r.map,
                    title=f"{label}\n{head}" if multi and args.no_input_panel else label,
                    sign=sign,
                    cmap=args.cmap,
                    alpha=args.alpha,
                    clip_percentile=args.clip_percentile,
                    annotations=shapes,
                    magnitude_alpha=args.fade_weak,
                )
            )
    if args.title is not None:
        title = args.title
    elif multi:
        title = "Top classes: " + ", ".join(f"{adapter.class_name(t)}" for t in targets)
    else:
        title = f"{results[0].target_name} (p = {results[0].probability:.2f})"
    if file_name:
        title = f"{file_name} — {title}" if title else file_name
    scale = "one shared colour scale per sign mode" if args.shared_scale else "colour scale per panel"
    footnote = (
        f"{adapter.arch}; face: {prep.status}; {scale}, saturating at the {args.clip_percentile:g}th "
        "percentile; values in raw attribution units"
    )
    per_row = (len(panels) - args.original_panel) // len(targets)
    cols = args.cols or (per_row if multi else min(6, len(panels)))
    return FigureSpec(
        panels=panels,
        cols=cols,
        title=title,
        footnote=footnote,
        panel_width_in=args.panel_width,
        font_size=args.font_size,
        dpi=args.dpi,
        shared_scale=args.shared_scale,
        annotation_labels=not args.no_labels,
    )


def _thumbnail(rgb: Any, args: argparse.Namespace) -> Any:
    """Shrink a large photo to twice the panel's pixel width: enough for print, and a 12-megapixel
    photo does not bloat the PDF."""
    import cv2

    limit = max(64, int(2 * args.panel_width * args.dpi))
    h, w = rgb.shape[:2]
    scale = limit / max(h, w)
    if scale >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _load_annotations(spec: str | None, image_ref: Any, batch: bool) -> Any:
    from ..core.annotations import AnnotationError, find_for_image, load_document

    if not spec:
        return None
    path = Path(spec)
    if path.is_dir():
        return find_for_image(image_ref, [path])
    doc = load_document(path)
    if doc.image.matches(image_ref):
        return doc
    if batch:
        return None  # this file belongs to another image of the folder
    raise AnnotationError(f"{path.name} annotates a different image (the content hashes differ)")


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.region_metrics import compute_region_metrics, export_metrics_csv
    from ..core.annotations import ImageRef
    from ..core.attribution.engine import explain
    from ..core.attribution.methods import get_method
    from ..core.inputs.pipeline import prepare_file
    from ..core.output.figure import figure_format, save_figure

    _check_args(args)
    methods, params = methods_and_params(args)
    for m in methods:
        get_method(m).resolve_params(params.get(m))  # fail fast, before loading the model
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

    summary = RunSummary()
    metric_rows: list = []
    used: set[str] = set()
    annotated = [0]

    def one(path: Path) -> Path:
        prep = prepare_file(adapter, path, align=args.align)
        doc = None
        if args.annotations:
            doc = _load_annotations(
                args.annotations, ImageRef.from_file(path, prep.original, keep_name=False), batch
            )
            annotated[0] += doc is not None
        results = explain(adapter, prep.x, methods, target=args.target, params=params)
        spec = build_spec(args, prep, results, adapter, doc, path.name if args.include_filename else None)
        if doc is not None and args.region_metrics:
            metric_rows.extend(compute_region_metrics(doc, results))
        if batch:
            stem = f"figure-{len(used) + 1:04d}" if args.numbered else path.stem
            candidate, n = stem, 2
            while candidate in used:
                candidate, n = f"{stem}-{n}", n + 1
            used.add(candidate)
            target = out / f"{candidate}.{fmt}"
        else:
            target = out
        save_figure(spec, target, fmt=fmt)
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
