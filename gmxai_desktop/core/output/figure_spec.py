"""One image's publication figure: the layout ``gmxai figure`` and the GUI's export dialog share.

The layout is an optional photo panel, then for each explained class the face the model sees and
one overlay per method, then any extra panels (a difference, a composite...), with the
clinician's annotation outlines. :class:`FigureOptions` is everything a user decides (typed, so
the CLI maps its flags onto it and the GUI its widgets; neither fakes the other's arguments).
:func:`build_spec` turns options + one image's material (:class:`FigureInputs`) into a
:class:`~gmxai_desktop.core.output.figure.FigureSpec`; :func:`figure_for_file` is the whole
pipeline for one file of a batch (prepare, explain, find annotations, build).

Privacy: the file name goes into the title only with ``include_file_name``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .figure import FigureSpec, PanelSpec, annotation_shapes


@dataclass
class FigureOptions:
    """What the user chose; Qt-free and picklable-by-value so a batch job can carry it."""

    methods: list[str] = field(default_factory=list)
    photo_panel: bool = False
    input_panel: bool = True
    extras: list[str] = field(default_factory=list)  # keys of the ExtraPanels to include
    base: str = "face"  # "face": the aligned colour face under the maps; "model": the model input
    panel_titles: bool = True
    figure_title: str | None = None  # None: automatic (class and probability); "": none
    footnote: bool = True
    colorbars: bool = True
    annotations: bool = True
    annotation_labels: bool = True
    cols: int = 0  # 0: automatic
    panel_width_in: float = 1.7
    font_size: float = 8.0
    dpi: int = 300
    fmt: str = "pdf"
    include_file_name: bool = False
    sign: str = "signed"  # or "auto": signed for maps with negative values, otherwise positive
    cmap: str | None = None
    alpha: float = 0.5
    clip_percentile: float = 99.5
    fade_weak: bool = False
    shared_scale: bool = False
    maps_only: bool = False  # overlays without the face underneath


@dataclass
class ExtraPanel:
    """A panel beyond face and method overlays (a difference, a composite, a similarity map).

    ``space`` says where annotation outlines belong: "aligned" (the map grid of this image),
    "original" (the photo) or None (not this image's pixels: no outlines).
    """

    key: str
    label: str
    panel: PanelSpec
    space: str | None = "aligned"


PanelProvider = Callable[[], list[ExtraPanel]]
"""Called when the dialog opens or refreshes: the extra panels available for the current image."""


@dataclass
class FigureInputs:
    """One image's material for a figure."""

    results: list
    base_image: np.ndarray
    original: np.ndarray | None
    status: str
    adapter: Any
    doc: Any = None  # AnnotationDocument with the alignment of this model, or None
    file_name: str | None = None
    extras: list[ExtraPanel] = field(default_factory=list)


def face_view_for(face_rgb: np.ndarray, grid_hw: tuple[int, int], max_factor: int = 4) -> np.ndarray:
    """Resize the face onto the map grid's aspect, keeping up to ``max_factor`` x its detail."""
    import cv2

    h, w = grid_hw
    fh, fw = face_rgb.shape[:2]
    factor = int(max(1, min(max_factor, fh // max(h, 1), fw // max(w, 1))))
    size = (w * factor, h * factor)
    if (fw, fh) == size:
        return np.ascontiguousarray(face_rgb[:, :, :3])
    interp = cv2.INTER_AREA if fw > size[0] else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(face_rgb[:, :, :3]), size, interpolation=interp)


def thumbnail(rgb: np.ndarray, panel_width_in: float, dpi: int) -> np.ndarray:
    """Shrink a large photo to twice the panel's pixel width: enough for print, and a 12-megapixel
    photo does not bloat the PDF."""
    import cv2

    limit = max(64, int(2 * panel_width_in * dpi))
    h, w = rgb.shape[:2]
    scale = limit / max(h, w)
    if scale >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _with_file_name(title: str, file_name: str | None) -> str:
    if file_name:
        return f"{file_name} — {title}" if title else file_name
    return title


def _spec(
    opts: FigureOptions, panels: list, cols: int, title: str, footnote: str, **extra: Any
) -> FigureSpec:
    """A FigureSpec with the option fields every layout shares (0 cols: decided after extras)."""
    return FigureSpec(
        panels=panels, cols=cols, title=title, footnote=footnote, panel_width_in=opts.panel_width_in,
        font_size=opts.font_size, dpi=opts.dpi, **extra,
    )


def _map_panels(opts: FigureOptions, inputs: FigureInputs, results: list, photo: bool) -> FigureSpec:
    """Photo, then per explained class (one row each for ``top:K``) the face and its overlays."""
    from ..attribution.methods import get_method

    adapter = inputs.adapter
    targets = list(dict.fromkeys(r.target for r in results))
    multi = len(targets) > 1
    panels = []
    if photo:
        image = thumbnail(inputs.original, opts.panel_width_in, opts.dpi)
        panels.append(PanelSpec(kind="image", image=image, title="Photo"))
    for t in targets:
        row = [r for r in results if r.target == t]
        head = f"{row[0].target_name} (p = {row[0].probability:.2f})"
        if opts.input_panel:
            title = head if multi else ("Face" if opts.base == "face" else "Model input")
            panels.append(PanelSpec(kind="image", image=inputs.base_image, title=title))
        for r in row:
            sign = opts.sign if opts.sign != "auto" else ("signed" if float(r.map.min()) < 0 else "positive")
            label = get_method(r.method).label
            panels.append(
                PanelSpec(
                    kind="overlay",
                    image=None if opts.maps_only else inputs.base_image,
                    map=r.map,
                    title=f"{label}\n{head}" if multi and not opts.input_panel else label,
                    sign=sign,
                    cmap=opts.cmap,
                    alpha=opts.alpha,
                    clip_percentile=opts.clip_percentile,
                    magnitude_alpha=opts.fade_weak,
                )
            )
    if opts.figure_title is not None:
        title = opts.figure_title
    elif multi:
        title = "Top classes: " + ", ".join(f"{adapter.class_name(t)}" for t in targets)
    else:
        title = f"{results[0].target_name} (p = {results[0].probability:.2f})"
    scale = "one shared colour scale per sign mode" if opts.shared_scale else "colour scale per panel"
    footnote = (
        f"{adapter.arch}; face: {inputs.status}; {scale}, saturating at the {opts.clip_percentile:g}th "
        "percentile; values in raw attribution units"
    )
    per_row = (len(panels) - photo) // len(targets)
    cols = opts.cols or (per_row if multi else 0)
    return _spec(opts, panels, cols, title, footnote, shared_scale=opts.shared_scale)


def _face_panels(opts: FigureOptions, inputs: FigureInputs, photo: bool) -> FigureSpec:
    """Face (and photo) only: a figure of the annotations themselves."""
    panels = []
    if photo:
        panels.append(PanelSpec(kind="image", image=inputs.original, title="Photo"))
    if opts.input_panel:
        title = "Face" if opts.base == "face" else "Model input"
        panels.append(PanelSpec(kind="image", image=inputs.base_image, title=title))
    return _spec(opts, panels, opts.cols, opts.figure_title or "", f"face: {inputs.status}")


def build_spec(opts: FigureOptions, inputs: FigureInputs) -> FigureSpec:
    """The figure for one image with the chosen methods, panels, extras and annotations.

    ``inputs.doc`` must already carry the alignment of this image and model (outline positions
    on the aligned panels come from it)."""
    results = [r for r in inputs.results if r.method in opts.methods]
    photo = opts.photo_panel and inputs.original is not None
    spec = _map_panels(opts, inputs, results, photo) if results else _face_panels(opts, inputs, photo)
    panels = list(spec.panels)
    spaces: list[str | None] = ["original" if photo and i == 0 else "aligned" for i in range(len(panels))]
    chosen = [e for e in inputs.extras if e.key in opts.extras]
    panels += [e.panel for e in chosen]
    spaces += [e.space for e in chosen]
    doc = inputs.doc
    if opts.annotations and doc is not None and doc.alignment is not None and len(doc):
        shapes = {space: annotation_shapes(doc, space) for space in ("aligned", "original")}
        panels = [replace(p, annotations=shapes[s]) if s else p for p, s in zip(panels, spaces, strict=True)]
    else:
        panels = [replace(p, annotations=()) for p in panels]
    if not opts.panel_titles:
        panels = [replace(p, title="") for p in panels]
    if not opts.colorbars:
        panels = [replace(p, colorbar=False) for p in panels]
    return replace(
        spec,
        panels=panels,
        cols=max(1, spec.cols or min(6, len(panels))),
        title=_with_file_name(spec.title, inputs.file_name if opts.include_file_name else None),
        footnote=spec.footnote if opts.footnote else "",
        annotation_labels=opts.annotation_labels,
    )


def batch_file_names(paths: Sequence[Path], fmt: str, numbered: bool) -> list[str]:
    """Output names for a folder export: the images' stems made unique, or figure-0001...."""
    used: set[str] = set()
    out = []
    for i, path in enumerate(paths):
        stem = f"figure-{i + 1:04d}" if numbered else Path(path).stem
        candidate, n = stem, 2
        while candidate in used:
            candidate, n = f"{stem}-{n}", n + 1
        used.add(candidate)
        out.append(f"{candidate}.{fmt}")
    return out


AnnotationFinder = Callable[[Path, Any], Any]
"""(image path, ImageRef of the loaded file) -> its AnnotationDocument, or None."""


@dataclass
class ImageFigure:
    """One built figure and what went into it (region metrics need the maps and the document)."""

    spec: FigureSpec
    results: list
    doc: Any


def figure_for_file(
    adapter: Any,
    path: Path,
    opts: FigureOptions,
    *,
    align: str = "auto",
    target: Any = "predicted",
    params: dict[str, dict[str, Any]] | None = None,
    find_annotations: AnnotationFinder | None = None,
    job: Any = None,
) -> ImageFigure:
    """Prepare, explain, find the annotations and build one image's figure (a batch step)."""
    from ..annotations import Alignment, ImageRef
    from ..attribution.engine import explain
    from ..inputs.pipeline import prepare_file

    if job is not None:
        job.report(0.0, "preparing")
    prep = prepare_file(adapter, path, align=align)
    if job is not None:
        job.check()
    results = []
    if opts.methods:
        results = explain(adapter, prep.x, opts.methods, target=target, params=params, job=job)
    doc = None
    if find_annotations is not None:
        doc = find_annotations(path, ImageRef.from_file(path, prep.original, keep_name=False))
        if doc is not None:
            doc.set_alignment(Alignment.from_face(prep.face, prep.original.shape, adapter.template))
    base = prep.display
    if opts.base == "face":
        base = face_view_for(prep.face.image, prep.display.shape[:2])
    inputs = FigureInputs(results, base, prep.original, prep.status, adapter, doc, path.name)
    if job is not None:
        job.check()
    return ImageFigure(build_spec(opts, inputs), results, doc)
