"""Reading patient photos into uint8 RGB arrays, and turning them into model input.

Every image in the app enters through :func:`load_image`, so every code path sees the same pixels:
EXIF orientation applied (phone photos are stored sideways), one well-defined conversion per
Pillow mode, and a clear :class:`ImageLoadError` for anything that cannot be trusted. A damaged
file never yields a half-grey image: Pillow's ``LOAD_TRUNCATED_IMAGES`` is left ``False`` and
decoding happens inside ``try``, because a map drawn on invented pixels would look plausible and
be wrong.

Conversions, chosen so that no information is silently clipped:

* transparency (LA, RGBA, PA, P with a transparent colour) is composited over **white**. Photos
  with a transparent background are cut-out portraits; viewers and documents show them on white,
  which is what the clinician saw. Black would put a dark halo around the face that a model can
  attend to, and merely dropping alpha exposes whatever colour the editor left in invisible pixels.
* 16-bit grey (I;16, I;16B, I;16L) is scaled by 255/65535 with rounding, so 65535 -> 255 and
  32768 -> 128 (Pillow's own ``convert`` clips everything above 255 to white).
* 32-bit integer grey (I) holding values in [0, 65535] (how Pillow represents many 16-bit files)
  is scaled like 16-bit; other ranges are stretched linearly from min..max to 0..255.
* float grey (F) in [0, 1] is scaled by 255; other ranges are stretched from min..max; NaN/Inf
  pixels are refused.
* CMYK, YCbCr, HSV, LAB, 1-bit and palette images use Pillow's conversions. Embedded ICC
  profiles are ignored, as in the upstream GestaltMatcher pipeline, so predictions match it.

Multi-frame files (animated GIF and WebP, multi-page TIFF) use their first frame;
:func:`multi_frame_note` says so in words for the user. Files of other types in a folder are not
silently dropped: :func:`skipped_files` lists each with the reason, for the browser to show.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..base.errors import GmxaiError, ImageLoadError

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
)
MULTI_FRAME_SUFFIXES: frozenset[str] = frozenset({".gif", ".tif", ".tiff", ".webp"})
COMPANION_SUFFIXES: frozenset[str] = frozenset(
    {".csv", ".tsv", ".json", ".txt", ".md", ".npy", ".npz", ".pt", ".pth", ".onnx", ".xml", ".yaml",
     ".yml", ".ini", ".log", ".db"}
)
"""Files that live beside photos (labels, annotations, maps, models, Thumbs.db): not images, and
not worth a "skipped" line either."""
_SKIP_REASONS = {
    ".heic": "HEIC/HEIF photos (iPhone default) are not supported; export them as JPEG",
    ".heif": "HEIC/HEIF photos (iPhone default) are not supported; export them as JPEG",
    ".avif": "AVIF images are not supported; convert them to PNG or JPEG",
    ".dcm": "DICOM files are not supported; export the photo as PNG or JPEG",
    ".svg": "vector drawings are not read (no photo pixels)",
    ".pdf": "documents are not read; export the photo as PNG or JPEG",
    ".eps": "PostScript is never opened (reading it would run a program)",
    ".ps": "PostScript is never opened (reading it would run a program)",
}
MAX_PIXELS = 50_000_000
"""Images with this many pixels or more are refused before decoding (decompression bombs; a
50 MP photo is far beyond what a 100x100 or 224x224 face model can use)."""

# Pillow decoders we let run. Plain raster formats only: Pillow can also open PostScript/EPS by
# running Ghostscript on the file, which must never happen to a file someone sent us. (The JPEG
# decoder also reads the multi-picture "MPO" JPEGs that many phones and cameras write.)
_DECODERS = ("JPEG", "PNG", "TIFF", "BMP", "DIB", "WEBP", "GIF", "PPM")
_ALPHA_MODES = frozenset({"LA", "RGBA", "RGBa", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_PIL_CONVERTIBLE = frozenset({"RGB", "RGBX", "L", "1", "CMYK", "YCbCr", "HSV", "LAB", "P"})


def load_image(path: str | Path) -> np.ndarray:
    """Read one image file as uint8 RGB ``(H, W, 3)`` with EXIF orientation applied.

    Raises :class:`ImageLoadError` naming the file (base name only: these are patient files) and
    the reason. A folder run catches it per file and carries on.
    """
    p = Path(path)
    name = p.name or str(p)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise ImageLoadError(f"{name}: file not found") from None
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if p.is_dir():
        raise ImageLoadError(f"{name}: is a folder, not an image file")
    if size == 0:
        raise ImageLoadError(f"{name}: the file is empty (0 bytes)")

    try:
        with warnings.catch_warnings():
            # Our own limit (MAX_PIXELS) is stricter than Pillow's warning threshold; the warning
            # would only add noise before the clear error below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p, formats=_DECODERS)
    except Image.DecompressionBombError:
        raise ImageLoadError(_too_large_message(name, None)) from None
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"{name}: not an image file that can be read (supported: {_suffix_list()})"
        ) from None
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot be read ({exc})") from None

    with im:
        width, height = im.size
        if width * height >= MAX_PIXELS:
            raise ImageLoadError(_too_large_message(name, (width, height)))
        if width == 0 or height == 0:
            raise ImageLoadError(f"{name}: the image has no pixels ({width}x{height})")
        try:
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)
            im.load()
        except Image.DecompressionBombError:
            raise ImageLoadError(_too_large_message(name, (width, height))) from None
        except MemoryError:
            raise ImageLoadError(f"{name}: not enough memory to decode this image") from None
        except Exception as exc:  # any failure inside Pillow's decoder means the file is damaged
            raise ImageLoadError(f"{name}: the file is damaged or truncated ({exc})") from None
        oriented = _apply_exif_orientation(im)
        return _to_rgb(oriented, name)


def _apply_exif_orientation(im: Image.Image) -> Image.Image:
    """Rotate/flip as the EXIF orientation tag says; an unreadable EXIF block means "as stored"."""
    try:
        out = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block must not make an otherwise good photo unusable
        return im
    return out if out is not None else im


def _to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if mode in _ALPHA_MODES or (mode in {"P", "L", "RGB"} and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    elif mode == "RGB":
        rgb = np.asarray(im, dtype=np.uint8)
    elif mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(im).astype(np.float64) * (255.0 / 65535.0)
        rgb = _grey_to_rgb(grey)
    elif mode == "I":
        values = np.asarray(im).astype(np.float64)
        if values.size and values.min() >= 0 and values.max() <= 65535:
            rgb = _grey_to_rgb(values * (255.0 / 65535.0))
        else:
            rgb = _grey_to_rgb(_stretch(values))
    elif mode == "F":
        values = np.asarray(im).astype(np.float64)
        if not np.isfinite(values).all():
            raise ImageLoadError(f"{name}: the floating-point image contains NaN or infinite pixels")
        if values.size and values.min() >= 0 and values.max() <= 1:
            rgb = _grey_to_rgb(values * 255.0)
        else:
            rgb = _grey_to_rgb(_stretch(values))
    elif mode in _PIL_CONVERTIBLE:
        try:
            rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (ValueError, OSError) as exc:
            raise ImageLoadError(f"{name}: colour mode {mode} cannot be converted to RGB ({exc})") from None
    else:
        raise ImageLoadError(f"{name}: unsupported colour mode {mode!r}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageLoadError(f"{name}: unsupported colour mode {mode!r}")
    return np.ascontiguousarray(rgb)


def _stretch(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros_like(values)
    return (values - lo) * (255.0 / (hi - lo))


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    g8 = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return np.repeat(g8[:, :, None], 3, axis=2)


def _too_large_message(name: str, size: tuple[int, int] | None) -> str:
    dims = f" ({size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.1f} MP)" if size else ""
    return (
        f"{name}: the image is too large{dims}; the limit is {MAX_PIXELS // 1_000_000} MP "
        "(protection against decompression bombs). Downscale it first."
    )


def _suffix_list() -> str:
    return ", ".join(sorted(SUPPORTED_SUFFIXES))


def iter_image_paths(inputs: Sequence[Path]) -> list[Path]:
    """Expand the user's inputs into image files, in a stable order.

    Files are kept as given (whatever their suffix: :func:`load_image` explains what is wrong
    with a non-image). Folders are searched recursively for supported suffixes (case-insensitive)
    and sorted; hidden files and folders (names starting with ``.``, e.g. macOS ``._IMG.jpg``
    resource forks) are skipped, and symbolic links to folders are not followed (no cycles).
    Duplicates are dropped, keeping the first occurrence.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)

    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for f in _walk_files(path):
                if f.suffix.lower() in SUPPORTED_SUFFIXES:
                    add(f)
        elif path.exists():
            add(path)
        else:
            raise GmxaiError(f"{path}: no such file or folder")
    if not out:
        names = ", ".join(str(p) for p in inputs) or "(nothing given)"
        skipped = [s for raw in inputs if Path(raw).is_dir() for s in skipped_files(Path(raw))]
        extra = (
            f"; {len(skipped)} file(s) of other types skipped, e.g. {skipped[0][0].name}"
            if skipped
            else ""
        )
        raise GmxaiError(f"no images found in {names} (supported: {_suffix_list()}){extra}")
    return out


def _walk_files(folder: Path) -> list[Path]:
    """Every non-hidden file under ``folder``, not following folder links, sorted."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found.extend(Path(root) / f for f in files if not f.startswith("."))
    return sorted(found)


def skip_reason(path: Path) -> str | None:
    """Why a folder listing leaves ``path`` out, or None if it is a supported image or a known
    companion file (labels, annotations, models) that needs no mention."""
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES or suffix in COMPANION_SUFFIXES:
        return None
    if not suffix:
        return f"no file extension (supported: {_suffix_list()})"
    return _SKIP_REASONS.get(suffix, f"{suffix} files are not supported (supported: {_suffix_list()})")


def skipped_files(folder: Path) -> list[tuple[Path, str]]:
    """Files a folder listing (:func:`iter_image_paths`) leaves out, each with the reason.

    Walks the folder the same way (hidden files and folders excluded, links to folders not
    followed), so every visible file is either listed as an image, a companion, or here.
    """
    return [(p, reason) for p in _walk_files(folder) if (reason := skip_reason(p)) is not None]


def multi_frame_note(path: Path) -> str | None:
    """A one-line note when ``path`` holds several frames (only the first is used), else None.

    Reads the header only (and, for GIF and WebP, seeks to the second frame), so it is cheap
    enough to call when an image is selected. Unreadable files give None: :func:`load_image`
    reports those.
    """
    suffix = path.suffix.lower()
    if suffix not in MULTI_FRAME_SUFFIXES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=_DECODERS) as im:
                if not getattr(im, "is_animated", False):
                    return None
                kind = {"GIF": "animated GIF", "WEBP": "animated WebP", "TIFF": "multi-page TIFF"}.get(
                    im.format or "", "multi-frame image"
                )
                count = f" ({im.n_frames} pages)" if im.format == "TIFF" else ""
    except Exception:
        return None
    return f"{path.name}: {kind}{count}, only the first frame is used"


def to_model_input(rgb: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` -> uint8 ``(C, H', W')`` with ``(H', W') = size``.

    Reproduces torchvision's ``Resize((H, W))`` on a PIL image (PIL bilinear with its built-in
    antialiasing) followed, for one channel, by ``Grayscale(1)`` (PIL ``convert('L')``, ITU-R
    601-2 luma) -- the upstream GestaltMatcher order, resize first, so values match bit for bit.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) RGB array, got {rgb.dtype} {rgb.shape}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    h, w = int(size[0]), int(size[1])
    im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    if im.size != (w, h):
        im = im.resize((w, h), Image.Resampling.BILINEAR)
    # np.array copies: the result is writable (torch.from_numpy warns about read-only buffers).
    if channels == 1:
        return np.array(im.convert("L"), dtype=np.uint8)[None, :, :]
    return np.ascontiguousarray(np.array(im, dtype=np.uint8).transpose(2, 0, 1))
