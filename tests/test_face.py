"""Face detection and alignment on real photos that ship inside the scikit-image / matplotlib wheels."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import retinaface
import skimage.data
import skimage.transform

from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.inputs.face import (
    ARCFACE_112_POINTS,
    TEMPLATES,
    AlignedFace,
    apply_matrix,
    detect_faces,
    format_landmarks_csv,
    landmarks_row,
    prepare_face,
    read_landmarks_csv,
    similarity_transform,
)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())


@pytest.fixture(scope="module")
def grace() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        return np.asarray(Image.open(fh).convert("RGB"))


def test_similarity_transform_matches_skimage():
    transform = skimage.transform
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 500, (5, 2))
    m = similarity_transform(src, ARCFACE_112_POINTS)
    if hasattr(transform.SimilarityTransform, "from_estimate"):
        ref = transform.SimilarityTransform.from_estimate(src, ARCFACE_112_POINTS)
    else:  # scikit-image < 0.26
        ref = transform.SimilarityTransform()
        assert ref.estimate(src, ARCFACE_112_POINTS)
    np.testing.assert_allclose(m, ref.params[:2], atol=1e-9)
    # An exact similarity is recovered exactly.
    angle, scale, t = 0.3, 0.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    np.testing.assert_allclose(similarity_transform(src, src @ rot.T + t), np.c_[rot, t], atol=1e-9)


def test_templates():
    arc, gm = TEMPLATES["arcface112"], TEMPLATES["gm-v1"]
    assert arc.size == (112, 112) and gm.size == (100, 100)
    np.testing.assert_array_equal(arc.points, ARCFACE_112_POINTS)
    # gm-v1 is the ArcFace layout scaled about a centre: a similarity of it, eyes inside the crop.
    m = similarity_transform(arc.points, gm.points)
    np.testing.assert_allclose(apply_matrix(m, arc.points), gm.points, atol=1e-9)
    assert m[0, 1] == pytest.approx(0.0, abs=1e-12)  # no rotation
    assert np.all((gm.points > 5) & (gm.points < 95))
    assert abs(gm.points[:2, 0].mean() - 50) < 1.0  # eyes centred left-right


def test_float_landmarks_agree_with_package_decoding(astronaut, grace):
    for img in (astronaut, grace):
        ours = detect_faces(img)
        theirs = retinaface.detect_faces(img)
        assert len(ours) == len(theirs) == 1
        ref = np.array([[p.x, p.y] for p in theirs[0].landmarks], dtype=float)
        # The package truncates to int (and uses a mean of 127 instead of 123 for red).
        assert np.abs(ours[0].landmarks - ref).max() < 1.5
        assert ours[0].score == pytest.approx(theirs[0].score, abs=2e-3)
        box = ours[0].box
        assert box[0] == pytest.approx(theirs[0].x, abs=1.5) and box[1] == pytest.approx(theirs[0].y, abs=1.5)


@pytest.mark.parametrize("template", ["arcface112", "gm-v1"])
@pytest.mark.parametrize("photo", ["astronaut", "grace"])
def test_aligned_eyes_land_on_the_template(photo, template, request):
    img = request.getfixturevalue(photo)
    face = prepare_face(img, template)
    tpl = TEMPLATES[template]
    assert face.status == "aligned" and face.aligned and face.n_faces == 1
    assert face.image.shape == (tpl.height, tpl.width, 3)
    # Detected landmarks mapped by the returned matrix: the alignment's own residual.
    mapped = apply_matrix(face.matrix, face.landmarks)
    assert np.linalg.norm(mapped[:2] - tpl.points[:2], axis=1).max() < 3.0
    # The stronger test: detect again on the aligned crop.
    again = detect_faces(face.image)
    assert len(again) == 1
    assert np.linalg.norm(again[0].landmarks[:2] - tpl.points[:2], axis=1).max() < 3.0


def test_downscaled_detection_maps_back_to_original_pixels(astronaut):
    import cv2

    # A 1280 px photo is detected at 640 px. Detecting on our own 640 px copy (same pixels the
    # network sees) must give exactly the same landmarks after the pixel-centre mapping.
    big = cv2.resize(astronaut, (1280, 1280), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(big, (640, 640), interpolation=cv2.INTER_AREA)
    on_big = detect_faces(big)[0]
    on_small = detect_faces(small)[0]
    np.testing.assert_allclose(on_big.landmarks, (on_small.landmarks + 0.5) * 2.0 - 0.5, atol=1e-6)
    np.testing.assert_allclose(on_big.box, (on_small.box + 0.5) * 2.0 - 0.5, atol=1e-6)
    # And the face is where it is in the original photo, up to the detector's own noise.
    base = detect_faces(astronaut)[0].landmarks
    assert np.abs(on_big.landmarks / 2.5 - base).max() < 2.5


def test_translation_by_anchor_strides_is_exact(astronaut):
    # Offsets that are multiples of the largest stride (32) move every anchor onto another anchor:
    # the decoded landmarks must move by exactly the offset (no off-by-one in the priors).
    canvas = np.zeros((512 + 64, 512 + 32, 3), np.uint8)
    canvas[64:, 32:] = astronaut
    a = detect_faces(astronaut)[0].landmarks
    b = detect_faces(canvas)[0].landmarks
    np.testing.assert_allclose(b - a, np.broadcast_to([32.0, 64.0], a.shape), atol=0.3)


def test_statuses(astronaut, grace):
    small = np.full((112, 112, 3), 128, np.uint8)
    f = prepare_face(small, "arcface112")
    assert (f.status, f.aligned, f.image is not None) == ("pre-aligned", True, True)
    np.testing.assert_array_equal(f.image, small)
    np.testing.assert_array_equal(f.matrix, np.eye(2, 3))

    blank = np.full((300, 400, 3), 90, np.uint8)
    f = prepare_face(blank, "gm-v1")
    assert f.status == "no-face" and not f.aligned and "no face found" in f.message
    assert f.image.shape == blank.shape and f.landmarks is None

    f = prepare_face(astronaut, "none")
    assert f.status == "not-aligned" and f.image.shape == astronaut.shape
    f = prepare_face(astronaut, "arcface112", align="none")
    assert f.status == "not-aligned"
    f = prepare_face(astronaut, "arcface112", align="aligned")
    assert f.status == "pre-aligned" and f.image.shape == astronaut.shape
    f = prepare_face(small, "arcface112", align="detect")
    assert f.status == "no-face"

    # Two faces: the most confident is kept and the choice is reported.
    g = grace[:512, :512]
    both = np.concatenate([astronaut, g], axis=1)
    f = prepare_face(both, "arcface112")
    assert f.status == "aligned" and f.n_faces == 2
    assert "2 faces found; kept the most confident" in f.message
    best = max(detect_faces(astronaut)[0].score, detect_faces(g)[0].score)
    assert f.score == pytest.approx(best, abs=1e-3)

    with pytest.raises(ParameterError):
        prepare_face(astronaut, "arcface-128")
    with pytest.raises(ParameterError):
        prepare_face(astronaut, "arcface112", align="sometimes")


def test_imported_landmarks(astronaut):
    detected = prepare_face(astronaut, "arcface112")
    imported = prepare_face(astronaut, "arcface112", landmarks=detected.landmarks)
    assert imported.status == "landmarks-imported" and imported.aligned
    np.testing.assert_array_equal(imported.image, detected.image)
    with pytest.raises(ParameterError):
        prepare_face(astronaut, "arcface112", landmarks=np.zeros((5, 2)))
    with pytest.raises(ParameterError):
        prepare_face(astronaut, "arcface112", landmarks=np.zeros((4, 2)))


def test_landmarks_csv_roundtrip_and_errors(tmp_path, astronaut):
    face = prepare_face(astronaut, "gm-v1")
    rows = [
        landmarks_row("a/astronaut.png", face.status, face.n_faces, face.score, face.landmarks),
        landmarks_row("blank.png", "no-face", 0, None, None),
    ]
    path = tmp_path / "landmarks.csv"
    path.write_text(format_landmarks_csv(rows))
    table = read_landmarks_csv(path)
    assert list(table) == ["a/astronaut.png"]
    np.testing.assert_allclose(table["a/astronaut.png"], face.landmarks, atol=0.006)

    bad = tmp_path / "bad.csv"
    bad.write_text("image,left_eye_x\nx.png,1\n")
    with pytest.raises(ParameterError, match="lacks the column"):
        read_landmarks_csv(bad)
    text = format_landmarks_csv(rows).replace(rows[0]["nose_x"], "abc", 1)
    bad.write_text(text)
    with pytest.raises(ParameterError, match="line 2"):
        read_landmarks_csv(bad)
    with pytest.raises(ParameterError, match="not found"):
        read_landmarks_csv(tmp_path / "missing.csv")


def test_detection_is_thread_safe(grace):
    expected = detect_faces(grace)[0].landmarks
    out: list[np.ndarray] = []

    def work() -> None:
        out.append(detect_faces(grace)[0].landmarks)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3
    for lm in out:
        np.testing.assert_allclose(lm, expected, atol=1e-4)


def test_align_cli(tmp_path, astronaut):
    from PIL import Image

    from gmxai_desktop.cli.main import main

    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(astronaut).save(src / "sub" / "astronaut.jpg", quality=95)
    Image.fromarray(np.full((200, 240, 3), 40, np.uint8)).save(src / "blank.png")
    out = tmp_path / "out"
    assert main(["align", "--template", "arcface112", "--out", str(out), str(src)]) == 0
    crop = np.asarray(Image.open(out / "sub" / "astronaut.png"))
    assert crop.shape == (112, 112, 3)
    assert not (out / "blank.png").exists()
    table = read_landmarks_csv(out / "landmarks.csv")
    assert list(table) == ["sub/astronaut.jpg"]
    text = (out / "landmarks.csv").read_text()
    assert text.splitlines()[0].startswith("image,status,n_faces,score,left_eye_x,left_eye_y")
    assert "blank.png,no-face,0," in text

    # Feed the landmarks back: the same crop, now marked as imported.
    out2 = tmp_path / "out2"
    assert main(["align", "--template", "arcface112", "--out", str(out2), "--landmarks",
                 str(out / "landmarks.csv"), str(src)]) == 0
    crop2 = np.asarray(Image.open(out2 / "sub" / "astronaut.png"))
    assert np.abs(crop2.astype(int) - crop.astype(int)).mean() < 2.0
    assert "landmarks-imported" in (out2 / "landmarks.csv").read_text()
    # Refuses to overwrite.
    assert main(["align", "--template", "gm-v1", "--out", str(out), str(src)]) == 2


def test_aligned_face_contract():
    f = AlignedFace(np.zeros((2, 2, 3), np.uint8), "no-face", "", None, 0, None, None)
    assert not f.aligned
    for status in ("aligned", "pre-aligned", "landmarks-imported"):
        f.status = status
        assert f.aligned
