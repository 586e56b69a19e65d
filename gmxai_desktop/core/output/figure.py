"""Publication figures: a grid of panels (faces, overlays, maps, differences, composites,
similarity maps) with titles, colour bars in raw map units and optional annotation outlines,
saved as PNG (any DPI), SVG or PDF.

Design:

* :class:`FigureSpec` (a list of :class:`PanelSpec`) describes the figure; :func:`render_figure`
  turns it into a ``matplotlib.figure.Figure`` on the Agg canvas; :func:`save_figure` writes it.
  The GUI's export dialog builds the same spec the CLI builds, and can preview with
  :func:`figure_to_rgb`. No pyplot anywhere: pyplot's global figure registry is not thread-safe
  and would leak figures in a long-running GUI.
* Panel pixels come from :mod:`gmxai_desktop.core.output.render`, so a figure shows exactly what the GUI
  shows. Images are embedded unresampled (``interpolation='none'``): vector outputs keep every map
  pixel, and viewers do not smooth them.
* Every piece of text uses one font family and a small set of sizes derived from
  ``font_size``. PDF fonts are embedded as TrueType (Type 42), which journals ask for; SVG text
  stays editable text.
* Privacy: matplotlib writes "Software", "Creator", "Producer" and a creation date by default;
  all are removed. Nothing else about the source images (names, paths, EXIF) reaches the file
  unless the caller puts it in a title.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..annotations import AnnotationDocument, Geometry, outlines
from ..base.atomic import atomic_write_bytes
from ..base.errors import ParameterError
from .render import (
    SIGNS,
    as_rgb,
    check_map,
    colorize,
    default_cmap,
    normalize_map,
    overlay,
    shared_scale,
)

FORMATS = ("png", "svg", "pdf")
PANEL_KINDS = ("image", "overlay", "map", "difference", "composite", "similarity")

_STRIP_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "svg": {"Creator": None, "Date": None, "Format": None, "Type": None},
}
_SAVE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "gmxai"}
_save_lock = threading.Lock()

ANNOTATION_COLORS = ("#00e5ff", "#ffd600", "#76ff03", "#ff4081", "#ff9100", "#e040fb")
"""Outline colours for regions without their own: bright, distinct from RdBu/inferno maps."""


@dataclass(frozen=True)
class AnnotationShape:
    """A region outline to draw on a panel: its shape, the size of the space it lives in
    (width, height; the panel's image is stretched over that space) and a label/colour."""

    geometry: Geometry
    space_size: tuple[float, float]
    label: str = ""
    color: str | None = None


def annotation_shapes(doc: AnnotationDocument, space: str = "aligned") -> list[AnnotationShape]:
    """Every region of ``doc`` as outlines in ``space`` (``aligned`` for maps and faces)."""
    size = doc.space_size(space)
    return [
        AnnotationShape(
            r.geometry_in(space, doc.alignment), (float(size[0]), float(size[1])), r.label, r.color
        )
        for r in doc.regions
    ]


@dataclass(frozen=True)
class PointsLayer:
    """Points drawn over a panel, e.g. eye-tracking fixations: ``xy`` (N, 2) in a space of
    ``space_size`` (width, height; edge convention, the panel's image stretched over it), one
    marker area in pt² and one colour per point."""

    xy: np.ndarray
    space_size: tuple[float, float]
    sizes: Sequence[float] = ()
    colors: Sequence[str] = ()


@dataclass
class PanelSpec:
    """One panel. What is drawn follows from what is given:

    image only -> the image; image + map -> the map overlaid on the image; map only -> the map
    as a heat map. ``kind`` says what the panel *is* (for a caption and the defaults: differences
    are signed).
    """

    kind: str = "overlay"
    image: np.ndarray | None = None
    map: np.ndarray | None = None
    title: str = ""
    sign: str = "signed"
    cmap: str | None = None
    colorbar: bool = True
    annotations: Sequence[AnnotationShape] = ()
    alpha: float = 0.5
    clip_percentile: float = 99.5
    vmax: float | None = None
    colorbar_label: str = ""
    magnitude_alpha: bool = False  # fade weak attribution so the face shows (the GUI's "fade weak")
    points: PointsLayer | None = None

    def validate(self, index: int) -> None:
        where = f"panel {index + 1}"
        if self.kind not in PANEL_KINDS:
            raise ParameterError(f"{where}: unknown panel kind {self.kind!r}; use one of {PANEL_KINDS}")
        if self.sign not in SIGNS:
            raise ParameterError(f"{where}: unknown sign {self.sign!r}; use one of {SIGNS}")
        if self.image is None and self.map is None:
            raise ParameterError(f"{where}: a panel needs an image, a map or both")
        if self.map is not None:
            check_map(self.map)
        if self.image is not None:
            as_rgb(self.image)
        if not 0.0 <= self.alpha <= 1.0:
            raise ParameterError(f"{where}: overlay opacity must be between 0 and 1")


@dataclass
class FigureSpec:
    """The whole figure. Sizes are in inches and points, as journals specify them.

    ``shared_scale``: maps with the same sign mode (and no explicit ``vmax``) share one colour
    scale, so their colours compare directly across panels.
    """

    panels: list[PanelSpec] = field(default_factory=list)
    cols: int = 4
    title: str = ""
    footnote: str = ""
    panel_width_in: float = 1.7
    font_family: str = "DejaVu Sans"
    font_size: float = 8.0
    dpi: int = 300
    shared_scale: bool = False
    annotation_labels: bool = True
    annotation_linewidth: float = 1.0
    background: str = "white"

    def validate(self) -> None:
        if not self.panels:
            raise ParameterError("a figure needs at least one panel")
        if self.cols < 1:
            raise ParameterError(f"the number of columns must be at least 1, got {self.cols}")
        if not 10 <= self.dpi <= 2400:
            raise ParameterError(f"the resolution must be between 10 and 2400 DPI, got {self.dpi}")
        if not 0.3 <= self.panel_width_in <= 20:
            raise ParameterError(
                f"the panel width must be between 0.3 and 20 inches, got {self.panel_width_in}"
            )
        if not 3 <= self.font_size <= 40:
            raise ParameterError(f"the font size must be between 3 and 40 points, got {self.font_size}")
        for i, p in enumerate(self.panels):
            p.validate(i)


def _panel_aspect(p: PanelSpec) -> float:
    """height / width of what the panel shows."""
    arr = p.image if p.image is not None else p.map
    assert arr is not None
    return float(arr.shape[0]) / float(arr.shape[1])


def _with_shared_scales(spec: FigureSpec) -> list[PanelSpec]:
    if not spec.shared_scale:
        return list(spec.panels)
    by_sign: dict[tuple[str, float], list[np.ndarray]] = {}
    for p in spec.panels:
        if p.map is not None and p.vmax is None:
            by_sign.setdefault((p.sign, p.clip_percentile), []).append(p.map)
    scales = {k: shared_scale(v, k[0], k[1]) for k, v in by_sign.items()}
    out = []
    for p in spec.panels:
        s = scales.get((p.sign, p.clip_percentile)) if p.map is not None and p.vmax is None else None
        out.append(replace(p, vmax=s) if s else p)
    return out


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _format_value(v: float) -> str:
    """Three significant digits; powers of ten as '3.35×10⁻⁷' rather than '3.35e-07'."""
    if v == 0:
        return "0"
    text = f"{v:.3g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}×10{str(int(exp)).translate(_SUPERSCRIPT)}"
    return text.replace("-", "\u2212", 1) if text.startswith("-") else text


def _panel_pixels(p: PanelSpec) -> np.ndarray:
    """What the panel shows, as uint8 RGB, through the same renderer as the GUI."""
    cmap = p.cmap or default_cmap(p.sign)
    if p.image is not None and p.map is not None:
        return overlay(
            p.image,
            p.map,
            alpha=p.alpha,
            sign=p.sign,
            cmap=cmap,
            clip_percentile=p.clip_percentile,
            vmax=p.vmax,
            magnitude_alpha=p.magnitude_alpha,
        )
    if p.map is not None:
        norm, _, _ = normalize_map(p.map, p.sign, p.clip_percentile, p.vmax)
        return colorize(norm, cmap, p.sign == "signed")
    return as_rgb(p.image)  # type: ignore[arg-type]


def _draw_annotations(ax: Any, spec: FigureSpec, p: PanelSpec, i: int, extent: tuple[float, float]) -> None:
    from matplotlib.patches import Polygon

    ext_w, ext_h = extent
    font = {"family": spec.font_family}
    for k, shape in enumerate(p.annotations):
        sx = ext_w / shape.space_size[0]
        sy = ext_h / shape.space_size[1]
        color = shape.color or ANNOTATION_COLORS[k % len(ANNOTATION_COLORS)]
        for line in outlines(shape.geometry):
            ax.add_patch(
                Polygon(
                    line * np.array([sx, sy]),
                    closed=True,
                    fill=False,
                    edgecolor=color,
                    linewidth=spec.annotation_linewidth,
                    gid=f"annotation-{i}-{k}",
                )
            )
        if not (spec.annotation_labels and shape.label):
            continue
        # Start the label at the region's left edge, or end it at the right edge for regions in
        # the right half; render_figure moves labels that still overflow once the layout is final.
        x0, y0, x1, y1 = shape.geometry.bounds()
        x0, x1, y0, y1 = x0 * sx, x1 * sx, y0 * sy, y1 * sy
        left = (x0 + x1) / 2 <= ext_w / 2
        x, ha = (max(x0, 0.0), "left") if left else (min(x1, ext_w), "right")
        top = y0 > 0.12 * ext_h
        ax.text(
            x,
            min(max(y0 if top else y1, 0.0), ext_h),
            shape.label,
            fontsize=spec.font_size * 0.72,
            fontdict=font,
            color=color,
            clip_on=True,
            va="bottom" if top else "top",
            ha=ha,
            # A dark box, not a path effect: path effects turn SVG text into outlines.
            bbox={"boxstyle": "round,pad=0.12", "facecolor": "black", "alpha": 0.55, "linewidth": 0},
            gid=f"annotation-label-{i}-{k}",
        )


def _draw_points(ax: Any, layer: PointsLayer, i: int, extent: tuple[float, float]) -> None:
    xy = np.asarray(layer.xy, dtype=np.float64).reshape(-1, 2)
    xy = xy * np.array([extent[0] / layer.space_size[0], extent[1] / layer.space_size[1]])
    ax.scatter(xy[:, 0], xy[:, 1], s=list(layer.sizes) or 12.0, c=list(layer.colors) or "#ffd600",
               alpha=0.75, edgecolors="black", linewidths=0.4, clip_on=True, gid=f"points-{i}")


def _fit_labels(fig: Any, renderer: Any) -> None:
    """Slide annotation labels sideways so they lie within their panel (layout is final here)."""
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for t in ax.texts:
            if not (t.get_gid() or "").startswith("annotation-label-"):
                continue
            bb = t.get_window_extent(renderer)
            if bb.x0 >= box.x0 and bb.x1 <= box.x1:
                continue
            x_disp = min(max(bb.x0, box.x0), max(box.x0, box.x1 - bb.width))
            # The text's anchor (its y) stays; only x moves, converted back to data coordinates.
            y_anchor = ax.transData.transform((t.get_position()[0], t.get_position()[1]))[1]
            t.set_horizontalalignment("left")
            t.set_x(ax.transData.inverted().transform((x_disp, y_anchor))[0])


def _draw_colorbar(fig: Any, cax: Any, spec: FigureSpec, p: PanelSpec) -> None:
    """A horizontal colour bar in raw map units; arrows mark values clipped by the scale."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fs = spec.font_size
    raw = check_map(p.map)  # type: ignore[arg-type]
    raw_min, raw_max = float(raw.min()), float(raw.max())
    _, vmin, vmax = normalize_map(raw, p.sign, p.clip_percentile, p.vmax)
    if vmax == vmin:  # a map that is zero everywhere: a colour bar would suggest a scale
        cax.set_axis_off()
        cax.text(
            0.5,
            0.5,
            "map is zero everywhere",
            transform=cax.transAxes,
            ha="center",
            va="center",
            fontsize=fs * 0.8,
            fontfamily=spec.font_family,
            color="#444444",
        )
        return
    cm = colormaps[p.cmap or default_cmap(p.sign)]
    if p.sign == "negative":
        cm = cm.reversed()  # the brightest colour is the most negative value, as in the panel
    ticks = [vmin, 0.0, vmax] if p.sign == "signed" else [vmin, vmax]
    tol = 1e-12 * max(abs(vmin), abs(vmax))
    if p.sign == "absolute":
        lo_clip, hi_clip = False, max(abs(raw_min), abs(raw_max)) > vmax + tol
    else:
        lo_clip = p.sign in ("signed", "negative") and raw_min < vmin - tol
        hi_clip = p.sign in ("signed", "positive") and raw_max > vmax + tol
    extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (lo_clip, hi_clip), "neither"
    )
    cb = fig.colorbar(
        ScalarMappable(norm=Normalize(vmin, vmax), cmap=cm),
        cax=cax,
        orientation="horizontal",
        ticks=ticks,
        extend=extend,
        extendfrac=0.06,
    )
    cb.ax.set_xticklabels([_format_value(t) for t in ticks])
    cb.ax.tick_params(labelsize=fs * 0.8, length=2, width=0.6, pad=1.5)
    labels = cb.ax.get_xticklabels()
    for lbl in labels:
        lbl.set_fontfamily(spec.font_family)
    # End labels align inward so they never reach into the neighbouring panel.
    labels[0].set_horizontalalignment("left")
    labels[-1].set_horizontalalignment("right")
    cb.outline.set_linewidth(0.5)
    if p.colorbar_label:
        cb.set_label(p.colorbar_label, fontsize=fs * 0.8, fontfamily=spec.font_family, labelpad=1.0)


def render_figure(spec: FigureSpec) -> Any:
    """Build the ``matplotlib.figure.Figure`` (Agg canvas attached) for ``spec``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import Bbox

    spec.validate()
    panels = _with_shared_scales(spec)
    n = len(panels)
    cols = min(spec.cols, n)
    rows = math.ceil(n / cols)
    fs = spec.font_size
    font = {"family": spec.font_family}
    any_cbar = any(p.colorbar and p.map is not None for p in panels)
    aspect = max(_panel_aspect(p) for p in panels)
    pw = spec.panel_width_in
    title_h = 2.2 * fs / 72.0
    cbar_h = 0.07 * pw if any_cbar else 0.0  # the bar itself; layout adds room for its labels
    cbar_text_h = (2.6 * fs / 72.0) if any_cbar else 0.0
    row_h = pw * aspect + title_h + cbar_h + cbar_text_h
    head = (2.0 * spec.font_size * 1.2 / 72.0) if spec.title else 0.0
    foot = (1.8 * spec.font_size / 72.0 * (spec.footnote.count("\n") + 1)) if spec.footnote else 0.0
    fig_w = cols * pw + 0.1
    fig_h = rows * row_h + head + foot + 0.1

    fig = Figure(figsize=(fig_w, fig_h), dpi=spec.dpi, facecolor=spec.background, layout="compressed")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=3 / 72, h_pad=3 / 72, wspace=0.04, hspace=0.02)
    ratios = []
    for _ in range(rows):
        ratios += [pw * aspect, cbar_h] if any_cbar else [pw * aspect]
    gs = fig.add_gridspec(len(ratios), cols, height_ratios=ratios)
    per_row = 2 if any_cbar else 1

    for i, p in enumerate(panels):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(gs[r * per_row, c])
        ax.set_gid(f"panel-{i}")
        pixels = _panel_pixels(p)
        h, w = pixels.shape[:2]
        ext_w, ext_h = p.annotations[0].space_size if p.annotations else (float(w), float(h))
        # Axes data coordinates are the panel's pixel space (corner origin), the space the
        # annotation outlines are given in; the image is stretched over it.
        ax.imshow(pixels, interpolation="none", extent=(0, ext_w, ext_h, 0), aspect="auto")
        ax.set_xlim(0, ext_w)
        ax.set_ylim(ext_h, 0)
        ax.set_box_aspect(h / w)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if p.title:
            ax.set_title(p.title, fontsize=fs, fontdict=font, pad=2.0, gid=f"title-{i}")
        _draw_annotations(ax, spec, p, i, (ext_w, ext_h))
        if p.points is not None and len(p.points.xy):
            _draw_points(ax, p.points, i, (ext_w, ext_h))
        if any_cbar and p.colorbar and p.map is not None:
            cax = fig.add_subplot(gs[r * per_row + 1, c])
            cax.set_gid(f"colorbar-{i}")
            _draw_colorbar(fig, cax, spec, p)

    # Freeze the compressed grid, then hang the title and footnote on the block of panels (a
    # suptitle would stick to the figure edge and leave a gap), and record the content's extent
    # so saving crops to it without another full layout pass.
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    boxes = [a.get_tightbbox(renderer) for a in fig.axes if a.get_visible()]
    content = Bbox.union([b for b in boxes if b is not None and b.width > 0])
    to_fig = fig.transFigure.inverted()
    (x_lo, y_lo), (x_hi, y_hi) = to_fig.transform(content)
    _fit_labels(fig, renderer)
    gap = 4.0 / 72.0 / fig_h
    extra = []
    if spec.title:
        extra.append(
            fig.text(
                (x_lo + x_hi) / 2,
                y_hi + gap,
                spec.title,
                ha="center",
                va="bottom",
                fontsize=fs * 1.2,
                fontfamily=spec.font_family,
                gid="figure-title",
            )
        )
    if spec.footnote:
        # Wrap to the width of the panel block (DejaVu Sans averages about 0.55 em per character).
        chars = max(30, int((x_hi - x_lo) * fig_w * 72.0 / (0.55 * fs * 0.75)))
        footnote = "\n".join(textwrap.fill(line, chars) for line in spec.footnote.splitlines())
        extra.append(
            fig.text(
                (x_lo + x_hi) / 2,
                y_lo - gap,
                footnote,
                ha="center",
                va="top",
                fontsize=fs * 0.75,
                fontfamily=spec.font_family,
                color="#444444",
                gid="figure-footnote",
            )
        )
    full = Bbox.union([content] + [t.get_window_extent(renderer) for t in extra])
    pad = 0.04 * fig.dpi
    full = Bbox.from_extents(full.x0 - pad, full.y0 - pad, full.x1 + pad, full.y1 + pad)
    fig.gmxai_content_inches = full.transformed(fig.dpi_scale_trans.inverted())
    return fig


def figure_format(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The export format: ``fmt`` if given, else the file's extension; checked against FORMATS."""
    f = (fmt or Path(path).suffix.lstrip(".")).lower()
    if f == "jpg":
        f = "jpeg"
    if f not in FORMATS:
        raise ParameterError(
            f"cannot export a figure as {f or 'a file without extension'!r}; use one of: {', '.join(FORMATS)}"
        )
    return f


def figure_bytes(fig_or_spec: Any, fmt: str, dpi: int | None = None) -> bytes:
    """Render to PNG/SVG/PDF bytes with matplotlib's identifying metadata removed."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ParameterError(f"unknown figure format {fmt!r}; use one of: {', '.join(FORMATS)}")
    fig = render_figure(fig_or_spec) if isinstance(fig_or_spec, FigureSpec) else fig_or_spec
    if dpi is None:
        dpi = fig_or_spec.dpi if isinstance(fig_or_spec, FigureSpec) else fig.dpi
    import matplotlib

    buf = io.BytesIO()
    # rcParams are read at save time for font embedding; the lock keeps concurrent exports from
    # seeing each other's temporary settings.
    with _save_lock, matplotlib.rc_context(_SAVE_RC):
        fig.savefig(
            buf,
            format=fmt,
            dpi=dpi,
            metadata=_STRIP_METADATA[fmt],
            facecolor=fig.get_facecolor(),
            bbox_inches=getattr(fig, "gmxai_content_inches", "tight"),
            pad_inches=0.04,
        )
    return buf.getvalue()


def save_figure(
    fig_or_spec: Any, path: str | os.PathLike[str], *, fmt: str | None = None, dpi: int | None = None
) -> Path:
    """Write the figure atomically; the format comes from ``fmt`` or the file extension."""
    p = Path(path)
    f = figure_format(p, fmt)
    atomic_write_bytes(p, figure_bytes(fig_or_spec, f, dpi))
    return p


def figure_to_rgb(fig_or_spec: Any, dpi: int | None = None) -> np.ndarray:
    """The figure as uint8 RGB (H, W, 3), e.g. for an export dialog's preview."""
    from PIL import Image

    with Image.open(io.BytesIO(figure_bytes(fig_or_spec, "png", dpi))) as im:
        return np.asarray(im.convert("RGB"))
