"""Display normalisation, colour maps and overlays: raw attribution maps -> uint8 RGB.

Methods return raw signed maps (see ``methods/base.py``); this module is the one place that turns
them into colours, so the GUI, the CLI PNGs and exported figures show the same pixels for the same
settings. The rules that keep a picture honest:

* ``signed`` maps use a diverging colour map centred exactly at zero, scaled symmetrically by a
  percentile of ``|m|``, so red/blue intensity compares positive and negative evidence fairly.
* ``positive`` / ``negative`` / ``absolute`` views use a sequential, perceptually ordered colour
  map, scaled from 0.
* Percentile clipping (default 99.5) stops a handful of extreme pixels from washing out the map.
  The returned ``vmin``/``vmax`` are in raw map units so a colour bar can state real values, and a
  caller can pass ``vmax`` to put several maps on one shared scale (:func:`map_scale`).
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..base.atomic import atomic_write_bytes
from ..base.errors import GmxaiError, ParameterError

SIGNS = ("signed", "positive", "negative", "absolute")


class InvalidMapError(GmxaiError):
    """An attribution map holds NaN or infinite values, so no honest picture can be drawn."""


def _check_sign(sign: str) -> None:
    if sign not in SIGNS:
        raise ParameterError(f"unknown sign mode {sign!r}; use one of: {', '.join(SIGNS)}")


def check_map(m: np.ndarray) -> np.ndarray:
    """A 2-D finite map as float64; NaN/inf is an :class:`InvalidMapError` (never drawn or scored)."""
    arr = np.asarray(m)
    if arr.ndim != 2:
        raise ParameterError(f"an attribution map must be 2-D (H, W), got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise InvalidMapError(
            f"the attribution map contains {bad} NaN or infinite values; the model or method "
            "produced invalid numbers (try another method or check the checkpoint)"
        )
    return arr


def _signed_view(arr: np.ndarray, sign: str) -> np.ndarray:
    """The non-negative quantity whose size is shown: |m|, max(m, 0) or max(-m, 0)."""
    if sign in ("signed", "absolute"):
        return np.abs(arr)
    if sign == "positive":
        return np.maximum(arr, 0.0)
    return np.maximum(-arr, 0.0)


def map_scale(m: np.ndarray, sign: str = "signed", clip_percentile: float = 99.5) -> float:
    """The raw value shown at full colour intensity for ``m`` in this sign mode.

    It is the ``clip_percentile`` percentile of the shown magnitudes. When that is 0 but the map
    is not (a sparse map: fewer non-zero pixels than the clipped fraction), the maximum is used
    so a few strong pixels still show. Returns 0.0 for a map with nothing to show.
    """
    _check_sign(sign)
    if not 0.0 < clip_percentile <= 100.0:
        raise ParameterError(f"clip percentile must be in (0, 100], got {clip_percentile}")
    view = _signed_view(check_map(m), sign)
    if view.size == 0:
        return 0.0
    scale = float(np.percentile(view, clip_percentile))
    if scale <= 0.0:
        scale = float(view.max())
    return scale


def shared_scale(maps: list[np.ndarray], sign: str = "signed", clip_percentile: float = 99.5) -> float:
    """One ``vmax`` for several maps (largest per-map scale), so their colours compare directly."""
    scales = [map_scale(m, sign, clip_percentile) for m in maps]
    return max(scales, default=0.0)


def normalize_map(
    m: np.ndarray, sign: str = "signed", clip_percentile: float = 99.5, vmax: float | None = None
) -> tuple[np.ndarray, float, float]:
    """Scale a raw map for display; returns ``(normalised float32, vmin, vmax)`` in raw units.

    ``signed``: values in [-1, 1], (vmin, vmax) = (-s, s). ``positive``: max(m, 0) in [0, 1],
    (0, s). ``negative``: max(-m, 0) in [0, 1] where 1 means the most negative value, (-s, 0).
    ``absolute``: |m| in [0, 1], (0, s). ``s`` is ``vmax`` if given, else :func:`map_scale`. A map
    with nothing to show gives zeros and s = 0.
    """
    _check_sign(sign)
    arr = check_map(m)
    if vmax is None:
        scale = map_scale(arr, sign, clip_percentile)
    else:
        scale = float(vmax)
        if not np.isfinite(scale) or scale <= 0.0:
            raise ParameterError(f"the colour scale maximum must be a positive number, got {vmax!r}")
    if scale <= 0.0:
        return np.zeros(arr.shape, np.float32), 0.0, 0.0
    if sign == "signed":
        out = np.clip(arr / scale, -1.0, 1.0)
        lo, hi = -scale, scale
    else:
        out = np.clip(_signed_view(arr, sign) / scale, 0.0, 1.0)
        lo, hi = (-scale, 0.0) if sign == "negative" else (0.0, scale)
    return out.astype(np.float32), lo, hi


def default_cmap(sign: str) -> str:
    """Diverging map (zero = white, red = positive, blue = negative) for signed views; sequential
    perceptual maps otherwise: ``inferno`` for positive/absolute evidence and ``Blues`` for
    negative evidence, so blue means "against the class" in every view."""
    _check_sign(sign)
    if sign == "signed":
        return "RdBu_r"
    if sign == "negative":
        return "Blues"
    return "inferno"


@lru_cache(maxsize=32)
def _lut(cmap: str) -> np.ndarray:
    import matplotlib

    try:
        cm = matplotlib.colormaps[cmap]
    except KeyError:
        raise ParameterError(
            f"unknown colour map {cmap!r}; any matplotlib colour map name works, "
            "e.g. RdBu_r, coolwarm, inferno, viridis"
        ) from None
    lut = cm(np.linspace(0.0, 1.0, 256), bytes=True)[:, :3]
    lut.setflags(write=False)
    return lut


def colorize(norm: np.ndarray, cmap: str, signed: bool) -> np.ndarray:
    """Normalised map -> uint8 RGB through a 256-entry matplotlib lookup table.

    ``signed``: ``norm`` in [-1, 1] and 0 falls on the colour map's centre; otherwise [0, 1].
    """
    lut = _lut(cmap)
    n = np.asarray(norm, dtype=np.float64)
    pos = (np.clip(n, -1.0, 1.0) + 1.0) * 0.5 if signed else np.clip(n, 0.0, 1.0)
    idx = np.rint(np.nan_to_num(pos) * 255.0).astype(np.intp)
    return lut[idx]


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 gray (H, W) / (H, W, 1) / RGBA -> uint8 RGB (H, W, 3)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ParameterError(f"images must be uint8, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ParameterError(f"an image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}")
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def resize_map(m: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (OpenCV, pixel-centre aligned like PIL/torch ``align_corners=False``)."""
    import cv2

    h, w = size_hw
    arr = np.asarray(m, dtype=np.float32)
    if arr.shape == (h, w):
        return arr
    return cv2.resize(arr, (w, h), interpolation=cv2.INTER_LINEAR)


def overlay(
    face_rgb: np.ndarray,
    m: np.ndarray,
    *,
    alpha: float = 0.5,
    sign: str = "signed",
    cmap: str | None = None,
    clip_percentile: float = 99.5,
    vmax: float | None = None,
    magnitude_alpha: bool = False,
) -> np.ndarray:
    """Blend the coloured map over the face: ``(1 - a) * face + a * colour`` per pixel, uint8 RGB.

    The map is normalised at its own resolution (so the scale matches colour bars and metrics)
    and then resized bilinearly to the face. ``magnitude_alpha`` makes ``a = alpha * |norm|``, so
    pixels without attribution keep the face untouched instead of taking the colour map's zero
    colour.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(f"overlay opacity must be between 0 and 1, got {alpha}")
    face = as_rgb(face_rgb)
    norm, _, _ = normalize_map(m, sign, clip_percentile, vmax)
    norm = resize_map(norm, face.shape[:2])
    signed = sign == "signed"
    colour = colorize(norm, cmap or default_cmap(sign), signed).astype(np.float32)
    a = np.float32(alpha)
    if magnitude_alpha:
        a = (np.abs(norm) * alpha)[:, :, None].astype(np.float32)
    out = face.astype(np.float32) * (1.0 - a) + colour * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG bytes with no metadata at all: no EXIF, no text chunks, no time stamp."""
    import io

    from PIL import Image

    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        raise ParameterError(f"PNG export needs uint8 pixels, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise ParameterError(f"cannot write an image of shape {img.shape} as PNG")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def save_png(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write ``rgb`` as a metadata-free PNG, atomically."""
    atomic_write_bytes(path, png_bytes(rgb))
