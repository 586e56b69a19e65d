"""Display normalisation, colour maps, overlays and metadata-free PNGs (core/render.py)."""

from __future__ import annotations

import io
import struct
import zlib

import matplotlib
import numpy as np
import pytest
from PIL import Image

from gmxai_desktop.core.base.errors import GmxaiError, ParameterError
from gmxai_desktop.core.output import render


def png_chunks(data: bytes) -> list[bytes]:
    """Chunk types of a PNG, parsed by hand (independent of PIL)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        assert zlib.crc32(ctype + data[pos + 8 : pos + 8 + length]) == crc
        out.append(ctype)
        pos += 12 + length
    return out


def test_signed_normalisation_is_symmetric_and_scaled_by_percentile():
    m = np.linspace(-2.0, 1.0, 1001).reshape(7, 143)
    norm, lo, hi = render.normalize_map(m, "signed", clip_percentile=90.0)
    s = np.percentile(np.abs(m), 90.0)
    assert (lo, hi) == pytest.approx((-s, s))
    np.testing.assert_allclose(norm, np.clip(m / s, -1, 1), atol=1e-6)
    assert norm.dtype == np.float32
    # Zero stays exactly at the diverging map's centre.
    z = np.zeros((3, 3))
    z[0, 0] = 1.0
    z[1, 1] = -1.0
    n2, _, _ = render.normalize_map(z, "signed", 100.0)
    assert n2[2, 2] == 0.0 and n2[0, 0] == 1.0 and n2[1, 1] == -1.0


@pytest.mark.parametrize(
    ("sign", "expected", "bounds"),
    [
        ("positive", [[0.0, 0.5], [1.0, 0.0]], (0.0, 4.0)),
        ("negative", [[0.5, 0.0], [0.0, 1.0]], (-4.0, 0.0)),
        ("absolute", [[0.5, 0.5], [1.0, 1.0]], (0.0, 4.0)),
    ],
)
def test_sign_modes(sign, expected, bounds):
    m = np.array([[-2.0, 2.0], [4.0, -4.0]])
    norm, lo, hi = render.normalize_map(m, sign, clip_percentile=100.0)
    np.testing.assert_allclose(norm, expected)
    assert (lo, hi) == bounds


def test_explicit_vmax_gives_a_shared_scale():
    a = np.full((4, 4), 1.0)
    b = np.full((4, 4), 3.0)
    vmax = render.shared_scale([a, b], "positive", 99.5)
    assert vmax == pytest.approx(3.0)
    na, _, hi = render.normalize_map(a, "positive", vmax=vmax)
    assert hi == pytest.approx(3.0)
    np.testing.assert_allclose(na, 1.0 / 3.0, rtol=1e-6)
    with pytest.raises(ParameterError):
        render.normalize_map(a, "positive", vmax=0.0)


def test_sparse_map_falls_back_to_its_maximum():
    m = np.zeros((100, 100))
    m[5, 5] = 2.0  # 1 pixel in 10 000: the 99.5th percentile is 0
    norm, _, hi = render.normalize_map(m, "positive")
    assert hi == 2.0 and norm[5, 5] == 1.0 and norm.sum() == 1.0


def test_zero_map_gives_zeros_without_nan():
    norm, lo, hi = render.normalize_map(np.zeros((5, 6)), "signed")
    assert np.all(norm == 0) and (lo, hi) == (0.0, 0.0)
    assert not np.isnan(norm).any()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_maps_are_user_errors(bad):
    m = np.zeros((4, 4))
    m[1, 2] = bad
    with pytest.raises(GmxaiError, match="NaN or infinite"):
        render.normalize_map(m)
    with pytest.raises(GmxaiError):
        render.overlay(np.zeros((4, 4, 3), np.uint8), m)


def test_unknown_sign_and_cmap_are_parameter_errors():
    with pytest.raises(ParameterError):
        render.normalize_map(np.zeros((2, 2)), "both")
    with pytest.raises(ParameterError):
        render.colorize(np.zeros((2, 2)), "no-such-map", True)


def test_default_cmaps():
    assert render.default_cmap("signed") == "RdBu_r"
    assert render.default_cmap("positive") == "inferno"
    assert render.default_cmap("absolute") == "inferno"
    assert render.default_cmap("negative") == "Blues"


def test_colorize_matches_matplotlib_and_centres_zero():
    cm = matplotlib.colormaps["RdBu_r"]
    out = render.colorize(np.array([[-1.0, 0.0, 1.0]]), "RdBu_r", signed=True)
    expect = cm(np.array([0.0, 128 / 255, 1.0]), bytes=True)[:, :3]
    np.testing.assert_array_equal(out[0], expect)
    seq = render.colorize(np.array([0.0, 1.0]), "inferno", signed=False)
    np.testing.assert_array_equal(seq, matplotlib.colormaps["inferno"]([0.0, 1.0], bytes=True)[:, :3])
    assert out.dtype == np.uint8


def test_overlay_blends_and_resizes():
    face = np.full((40, 60, 3), 100, np.uint8)
    m = np.ones((10, 15))  # model resolution, smaller than the face
    full = render.overlay(face, m, alpha=1.0, sign="positive", clip_percentile=100)
    top = matplotlib.colormaps["inferno"](1.0, bytes=True)[:3]
    assert full.shape == (40, 60, 3) and full.dtype == np.uint8
    assert np.all(full == np.array(top, np.uint8))
    none = render.overlay(face, m, alpha=0.0)
    np.testing.assert_array_equal(none, face)
    half = render.overlay(face, m, alpha=0.5, sign="positive", clip_percentile=100)
    np.testing.assert_allclose(
        half.astype(float), np.broadcast_to(50 + 0.5 * np.array(top), half.shape), atol=0.51
    )
    # With magnitude_alpha a zero-attribution pixel keeps the face exactly.
    z = np.zeros((10, 15))
    z[0, 0] = 1.0
    faded = render.overlay(face, z, alpha=0.8, magnitude_alpha=True)
    assert np.all(faded[-5:, -5:] == 100)


def test_overlay_bilinear_resize_matches_opencv():
    import cv2

    rng = np.random.default_rng(0)
    m = rng.normal(size=(7, 9))
    face = np.zeros((21, 27, 3), np.uint8)
    out = render.overlay(face, m, alpha=1.0, sign="signed", clip_percentile=100)
    norm, _, _ = render.normalize_map(m, "signed", 100)
    ref = render.colorize(cv2.resize(norm, (27, 21), interpolation=cv2.INTER_LINEAR), "RdBu_r", True)
    np.testing.assert_array_equal(out, ref)


def test_overlay_accepts_gray_and_rejects_float_faces():
    gray = np.full((8, 8), 50, np.uint8)
    assert render.overlay(gray, np.zeros((8, 8))).shape == (8, 8, 3)
    with pytest.raises(ParameterError):
        render.overlay(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8)))


def test_save_png_has_no_metadata_and_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(13, 17, 3), dtype=np.uint8)
    path = tmp_path / "out.png"
    render.save_png(path, rgb)
    data = path.read_bytes()
    assert set(png_chunks(data)) <= {b"IHDR", b"IDAT", b"IEND"}
    with Image.open(io.BytesIO(data)) as im:
        np.testing.assert_array_equal(np.asarray(im), rgb)
        assert not im.info and not im.getexif()
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp file left
