"""Labels, mask handling and the evaluate report (core and CLI)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gmxai_desktop.core.analysis import evaluate as ev
from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.inputs.labels import find_labels_csv, read_label_table, read_labels


def _img(path: Path, value: int = 128, size: int = 112) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


# --------------------------------------------------------------------------------------------
# labels.py


def test_labels_from_csv_with_spreadsheet_dialects(tmp_path, caplog):
    root = tmp_path / "imgs"
    a, b = _img(root / "x" / "a.png"), _img(root / "b.png")
    (tmp_path / "l.csv").write_text("\ufeffImage ; Label\nx/a.png;syn1\n b.png ; syn2 \n\nmissing.png;syn1\n")
    with caplog.at_level(logging.WARNING):
        labels = read_labels(root, tmp_path / "l.csv")
    assert labels == {a: "syn1", b: "syn2"}
    assert "missing.png does not exist" in caplog.text and "line 5" in caplog.text
    table = read_label_table(root, tmp_path / "l.csv")
    assert table.classes == ["syn1", "syn2"] and len(table.problems) == 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("file,class\na.png,x\n", "lacks the column"),
        ("image,label\na.png,\n", "has no label"),
        ("image,label\n,x\n", "image cell is empty"),
        ("image,label\na.png,x\na.png,y\n", "labelled 'y' here but 'x' on line 2"),
        ("image,label\nnope1.png,x\nnope2.png,x\n", "none of the 2 images"),
    ],
)
def test_malformed_label_files(tmp_path, text, match):
    _img(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(ParameterError, match=match):
        read_labels(tmp_path, tmp_path / "labels.csv")


def test_labels_from_folders_and_auto_csv(tmp_path):
    root = tmp_path / "images"
    a = _img(root / "syn1" / "a.png")
    b = _img(root / "syn2" / "deeper" / "b.jpg")
    _img(root / "loose.png")
    _img(root / ".hidden" / "c.png")
    table = read_label_table(root)
    assert table.source == "folders" and table.labels == {a: "syn1", b: "syn2"}
    assert any("loose.png" in p for p in table.problems)
    # The demo-data layout: DIR/images + DIR/labels.csv is found without an option.
    (tmp_path / "labels.csv").write_text("image,label\nsyn1/a.png,other\n")
    assert find_labels_csv(root) == tmp_path / "labels.csv"
    assert read_labels(root) == {a: "other"}
    with pytest.raises(ParameterError, match="does not exist"):
        read_labels(tmp_path / "nothing")


# --------------------------------------------------------------------------------------------
# mask geometry


def test_mask_to_map_follows_alignment_and_resizes_nearest():
    mask = np.zeros((112, 112), bool)
    mask[50:60, 30:40] = True
    out = ev.mask_to_map(mask, (112, 112), np.eye(2, 3), (112, 112), (100, 100), "m")
    assert out.shape == (100, 100)
    ys, xs = np.nonzero(out)
    assert abs(ys.mean() - 54.5 * 100 / 112) < 1 and abs(xs.mean() - 34.5 * 100 / 112) < 1
    # A shift by (+10, -5) in the alignment moves the mask with the face.
    shift = np.array([[1.0, 0, 10], [0, 1.0, -5]])
    out = ev.mask_to_map(mask, (112, 112), shift, (112, 112), (112, 112), "m")
    ys, xs = np.nonzero(out)
    assert (ys.min(), xs.min()) == (45, 40)
    with pytest.raises(Exception, match="mask is 112x112 px but the image is 90x100"):
        ev.mask_to_map(mask, (100, 90), None, (100, 90), (100, 100), "m")


# --------------------------------------------------------------------------------------------
# evaluate() on the bundled demo model, with the engine replaced where we need exact answers


@pytest.fixture(scope="module")
def demo_subset(tmp_path_factory):
    """Two bundled demo faces per class, with their labels and masks."""
    from gmxai_desktop.core.demo import demo_data_dir

    src = demo_data_dir()
    root = tmp_path_factory.mktemp("demo")
    lines = (src / "labels.csv").read_text().splitlines()
    keep: dict[str, int] = {}
    rows = [lines[0]]
    for line in lines[1:]:
        image, label = line.split(",")
        if keep.get(label, 0) < 2:
            keep[label] = keep.get(label, 0) + 1
            rows.append(line)
            (root / "images" / Path(image).parent).mkdir(parents=True, exist_ok=True)
            (root / "images" / image).write_bytes((src / "images" / image).read_bytes())
            (root / "masks").mkdir(exist_ok=True)
            stem = Path(image).stem + ".png"
            (root / "masks" / stem).write_bytes((src / "masks" / stem).read_bytes())
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def demo_adapter():
    from gmxai_desktop.core.models import load_model

    return load_model("demo", device="cpu")


def test_evaluate_accuracy_and_scores_with_oracle_maps(demo_subset, demo_adapter, monkeypatch):
    """An engine whose map *is* the mask must score 100 %; its negation must score 0 %."""
    from gmxai_desktop.core.attribution import engine
    from gmxai_desktop.core.attribution.methods.base import AttributionResult

    current: dict[str, np.ndarray] = {}
    real_load = ev.read_mask

    def spy_read_mask(path):
        m = real_load(path)
        current["mask"] = m
        return m

    def fake_explain(adapter, x, methods, *, target, params=None, job=None, shared=None):
        assert isinstance(target, int)  # the true class, as an index
        m = ev.mask_to_map(current["mask"], (112, 112), None, (112, 112), tuple(x.shape[-2:]), "m")
        maps = {"gradcam": m.astype(np.float32), "saliency": -m.astype(np.float32)}
        return [AttributionResult(name, maps[name], {}, target, "", "", 0.0, 0.0, "", 0.001)
                for name in methods]

    monkeypatch.setattr(ev, "read_mask", spy_read_mask)
    monkeypatch.setattr(engine, "explain", fake_explain)
    report = ev.evaluate(demo_adapter, demo_subset / "images", demo_subset / "labels.csv",
                         demo_subset / "masks", ["gradcam", "saliency"])
    assert report.n_images == 14 and report.n_masks == 12  # unaffected has empty masks
    scores = {m.method: m for m in report.methods}
    assert scores["gradcam"].pointing_game == 1.0 and scores["gradcam"].relevance_mass == 1.0
    assert scores["saliency"].pointing_game == 0.0 and scores["saliency"].no_positive == 12
    assert np.isnan(scores["saliency"].relevance_mass)
    assert 0 < report.chance < 0.2
    d = report.as_dict()
    assert d["methods"][0]["per_class"]["macrostomia"]["n"] == 2
    json.dumps(d)  # serialisable
    text = ev.format_report(report)
    assert "Grad-CAM" in text and "100.0%" in text and "chance (uniform map)" in text
    md = ev.format_report(report, markdown=True)
    assert md.count("|---") >= 2


def test_evaluate_real_engine_and_cli(demo_subset, capsys):
    from gmxai_desktop.cli.main import main

    code = main(["evaluate", "--model", "demo", "--device", "cpu", "--images", str(demo_subset / "images"),
                 "--masks", str(demo_subset / "masks"), "--methods", "gradcam,saliency", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["n_images"] == 14 and out["top1"] >= 0.7 and out["masks_scored"] == 12
    gc = next(m for m in out["methods"] if m["method"] == "gradcam")
    assert gc["n"] == 12 and 0.0 <= gc["relevance_mass"] <= 1.0
    # Plain text, no masks: accuracy only.
    assert main(["evaluate", "--model", "demo", "--device", "cpu", "--images",
                 str(demo_subset / "images")]) == 0
    text = capsys.readouterr().out
    assert "top-1" in text and "Localisation" not in text
    # --methods without --masks is a user error (exit 2, no traceback).
    assert main(["evaluate", "--model", "demo", "--images", str(demo_subset / "images"),
                 "--methods", "gradcam"]) == 2


def test_evaluate_rejects_labels_the_model_does_not_know(tmp_path, demo_adapter):
    _img(tmp_path / "images" / "cat" / "a.png")
    with pytest.raises(ParameterError, match="none of the labels are classes of this model"):
        ev.evaluate(demo_adapter, tmp_path / "images")
