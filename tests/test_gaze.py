"""Eye-tracking study: fixation files, the photo -> model-grid transform, density, the study table."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from PIL import Image

from gmxai_desktop.cli.main import main as cli_main
from gmxai_desktop.core.demo import demo_data_dir
from gmxai_desktop.core.gaze import image_gaze
from gmxai_desktop.core.gaze.density import Sigma, centre_bias, fixation_density, parse_sigma
from gmxai_desktop.core.gaze.fixations import FixationError, match_images, parse_fixations, read_fixations
from gmxai_desktop.core.gaze.study import ALL, CEILING, FLOOR, ImageGaze, evaluate_image, summarise
from gmxai_desktop.core.gaze.transform import grid_transform, inside_grid, orient_points
from gmxai_desktop.core.inputs.imageio import load_image, to_model_input

# ---- reading ---------------------------------------------------------------------------------


def test_csv_with_optional_columns():
    t = parse_fixations("image,observer,x,y,duration_ms\na.png,o1,1.5,2,200\nsub/b.png,o2,3,4.25,\n")
    assert t.image == ["a.png", "sub/b.png"] and t.observer == ["o1", "o2"]
    np.testing.assert_allclose(t.points, [[1.5, 2.0], [3.0, 4.25]])
    assert t.duration_ms[0] == 200 and math.isnan(t.duration_ms[1]) and np.isnan(t.t_ms).all()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("image,observer,x\na.png,o,1\n", "missing column 'y'"),
        ("image,observer,x,y\na.png,o,1,nan\n", "row 2: y is 'nan'"),
        ("image,observer,x,y\na.png,o,1,2\na.png,o,abc,2\n", "row 3: x is not a number: 'abc'"),
        ("image,observer,x,y\na.png,,1,2\n", "row 2: empty observer"),
        ("image,observer,x,y\n,o,1,2\n", "row 2: empty image name"),
        ("image,observer,x,y\n", "no fixations"),
        ("", "empty"),
    ],
)
def test_bad_csv_gives_one_clear_line(text, needle):
    with pytest.raises(FixationError) as exc:
        parse_fixations(text, "fix.csv")
    msg = str(exc.value)
    assert needle in msg and msg.startswith("fix.csv: ") and "\n" not in msg


def test_tobii_export_one_row_per_fixation_in_photo_pixels():
    head = ("Recording timestamp [ms]\tParticipant name\tRecording name\tPresented Stimulus name\t"
            "Eye movement type\tGaze event duration [ms]\tEye movement type index\tFixation point X\t"
            "Fixation point Y\n")
    rows = [
        "1000\tP1\tR1\tface.png\tFixation\t250\t1\t600\t400",
        "1008\tP1\tR1\tface.png\tFixation\t250\t1\t600\t400",  # same fixation, next sample
        "1016\tP1\tR1\tface.png\tSaccade\t30\t1\t\t",
        "1050\tP1\tR1\tface.png\tFixation\t180\t2\t700\t500",
        "1060\tP1\tR1\tface.png\tEyesNotFound\t10\t1\t\t",
    ]
    t = parse_fixations(head + "\n".join(rows) + "\n", "export.tsv", origin=(500, 300), scale=2.0)
    assert t.observer == ["P1", "P1"]
    np.testing.assert_allclose(t.points, [[50, 50], [100, 100]])
    np.testing.assert_allclose(t.duration_ms, [250, 180])
    np.testing.assert_allclose(t.t_ms, [1000, 1050])


def test_tobii_errors_name_the_line_in_the_file():
    text = ("Participant name\tPresented Stimulus name\tEye movement type\tEye movement type index\t"
            "Fixation point X\tFixation point Y\n"
            "P1\tface.png\tSaccade\t1\t\t\n"
            "P1\tface.png\tFixation\t1\t10\t20\n"
            "P1\tface.png\tSaccade\t2\t\t\n"
            "P1\tface.png\tFixation\t2\tx\t20\n")
    with pytest.raises(FixationError, match=r"export\.tsv: row 5: x is not a number"):
        parse_fixations(text, "export.tsv")


def test_eyelink_report_with_missing_values_and_column_override():
    text = ("RECORDING_SESSION_LABEL\tTRIAL_INDEX\tstim\tCURRENT_FIX_X\tCURRENT_FIX_Y\tCURRENT_FIX_DURATION\t"
            "CURRENT_FIX_START\ns01\t1\tface.jpg\t512.5\t384.0\t212\t.\n")
    with pytest.raises(FixationError, match="missing column 'image'"):
        parse_fixations(text, "report.xls")
    t = parse_fixations(text, "report.xls", columns={"image": "stim"})
    assert t.image == ["face.jpg"] and t.observer == ["s01"]
    np.testing.assert_allclose(t.points, [[512.5, 384.0]])
    assert t.duration_ms[0] == 212 and math.isnan(t.t_ms[0])


def test_match_images_by_relative_path_name_or_stem(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "a" / "y.png"]
    t = parse_fixations("image,observer,x,y\na/x.png,o,1,1\ny,o,1,1\n", "f.csv")
    got = match_images(t, paths, tmp_path)
    assert got == {"a/x.png": paths[0], "y": paths[2]}
    with pytest.raises(FixationError, match="matches 2 files"):
        match_images(parse_fixations("image,observer,x,y\nx.png,o,1,1\n", "f.csv"), paths, tmp_path)
    with pytest.raises(FixationError, match=r"unknown image 'z\.png'"):
        match_images(parse_fixations("image,observer,x,y\nz.png,o,1,1\n", "f.csv"), paths, tmp_path)


# ---- transform -------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_moves_points_like_the_pixels(tmp_path, orientation):
    w, h, (c, r) = 7, 5, (5, 1)
    img = np.zeros((h, w, 3), np.uint8)
    img[r, c] = 255
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "o.png"
    pil.save(path, exif=exif)
    upright = load_image(path)
    rr, cc = np.argwhere(upright[:, :, 0] == 255)[0]
    tf = grid_transform(path, None, upright.shape[:2], upright.shape[:2])
    assert tf.orientation == orientation
    np.testing.assert_allclose(tf.apply(np.array([[c + 0.5, r + 0.5]])), [[cc + 0.5, rr + 0.5]])
    np.testing.assert_allclose(tf.apply(np.array([[c + 0.5, r + 0.5]]), frame="oriented"),
                               [[c + 0.5, r + 0.5]])


def test_orient_points_round_trip_for_the_inverse_orientations():
    pts = np.array([[0.0, 0.0], [7.0, 5.0], [2.5, 1.0]])
    inverse = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
    for o, back in inverse.items():
        moved = orient_points(pts, o, (7, 5))
        size = (5, 7) if o >= 5 else (7, 5)
        np.testing.assert_allclose(orient_points(moved, back, size), pts)


def _marker_centroid(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    diff = np.abs(after.astype(float) - before.astype(float)).sum(axis=2)
    ys, xs = np.indices(diff.shape)
    return np.array([(xs * diff).sum() / diff.sum() + 0.5, (ys * diff).sum() / diff.sum() + 0.5])


@pytest.mark.parametrize(("template", "grid"), [("gm-v1", (100, 100)), ("arcface112", (224, 224))])
def test_fixation_on_a_landmark_lands_on_it_in_the_aligned_grid(tmp_path, template, grid):
    """A marker painted on each detected landmark of a real photo goes through the image pipeline
    (alignment warp + resize to the model grid); the fixation placed on it goes through the point
    transform. Both must agree within 1 px."""
    from gmxai_desktop.core.inputs.face import prepare_face

    photo = np.ascontiguousarray(skimage.data.astronaut())
    path = tmp_path / "astronaut.png"
    Image.fromarray(photo).save(path)
    face = prepare_face(load_image(path), template, align="detect")
    assert face.status == "aligned"
    base = to_model_input(face.image, grid, 3).transpose(1, 2, 0)
    for lm in face.landmarks:
        cx, cy = np.round(lm).astype(int)
        marked = photo.copy()
        cv2.circle(marked, (int(cx), int(cy)), 3, (0, 255, 0), -1)
        warped = prepare_face(marked, template, landmarks=face.landmarks)
        seen = to_model_input(warped.image, grid, 3).transpose(1, 2, 0)
        tf = grid_transform(path, face.matrix, face.image.shape[:2], grid)
        mapped = tf.apply(np.array([[cx + 0.5, cy + 0.5]]))[0]
        assert np.abs(mapped - _marker_centroid(base, seen)).max() < 1.0


def test_v1_model_on_a_100px_image_maps_fixations_to_themselves(tmp_path):
    from gmxai_desktop.core.inputs.pipeline import prepare_file
    from gmxai_desktop.core.models import load_model

    rng = np.random.default_rng(0)
    path = tmp_path / "crop.png"
    Image.fromarray(rng.integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(path)
    adapter = load_model("demo")
    prep = prepare_file(adapter, path)
    tf = grid_transform(path, prep.face.matrix, prep.face.image.shape[:2], prep.display.shape[:2])
    pts = rng.uniform(0, 100, (50, 2))
    np.testing.assert_allclose(tf.apply(pts), pts, atol=1e-9)
    np.testing.assert_allclose(tf.inverse(pts), pts, atol=1e-9)
    assert tf.scale == pytest.approx(1.0)


def test_points_outside_the_crop_are_kept_and_counted():
    pts = np.array([[-1.0, 5.0], [5.0, 5.0], [10.0, 0.0], [9.99, 9.99]])
    np.testing.assert_array_equal(inside_grid(pts, (10, 10)), [False, True, False, True])
    g = ImageGaze("x", ["a", "a", "b", "b"], pts, np.full(4, np.nan), (10, 10), 1.0)
    assert g.n_outside == 2 and len(g.points) == 4 and g.observers() == ["a", "b"]


# ---- density ---------------------------------------------------------------------------------


def test_density_is_a_normalised_gaussian_around_each_fixation():
    d = fixation_density(np.array([[20.5, 10.5]]), (30, 40), 3.0)
    ys, xs = np.indices(d.shape)
    g = np.exp(-((xs - 20) ** 2 + (ys - 10) ** 2) / (2 * 3.0**2))
    np.testing.assert_allclose(d, g / g.sum(), atol=2e-4)
    assert d.sum() == pytest.approx(1.0)
    assert fixation_density(np.array([[-5.0, 1.0]]), (4, 4), 1.0).sum() == 0.0
    c = centre_bias((10, 20))
    assert c.sum() == pytest.approx(1.0) and c[4:6, 9:11].min() == c.max()


def test_sigma_units():
    assert parse_sigma("4").grid_px() == 4.0 and parse_sigma("2.5px").grid_px(0.5) == 2.5
    deg = parse_sigma("1deg", screen_distance_cm=60, pixel_pitch_mm=0.25, display_scale=2.0)
    # 600 mm · tan(1°) / 0.25 mm = 41.89 screen px = 20.94 photo px; at 0.5 grid px per photo px:
    assert deg.grid_px(0.5) == pytest.approx(600 * math.tan(math.radians(1)) / 0.25 / 2 * 0.5)
    for bad in ("-1", "abc", "90deg"):
        with pytest.raises(Exception, match="sigma"):
            parse_sigma(bad)


# ---- study -----------------------------------------------------------------------------------


def _demo_gazes() -> list[ImageGaze]:
    data = demo_data_dir()
    table = read_fixations(data / "fixations.csv")
    images = sorted((data / "images").rglob("*.png"))
    matched = match_images(table, images, data / "images")
    assert len(matched) == 56
    out = []
    for key, path in matched.items():
        tf = grid_transform(path, None, (112, 112), (100, 100))
        out.append(image_gaze(key, table.for_image(key), tf, Sigma()))
    return out


def test_demo_fixations_are_realistic_and_ceiling_beats_floor():
    gazes = _demo_gazes()
    assert all(len(g.observers()) >= 3 for g in gazes)
    rows = []
    for g in gazes:
        rows += evaluate_image(g, {}, other_fixations=None)
    s = summarise(rows)
    for k in ("NSS", "AUC_Judd", "CC", "SIM", "IG", "IoU"):
        assert s.mean[CEILING][k] > s.mean[FLOOR][k], k
    assert s.mean[CEILING]["KLD"] < s.mean[FLOOR]["KLD"]
    table = read_fixations(demo_data_dir() / "fixations.csv")
    assert np.all((table.duration_ms >= 100) & (table.duration_ms <= 400))


def test_demo_fixations_regenerate_byte_for_byte():
    from gmxai_desktop.core.demo.fixations import demo_fixations_csv

    data = demo_data_dir()
    assert demo_fixations_csv(data) == (data / "fixations.csv").read_text()


def test_study_rows_per_observer_pooled_ceiling_and_floor():
    pts = np.array([[10.5, 10.5], [30.5, 12.5], [11.5, 9.5], [29.5, 30.5]])
    g = ImageGaze("img", ["a", "a", "b", "b"], pts, np.full(4, np.nan), (40, 40), 2.0)
    m = fixation_density(pts, (40, 40), 2.0)
    rows = evaluate_image(g, {"perfect": m, "negative": -m}, other_fixations=None)
    key = {(r["method"], r["observer"]): r for r in rows}
    methods = ("perfect", "negative", CEILING, FLOOR)
    assert set(key) == {(meth, o) for meth in methods for o in ("a", "b", ALL)}
    # The pooled density predicts the pooled fixations perfectly: CC 1, SIM 1, KLD ~0, IoU 1.
    assert key["perfect", ALL]["CC"] == pytest.approx(1.0)
    assert key["perfect", ALL]["SIM"] == pytest.approx(1.0)
    assert key["perfect", ALL]["KLD"] == pytest.approx(0.0, abs=1e-9)
    assert key["perfect", ALL]["IoU"] == 1.0
    # positive part of a negative map is empty: no prediction, NaN, not a score.
    assert math.isnan(key["negative", ALL]["NSS"])
    # The ceiling's pooled row is the mean of the leave-one-out rows.
    loo = (key[CEILING, "a"]["NSS"] + key[CEILING, "b"]["NSS"]) / 2
    assert key[CEILING, ALL]["NSS"] == pytest.approx(loo)
    assert key[FLOOR, ALL]["IG"] == 0.0


# ---- command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("csv_text", "needle"),
    [
        ("image,observer,x\nx.png,o,1\n", "missing column 'y'"),
        ("image,observer,x,y\nnot_there.png,o,1,1\n", "unknown image 'not_there.png'"),
        ("image,observer,x,y\nx.png,o,NaN,1\n", "x is 'NaN'"),
        ("image,observer,x,y\nx.png, ,1,1\n", "empty observer"),
    ],
)
def test_cli_bad_fixation_file_is_one_line_exit_2(tmp_path: Path, capsys, csv_text, needle):
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "f.csv").write_text(csv_text)
    code = cli_main(["gaze", "--model", "demo", "--fixations", str(tmp_path / "f.csv"), "--methods",
                     "gradcam", "--out", str(tmp_path / "out"), str(tmp_path / "x.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("gmxai gaze: error: f.csv: ") and needle in err and "\n" not in err


def test_cli_writes_the_study(tmp_path: Path, capsys):
    src = demo_data_dir()
    imgs = tmp_path / "images"
    imgs.mkdir()
    lines = ["image,observer,x,y,duration_ms"]
    for rel in ("hypertelorism/hypertelorism_0000.png", "macrostomia/macrostomia_0000.png"):
        (imgs / Path(rel).name).write_bytes((src / "images" / rel).read_bytes())
        lines += [ln.replace(rel, Path(rel).name).rsplit(",", 1)[0] for ln in
                  (src / "fixations.csv").read_text().splitlines() if ln.startswith(rel)]
    lines.append("hypertelorism_0000.png,late,-20,5,150")  # off the photo: counted, kept
    (tmp_path / "f.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code = cli_main(["gaze", "--model", "demo", "--fixations", str(tmp_path / "f.csv"), "--methods",
                     "gradcam,saliency", "--out", str(out), str(imgs)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "1 of" in cap.err and "outside the face crop" in cap.err
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert header == "image,method,observer,NSS,AUC_Judd,sAUC,CC,SIM,KLD,IG,IoU"
    d = out / "hypertelorism_0000"
    files = {"gradcam.npy", "saliency.npy", "fixations.csv", "fixation_density.npy"}
    assert {p.name for p in d.iterdir()} == files
    assert np.load(d / "gradcam.npy").shape == (100, 100)
    assert np.load(d / "fixation_density.npy").sum() == pytest.approx(1.0, abs=1e-5)
    fx = (d / "fixations.csv").read_text().splitlines()
    assert fx[0] == "observer,x,y,duration_ms" and fx[-1].startswith("late,-17.857")
    rows = [r.split(",") for r in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert {r[1] for r in rows} == {"gradcam", "saliency", CEILING, FLOOR}
    assert all(math.isfinite(float(r[5])) for r in rows if r[1] == "gradcam")  # sAUC uses the other image
    assert (out / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_figure_points_layer_draws_each_fixation_where_it_is():
    from gmxai_desktop.core.gaze.overlay import observer_colors, points_layer
    from gmxai_desktop.core.output.figure import FigureSpec, PanelSpec, figure_bytes, figure_to_rgb

    g = ImageGaze("x", ["a", "b"], np.array([[10.0, 10.0], [30.0, 30.0]]), np.array([100.0, 400.0]),
                  (40, 40), 2.0)
    layer = points_layer(g, base_area_pt2=60.0)
    assert list(layer.colors) == [observer_colors(["a", "b"])[o] for o in ("a", "b")]
    assert layer.sizes[1] == pytest.approx(4 * layer.sizes[0])  # area ∝ duration (100 vs 400 ms)
    black = np.zeros((40, 40, 3), np.uint8)
    spec = FigureSpec([PanelSpec(kind="image", image=black, colorbar=False, points=layer)], dpi=100,
                      panel_width_in=2.0)
    assert b'id="points-0"' in figure_bytes(spec, "svg")
    rgb = figure_to_rgb(spec).astype(int)
    # The panel is the only non-white block; a point at a quarter of it is yellow-ish.
    ys, xs = np.nonzero((rgb < 250).any(axis=2))
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    py, px = y0 + (y1 - y0) * 10 // 40, x0 + (x1 - x0) * 10 // 40
    r, gg, b = rgb[py, px]
    assert r > 150 and gg > 150 and b < 100
    spec.panels[0].points = None
    r, gg, b = figure_to_rgb(spec).astype(int)[py, px]
    assert max(r, gg, b) < 30
