"""Raw attribution maps -> coloured overlay pixels, and the normalisations used before two maps
are subtracted.

Numpy only (no Qt), because these choices decide what a clinician sees and are tested against the
core's renderer and closed forms. Raw maps are never modified; colour bars and readouts stay in the
map's own units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.output import render

if TYPE_CHECKING:
    from .state import OverlaySettings

DIFF_NORMALISATIONS: tuple[str, ...] = ("maxabs", "sum", "zscore", "rank")
DIFF_NORMALISATION_LABELS: dict[str, str] = {
    "maxabs": "Scale to largest magnitude (−1…1)",
    "sum": "Share of total attribution (sum of |values| = 1)",
    "zscore": "Standardise (z-score)",
    "rank": "Percentile rank (scale-free, 0…1)",
}


SEQUENTIAL_CMAPS: tuple[str, ...] = ("inferno", "magma", "viridis", "hot", "Reds", "Blues", "cividis")
DIVERGING_CMAPS: tuple[str, ...] = ("RdBu_r", "coolwarm", "bwr", "PiYG", "PuOr_r", "seismic")


def apply_sign(raw: np.ndarray, mode: str) -> np.ndarray:
    """The quantity compared between maps: the map (signed), max(m, 0), max(-m, 0) or |m|.

    Matches the magnitudes :mod:`gmxai_desktop.core.output.render` shows for each sign mode.
    """
    m = np.asarray(raw, dtype=np.float32)
    if mode == "signed":
        return m.copy()
    if mode == "positive":
        return np.maximum(m, 0.0)
    if mode == "negative":
        return np.maximum(-m, 0.0)
    if mode == "absolute":
        return np.abs(m)
    raise ValueError(f"unknown sign mode {mode!r}")


@dataclass(frozen=True)
class DisplayMap:
    """One map ready to draw: RGBA pixels plus the raw values at the colour bar's ends."""

    rgba: np.ndarray  # uint8 (h, w, 4), possibly upsampled from the raw map
    vmin: float
    vmax: float
    cmap: str
    signed: bool


def colormap_for(settings_sign: str, diverging: str, sequential: str) -> str:
    """The colour map a sign mode uses; negative evidence keeps the core's blue default."""
    if settings_sign == "signed":
        return diverging
    if settings_sign == "negative" and sequential == render.default_cmap("positive"):
        return render.default_cmap("negative")
    return sequential


def render_maps(
    maps: Sequence[np.ndarray],
    *,
    sign: str,
    clip_percentile: float,
    shared: bool,
    cmap: str,
    opacity: float,
    fade_weak: bool,
    upsample_to: tuple[int, int] | None = None,
) -> list[DisplayMap]:
    """Colour raw maps exactly as :func:`gmxai_desktop.core.output.render.overlay` would.

    Normalisation and colours come from the core's render module so the desktop view, CLI PNGs
    and exported figures agree pixel for pixel. Shared scaling uses the core's
    :func:`~gmxai_desktop.core.output.render.shared_scale` (the largest per-map scale). With
    ``fade_weak`` the opacity grows with |normalised value|, so pixels without attribution keep
    the face visible (the core's ``magnitude_alpha``).
    """
    vmax = render.shared_scale(list(maps), sign, clip_percentile) if shared and maps else None
    if vmax is not None and vmax <= 0.0:
        vmax = None
    out = []
    signed = sign == "signed"
    for m in maps:
        norm, lo, hi = render.normalize_map(m, sign, clip_percentile, vmax)
        if upsample_to is not None and tuple(norm.shape) != tuple(upsample_to):
            norm = render.resize_map(norm, upsample_to)
        rgb = render.colorize(norm, cmap, signed)
        alpha = np.abs(norm) * opacity if fade_weak else np.full(norm.shape, opacity, np.float32)
        a8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
        rgba = np.ascontiguousarray(np.dstack([rgb, a8]))
        out.append(DisplayMap(rgba, float(lo), float(hi), cmap, signed))
    return out


def render_overlay(
    maps: Sequence[np.ndarray],
    overlay: OverlaySettings,
    upsample_to: tuple[int, int] | None = None,
    *,
    sign: str | None = None,
    cmap: str | None = None,
    shared: bool | None = None,
) -> list[DisplayMap]:
    """:func:`render_maps` with the window's Display settings; the Difference tab overrides the
    sign, colour map and scale sharing for its panels, never the opacity, clipping or fading."""
    return render_maps(
        maps,
        sign=sign or overlay.sign_mode,
        clip_percentile=overlay.clip_percentile,
        shared=overlay.shared_scale if shared is None else shared,
        cmap=cmap or overlay.colormap,
        opacity=overlay.opacity,
        fade_weak=overlay.fade_weak,
        upsample_to=upsample_to,
    )


def colorbar_colors(cmap: str, sign: str, n: int = 256) -> np.ndarray:
    """uint8 (n, 3) colours running from the colour bar's lower to its upper value.

    Negative views run from the most negative value (normalised 1) up to zero (normalised 0), so
    their lookup table is read backwards.
    """
    lut = render.colorize(np.linspace(-1.0 if sign == "signed" else 0.0, 1.0, n), cmap, sign == "signed")
    return lut[::-1].copy() if sign == "negative" else lut


def normalise_for_difference(raw: np.ndarray, how: str) -> np.ndarray:
    """Put a map on a unit-free scale so two methods (with different units) can be subtracted."""
    m = np.asarray(raw, dtype=np.float64)
    if how == "maxabs":
        s = float(np.max(np.abs(m))) if m.size else 0.0
        return (m / s if s > 0 else np.zeros_like(m)).astype(np.float32)
    if how == "sum":
        s = float(np.sum(np.abs(m)))
        return (m / s if s > 0 else np.zeros_like(m)).astype(np.float32)
    if how == "zscore":
        sd = float(m.std())
        return ((m - m.mean()) / sd if sd > 0 else np.zeros_like(m)).astype(np.float32)
    if how == "rank":
        from ..core.analysis.metrics import rankdata

        # 0-based; ties share their mean rank so equal values stay equal after the transform
        ranks = rankdata(m) - 1.0
        denom = max(m.size - 1, 1)
        return (ranks / denom).reshape(m.shape).astype(np.float32)
    raise ValueError(f"unknown normalisation {how!r}")


def difference(
    a: np.ndarray, b: np.ndarray, how: str, mode: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A − B, normalised A, normalised B) after the sign mode and the normalisation ``how``."""
    if a.shape != b.shape:
        raise ValueError(f"maps have different sizes {a.shape} and {b.shape}")
    na = normalise_for_difference(apply_sign(a, mode), how)
    nb = normalise_for_difference(apply_sign(b, mode), how)
    return na - nb, na, nb
