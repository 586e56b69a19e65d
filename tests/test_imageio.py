"""Image loading: every Pillow mode lands as the right uint8 RGB, and every bad file says why."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from gmxai_desktop.core.base.errors import GmxaiError, ImageLoadError
from gmxai_desktop.core.inputs import imageio
from gmxai_desktop.core.inputs.imageio import (
    SUPPORTED_SUFFIXES,
    iter_image_paths,
    load_image,
    to_model_input,
)


def _rgb(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _blocks(h: int = 32, w: int = 48) -> np.ndarray:
    """Flat colour blocks survive JPEG well, so orientation checks can be exact up to small noise."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[: h // 2, : w // 2] = (255, 0, 0)
    arr[: h // 2, w // 2 :] = (0, 255, 0)
    arr[h // 2 :, : w // 2] = (0, 0, 255)
    arr[h // 2 :, w // 2 :] = (255, 255, 0)
    return arr


def test_truncated_images_are_not_silently_accepted_globally():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    ("suffix", "kwargs", "exact"),
    [
        (".png", {}, True),
        (".tif", {}, True),
        (".tiff", {"compression": "tiff_lzw"}, True),
        (".bmp", {}, True),
        (".webp", {"lossless": True}, True),
        (".jpg", {"quality": 95, "subsampling": 0}, False),
        (".JPEG", {"quality": 95, "subsampling": 0}, False),
    ],
)
def test_formats_round_trip(tmp_path, suffix, kwargs, exact):
    arr = _rgb() if exact else _blocks()
    path = tmp_path / f"img{suffix}"
    Image.fromarray(arr).save(path, **kwargs)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == arr.shape and out.flags.c_contiguous
    if exact:
        np.testing.assert_array_equal(out, arr)
    else:
        assert np.abs(out.astype(int) - arr).mean() < 3


def _expected_orientation_6(arr: np.ndarray) -> np.ndarray:
    # EXIF orientation 6: the stored image must be turned 90 degrees clockwise for display.
    return np.rot90(arr, k=-1)


def test_exif_orientation_png_exact(tmp_path):
    arr = _rgb(20, 30)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "o6.png"
    Image.fromarray(arr).save(path, exif=exif)
    out = load_image(path)
    assert out.shape == (30, 20, 3)
    np.testing.assert_array_equal(out, _expected_orientation_6(arr))


def test_exif_orientation_jpeg(tmp_path):
    arr = _blocks(32, 48)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "o6.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95, subsampling=0)
    out = load_image(path)
    assert out.shape == (48, 32, 3)
    expected = _expected_orientation_6(arr)
    assert np.abs(out.astype(int) - expected).mean() < 3
    # The red block (top-left as stored) must now be top-right.
    assert tuple(out[4, -4]) == pytest.approx((255, 0, 0), abs=12)


def test_grey_and_one_bit(tmp_path):
    grey = np.array([[0, 77], [200, 255]], np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))
    Image.fromarray(grey > 100).convert("1").save(tmp_path / "b.png")
    out = load_image(tmp_path / "b.png")
    np.testing.assert_array_equal(out[:, :, 0], np.array([[0, 0], [255, 255]], np.uint8))


def _over_white(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    return v * (a / 255.0) + 255.0 * (1 - a / 255.0)


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, :, :3] = (10, 100, 200)
    rgba[0, :, 3] = (0, 128, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png").astype(float)
    expected = _over_white(rgba[0, :, :3].astype(float), rgba[0, :, 3:].astype(float))
    np.testing.assert_allclose(out[0], expected, atol=1)
    assert tuple(out[0, 0]) == (255, 255, 255)  # fully transparent -> white, not the hidden colour

    la = np.stack([np.full((1, 3), 60, np.uint8), np.array([[0, 128, 255]], np.uint8)], axis=2)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = load_image(tmp_path / "la.png").astype(float)
    np.testing.assert_allclose(out[0, :, 0], _over_white(np.full(3, 60.0), la[0, :, 1].astype(float)), atol=1)


def test_palette_with_and_without_transparency(tmp_path):
    idx = np.array([[0, 1, 2]], np.uint8)
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9)
    im = Image.fromarray(idx, "P")
    im.putpalette(palette)
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png")[0], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    im.save(tmp_path / "pt.png", transparency=1)
    reread = Image.open(tmp_path / "pt.png")
    assert reread.mode == "P" and "transparency" in reread.info
    np.testing.assert_array_equal(
        load_image(tmp_path / "pt.png")[0], [[255, 0, 0], [255, 255, 255], [0, 0, 255]]
    )


def test_cmyk(tmp_path):
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 0, 0, 255]]], np.uint8)
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.tif")
    out = load_image(tmp_path / "c.tif")
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [0, 255, 255], [0, 0, 0]])
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.jpg", quality=100)
    out = load_image(tmp_path / "c.jpg").astype(int)
    assert out.shape == (1, 3, 3) and out[0, 0].min() > 230  # white stays white (Adobe inversion handled)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    out = load_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 128, 255])
    np.testing.assert_array_equal(out[0, :, 0], out[0, :, 2])

    big_endian = Image.frombytes("I;16B", (4, 1), values.astype(">u2").tobytes())
    big_endian.save(tmp_path / "g16b.tif")
    assert Image.open(tmp_path / "g16b.tif").mode == "I;16B"
    np.testing.assert_array_equal(load_image(tmp_path / "g16b.tif")[0, :, 0], [0, 1, 128, 255])


def test_sixteen_bit_with_exif_rotation(tmp_path):
    values = np.arange(6, dtype=np.uint16).reshape(2, 3) * 13107  # 0 .. 65535
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(values).save(tmp_path / "r16.png", exif=exif)
    out = load_image(tmp_path / "r16.png")[:, :, 0]
    np.testing.assert_array_equal(out, np.rot90(np.rint(values / 257.0).astype(np.uint8), k=-1))


def test_thirty_two_bit_integer(tmp_path):
    in_range = Image.fromarray(np.array([[0, 32768, 65535]], np.int32), "I")
    in_range.save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    np.testing.assert_array_equal(load_image(tmp_path / "i.tif")[0, :, 0], [0, 128, 255])
    wide = Image.fromarray(np.array([[-1000, 0, 99000]], np.int32), "I")
    wide.save(tmp_path / "w.tif")
    expected = np.rint((np.array([-1000, 0, 99000]) + 1000) * 255 / 100000).astype(np.uint8)
    np.testing.assert_array_equal(load_image(tmp_path / "w.tif")[0, :, 0], expected)


def test_float_tiff(tmp_path):
    Image.fromarray(np.array([[0.0, 0.25, 1.0]], np.float32), "F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "f.tif")[0, :, 0], [0, 64, 255])
    Image.fromarray(np.array([[-2.0, 0.0, 2.0]], np.float32), "F").save(tmp_path / "f2.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "f2.tif")[0, :, 0], [0, 128, 255])
    Image.fromarray(np.array([[0.0, np.nan]], np.float32), "F").save(tmp_path / "nan.tif")
    with pytest.raises(ImageLoadError, match=r"nan\.tif.*NaN"):
        load_image(tmp_path / "nan.tif")


def test_multi_frame_uses_first_frame(tmp_path):
    a, b = _rgb(seed=1), _rgb(seed=2)
    Image.fromarray(a).save(tmp_path / "m.tif", save_all=True, append_images=[Image.fromarray(b)])
    assert Image.open(tmp_path / "m.tif").n_frames == 2
    np.testing.assert_array_equal(load_image(tmp_path / "m.tif"), a)
    Image.fromarray(a).save(
        tmp_path / "anim.webp", save_all=True, append_images=[Image.fromarray(b)], lossless=True, duration=100
    )
    np.testing.assert_array_equal(load_image(tmp_path / "anim.webp"), a)


def test_missing_file_names_only_the_base_name(tmp_path):
    missing = tmp_path / "secret_folder" / "patient_042.jpg"
    with pytest.raises(ImageLoadError) as err:
        load_image(missing)
    msg = str(err.value)
    assert "patient_042.jpg" in msg and "not found" in msg and "secret_folder" not in msg


def test_bad_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageLoadError, match=r"empty\.jpg.*empty \(0 bytes\)"):
        load_image(tmp_path / "empty.jpg")
    (tmp_path / "notes.jpg").write_text("this is not a photo\n")
    with pytest.raises(ImageLoadError, match=r"notes\.jpg: not an image"):
        load_image(tmp_path / "notes.jpg")
    with pytest.raises(ImageLoadError, match="is a folder"):
        load_image(tmp_path)


def test_postscript_is_never_decoded(tmp_path):
    # Decoding EPS would run Ghostscript on the file; it is refused like any non-image.
    path = tmp_path / "figure.jpg"
    Image.new("RGB", (8, 8)).save(path, "EPS")
    assert Image.open(path).format == "EPS"
    with pytest.raises(ImageLoadError, match=r"figure\.jpg: not an image file that can be read"):
        load_image(path)


def test_multi_picture_jpeg_is_read(tmp_path):
    a, b = _blocks(), _blocks()[::-1].copy()
    path = tmp_path / "camera.jpg"
    Image.fromarray(a).save(path, "MPO", save_all=True, append_images=[Image.fromarray(b)], subsampling=0)
    assert Image.open(path).format == "MPO"
    assert np.abs(load_image(path).astype(int) - a).mean() < 3


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_raise(tmp_path, fmt):
    path = tmp_path / f"cut.{fmt.lower()}"
    Image.fromarray(_rgb(64, 64)).save(path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # Pillow can still read the header, so the failure must come from decoding.
    assert Image.open(path).size == (64, 64)
    with pytest.raises(ImageLoadError, match=r"damaged or truncated"):
        load_image(path)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )


def test_fifty_megapixels_refused_from_header_before_decoding(tmp_path, monkeypatch):
    decoded = []
    original = ImageFile.ImageFile.load

    def spy(self):  # type: ignore[no-untyped-def]
        decoded.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(8000, 6250))  # exactly 50 MP
    with pytest.raises(ImageLoadError, match=r"huge\.png: the image is too large \(8000x6250 = 50\.0 MP\)"):
        load_image(path)
    assert decoded == []
    # Far past Pillow's own bomb limit: Pillow refuses in open(); still one clear ImageLoadError.
    path.write_bytes(_png_header_only(20000, 10000))
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(path)
    assert decoded == []


def test_pixel_limit_boundary_on_real_images(tmp_path, monkeypatch):
    monkeypatch.setattr(imageio, "MAX_PIXELS", 100)
    Image.fromarray(_rgb(10, 10)).save(tmp_path / "at.png")
    Image.fromarray(_rgb(9, 11)).save(tmp_path / "below.png")
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(tmp_path / "at.png")
    assert load_image(tmp_path / "below.png").shape == (9, 11, 3)


def test_unsupported_mode_is_refused(tmp_path):
    # Pillow never opens a file as "La" (premultiplied grey + alpha); it stands in for any mode
    # without a defined conversion.
    with pytest.raises(ImageLoadError, match=r"x\.png: unsupported colour mode 'La'"):
        imageio._to_rgb(Image.new("La", (2, 2)), "x.png")


def test_iter_image_paths(tmp_path):
    root = tmp_path / "photos"
    (root / "b" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    files = [root / "z.JPG", root / "a.png", root / "b" / "c.webp", root / "b" / "deep" / "d.TIFF"]
    for f in files:
        f.write_bytes(b"x")
    (root / "notes.txt").write_text("x")
    (root / "b" / "._c.webp").write_bytes(b"x")  # macOS resource fork
    (root / ".hidden" / "e.jpg").write_bytes(b"x")
    single = tmp_path / "single.gif"  # given explicitly: kept whatever its suffix
    single.write_bytes(b"x")

    out = iter_image_paths([single, root, root / "a.png"])
    assert out == [
        single,
        root / "a.png",
        root / "b" / "c.webp",
        root / "b" / "deep" / "d.TIFF",
        root / "z.JPG",
    ]
    assert {p.suffix.lower() for p in out[1:]} <= SUPPORTED_SUFFIXES

    with pytest.raises(GmxaiError, match=r"nowhere\.jpg: no such file or folder"):
        iter_image_paths([root, tmp_path / "nowhere.jpg"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(GmxaiError, match="no images found"):
        iter_image_paths([tmp_path / "empty"])


def test_supported_suffixes():
    expected = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
    assert frozenset(expected) == SUPPORTED_SUFFIXES


def test_to_model_input_matches_torchvision_pipeline():
    from torchvision import transforms

    arr = _rgb(37, 53, seed=5)
    pil = Image.fromarray(arr)
    grey = to_model_input(arr, (100, 100), 1)
    ref = transforms.Compose(
        [transforms.Resize((100, 100)), transforms.Grayscale(1), transforms.PILToTensor()]
    )
    assert grey.dtype == np.uint8 and grey.shape == (1, 100, 100)
    np.testing.assert_array_equal(grey, ref(pil).numpy())

    rgb = to_model_input(arr, (40, 30), 3)
    ref3 = transforms.Compose([transforms.Resize((40, 30)), transforms.PILToTensor()])
    assert rgb.shape == (3, 40, 30)
    np.testing.assert_array_equal(rgb, ref3(pil).numpy())
    # Same size: no resampling at all.
    np.testing.assert_array_equal(to_model_input(arr, (37, 53), 3), arr.transpose(2, 0, 1))


def test_to_model_input_rejects_bad_arrays():
    with pytest.raises(ValueError):
        to_model_input(np.zeros((4, 4), np.uint8), (2, 2), 1)
    with pytest.raises(ValueError):
        to_model_input(np.zeros((4, 4, 3), np.float32), (2, 2), 1)
    with pytest.raises(ValueError):
        to_model_input(np.zeros((4, 4, 3), np.uint8), (2, 2), 2)


def test_load_then_model_input_from_file(tmp_path: Path):
    arr = _rgb(50, 60, seed=9)
    Image.fromarray(arr).save(tmp_path / "x.png")
    from torchvision import transforms

    ref = transforms.Compose(
        [transforms.Resize((100, 100)), transforms.Grayscale(1), transforms.PILToTensor()]
    )
    np.testing.assert_array_equal(
        to_model_input(load_image(tmp_path / "x.png"), (100, 100), 1),
        ref(Image.open(tmp_path / "x.png")).numpy(),
    )
