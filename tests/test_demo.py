"""Synthetic phenotype faces, the demo data layout, demo training and the bundled demo models."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.demo import CLASS_NAMES, DEMO_CLASSES, demo_data_dir, demo_model_paths
from gmxai_desktop.core.demo.dataset import class_counts, face_rngs, write_dataset
from gmxai_desktop.core.demo.faces import make_face

REFERENCE_SHAPES = Path(__file__).parent / "data" / "gestaltmatcher_v1_state_dict_shapes.json"


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    counts = {c: 1 for c in CLASS_NAMES}
    a = write_dataset(tmp_path / "a", counts, seed=5).root
    b = write_dataset(tmp_path / "b", counts, seed=5).root
    assert _digest(a) == _digest(b)
    c = write_dataset(tmp_path / "c", counts, seed=6).root
    da, dc = _digest(a), _digest(c)
    assert da.keys() == dc.keys()
    assert all(da[k] != dc[k] for k in da if k.startswith("images/"))


def test_layout_labels_and_masks(tmp_path):
    counts = class_counts(2, "hypertelorism=1,macrostomia=0")
    info = write_dataset(tmp_path / "d", counts, seed=1)
    with open(info.labels_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [list(r) for r in rows[:1]] == [["image", "label"]]
    assert len(rows) == sum(counts.values()) == 11
    assert {r["label"] for r in rows} == set(CLASS_NAMES) - {"macrostomia"}
    from PIL import Image

    for r in rows:
        img = np.asarray(Image.open(info.images_dir / r["image"]))
        assert img.shape == (112, 112, 3) and img.dtype == np.uint8
        assert r["image"].split("/")[0] == r["label"]
        mask = np.asarray(Image.open(info.masks_dir / (Path(r["image"]).stem + ".png")))
        assert mask.shape == (112, 112) and set(np.unique(mask)) <= {0, 255}
        assert (mask.max() == 0) == (r["label"] == "unaffected")
    meta = json.loads((info.root / "dataset.json").read_text())
    assert meta["seed"] == 1 and meta["counts"]["macrostomia"] == 0
    hpo = {c["name"]: [h["id"] for h in c["hpo"]] for c in meta["classes"]}
    assert hpo["long-smooth-philtrum"] == ["HP:0000343", "HP:0000319"]
    assert hpo["hypertelorism"] == ["HP:0000316"]
    with pytest.raises(ParameterError, match="already holds"):
        write_dataset(tmp_path / "d", counts, seed=1)


# Where each class's change must be (rows of the 112 px face): eyes ~52, nose ~72, mouth ~92.
EXPECTED_ROWS = {
    "hypertelorism": (35, 65),
    "upslanted-palpebral-fissures": (35, 65),
    "micrognathia": (88, 112),
    "long-smooth-philtrum": (64, 104),
    "macrostomia": (80, 104),
    "bulbous-nose": (58, 84),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_masks_cover_the_changed_feature(name):
    lo, hi = EXPECTED_ROWS[name]
    for i in range(3):
        face = make_face(name, *face_rngs(11, name, i))
        assert face.mask is not None and face.mask.any()
        ys, xs = np.nonzero(face.mask)
        assert lo <= ys.mean() <= hi, (name, i, ys.mean())
        assert 40 <= xs.mean() <= 72  # changes are symmetric about the face's midline
        assert (face.mask > 0).mean() < 0.2  # a local change, not the whole face


def test_twins_share_the_person_and_differ_where_the_mask_says():
    plain = make_face("unaffected", *face_rngs(3, "unaffected", 0))
    wide = make_face("macrostomia", *face_rngs(3, "macrostomia", 0))
    assert wide.spec.skin.tolist() == plain.spec.skin.tolist()
    assert wide.spec.mouth_hw > plain.spec.mouth_hw * 1.15
    diff = np.abs(wide.image.astype(int) - plain.image.astype(int)).max(axis=2)
    inside = diff[wide.mask > 0].mean()
    outside = diff[wide.mask == 0].mean()  # sensor noise only
    assert inside > 3 * outside


def test_real_face_detector_finds_the_cartoon_faces_on_the_template():
    from gmxai_desktop.core.inputs.face import ARCFACE_112_POINTS, detect_faces

    for i, name in enumerate(("unaffected", "bulbous-nose", "micrognathia")):
        face = make_face(name, *face_rngs(2, name, i), with_mask=False)
        found = detect_faces(face.image)
        assert len(found) == 1 and found[0].score > 0.9
        err = np.linalg.norm(found[0].landmarks[:2] - ARCFACE_112_POINTS[:2], axis=1)
        assert err.max() < 7.0


def test_class_counts():
    assert class_counts(3) == {c: 3 for c in CLASS_NAMES}
    z = class_counts(300, "zipf")
    assert z["unaffected"] == 300 and min(z.values()) == 10 and max(z.values()) == 300
    assert sorted(z.values(), reverse=True)[1] < 100
    assert class_counts(300, "zipf:1")["hypertelorism"] == 150
    e = class_counts(5, "hypertelorism=10, micrognathia=0")
    assert e["hypertelorism"] == 10 and e["micrognathia"] == 0 and e["unaffected"] == 5
    for bad in ("zipf:x", "zipf:0", "nose=3", "hypertelorism=-1", "hypertelorism", "hypertelorism=2.5"):
        with pytest.raises(ParameterError):
            class_counts(5, bad)
    with pytest.raises(ParameterError):
        class_counts(0)
    with pytest.raises(ParameterError):
        class_counts(5, ",".join(f"{c}=0" for c in CLASS_NAMES))


def test_classes_carry_hpo_ids():
    by = {c.name: c for c in DEMO_CLASSES}
    assert len(DEMO_CLASSES) >= 6 and "unaffected" in by and not by["unaffected"].hpo
    assert by["micrognathia"].hpo[0][0] == "HP:0000347"
    assert by["macrostomia"].hpo[0][0] == "HP:0000154"
    assert by["bulbous-nose"].hpo[0][0] == "HP:0000414"
    assert by["upslanted-palpebral-fissures"].hpo[0][0] == "HP:0000582"


def test_training_is_deterministic_and_saves_upstream_format(tmp_path):
    """The CLI run and an in-process run with the same settings give bit-identical weights."""
    from gmxai_desktop.cli.main import main
    from gmxai_desktop.core.demo.train import TrainConfig, train_demo_model
    from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1

    cfg = TrainConfig(per_class=1, epochs=1, batch_size=4, eval_per_class=0, threads=1)
    a = train_demo_model(cfg)
    assert main(["train-demo", "--out", str(tmp_path / "tiny.pt"), "--per-class", "1", "--epochs", "1",
                 "--batch-size", "4", "--eval-per-class", "0", "--threads", "1"]) == 0
    state = torch.load(tmp_path / "tiny.pt", weights_only=True)
    reference = a.model.state_dict()
    assert set(state) == set(reference)
    assert all(torch.equal(state[k], reference[k]) for k in state)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    GestaltMatcherV1(num_classes=len(CLASS_NAMES)).load_state_dict(state, strict=True)
    assert (tmp_path / "tiny.classes.txt").read_text().split() == list(CLASS_NAMES)
    meta = json.loads((tmp_path / "tiny.json").read_text())
    assert meta["config"]["seed"] == 0 and meta["classes"][1]["hpo"][0]["id"] == "HP:0000316"
    assert "gmxai train-demo --variant balanced --seed 0" in meta["reproduce"]


def test_training_runs_on_the_device_pick_device_chooses(monkeypatch):
    """``train-demo`` asks the project's device picker ("auto": CUDA when present) and records it."""
    import gmxai_desktop.core.demo.train as train

    asked = []

    def fake_pick(requested):
        asked.append(requested)
        return torch.device("cpu")

    monkeypatch.setattr(train, "pick_device", fake_pick)
    result = train.train_demo_model(train.TrainConfig(per_class=1, epochs=1, batch_size=4, eval_per_class=0,
                                                      threads=1))
    assert asked == ["auto"] and result.extra["device"] == "cpu"
    assert train.metadata(result)["machine"]["device"] == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_cuda_returns_a_cpu_model(tmp_path):
    from gmxai_desktop.core.demo.train import TrainConfig, train_demo_model

    result = train_demo_model(TrainConfig(per_class=2, epochs=1, batch_size=4, eval_per_class=1, threads=1))
    assert result.extra["device"].startswith("cuda")
    assert all(p.device.type == "cpu" for p in result.model.parameters())
    assert result.evaluation is not None and result.evaluation.n == len(CLASS_NAMES)


def test_train_demo_cli_rejects_a_missing_gpu(tmp_path, capsys):
    from gmxai_desktop.cli.main import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train-demo", "--out", str(tmp_path / "x.pt"), "--device", "cuda", "--per-class", "1",
                 "--epochs", "1", "--eval-per-class", "0"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_demo_data_cli(tmp_path, capsys):
    from gmxai_desktop.cli.main import main

    out = tmp_path / "d"
    assert main(["demo-data", "--out", str(out), "--per-class", "1", "--seed", "4",
                 "--imbalance", "macrostomia=2,micrognathia=0"]) == 0
    assert "wrote 7 faces" in capsys.readouterr().out
    assert len(list((out / "images").rglob("*.png"))) == 7 == len(list((out / "masks").glob("*.png")))
    assert main(["demo-data", "--out", str(out), "--per-class", "1"]) == 2  # refuses to overwrite
    assert main(["demo-data", "--out", str(out), "--per-class", "1", "--imbalance", "zipf:x"]) == 2


def test_demo_model_paths_follow_resources_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GMXAI_RESOURCES", str(tmp_path))
    models = tmp_path / "models"
    assert demo_model_paths("demo") == (models / "demo.pt", models / "demo.classes.txt")
    assert demo_model_paths("demo-imbalanced")[0].name == "demo-imbalanced.pt"
    with pytest.raises(ValueError):
        demo_model_paths("other")


@pytest.mark.parametrize("name", ["demo", "demo-imbalanced"])
def test_bundled_models_are_upstream_v1_state_dicts(name):
    ckpt, classes = demo_model_paths(name)
    state = torch.load(ckpt, weights_only=True)
    assert REFERENCE_SHAPES.is_file(), REFERENCE_SHAPES
    reference = json.loads(REFERENCE_SHAPES.read_text())
    shapes = reference.get("shapes", reference)
    assert set(state) == set(shapes)
    for key, shape in shapes.items():
        if not key.startswith("classifier."):
            assert list(state[key].shape) == list(shape), key
    names = classes.read_text().split()
    assert names == list(CLASS_NAMES)
    assert state["classifier.0.weight"].shape == (len(names), 320)
    assert all(v.dtype == torch.float32 for k, v in state.items() if "num_batches" not in k)
    meta = json.loads(ckpt.with_suffix(".json").read_text())
    assert meta["held_out"]["n"] >= 7 * 20


def test_bundled_demo_recipes_are_what_the_issue_asks():
    """demo: >= 90 % top-1 on three fresh seeds; demo-imbalanced: a long tail its recipe reproduces."""
    from gmxai_desktop.core.demo.dataset import class_counts

    demo = json.loads(demo_model_paths("demo")[0].with_suffix(".json").read_text())
    seeds = demo["held_out_seeds"]["seeds"]
    assert len({s["seed"] for s in seeds} - {demo["config"]["seed"], demo["config"]["seed"] + 1}) == 3
    assert all(s["top1"] >= 0.9 and s["n"] == 30 * len(CLASS_NAMES) for s in seeds)
    assert set(demo["train_counts"].values()) == {demo["config"]["per_class"]}
    imb = json.loads(demo_model_paths("demo-imbalanced")[0].with_suffix(".json").read_text())
    counts = imb["train_counts"]
    assert sorted(counts) == sorted(CLASS_NAMES)
    assert min(counts.values()) <= 10 and max(counts.values()) >= 150
    assert counts == class_counts(imb["config"]["per_class"], imb["config"]["imbalance"])
    for key in ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "aux_weight", "seed"):
        assert imb["config"][key] == demo["config"][key], key  # same recipe, only the class sizes differ
    assert imb["train_seconds"] > 0 and imb["held_out"]["top1"] > 0


def test_bundled_demo_bundle_and_accuracy():
    from gmxai_desktop.core.attribution.engine import predict
    from gmxai_desktop.core.demo import load_demo
    from gmxai_desktop.core.inputs.labels import read_labels
    from gmxai_desktop.core.inputs.pipeline import prepare_file

    bundle = load_demo("demo", device="cpu")
    assert bundle.images_dir == demo_data_dir() / "images"
    assert bundle.class_names == list(CLASS_NAMES)
    labels = read_labels(bundle.images_dir, bundle.labels_csv)
    assert len(labels) == 8 * len(CLASS_NAMES)
    assert {p.stem for p in bundle.masks_dir.glob("*.png")} == {p.stem for p in labels}
    correct = 0
    for path, label in labels.items():
        prep = prepare_file(bundle.adapter, path)
        assert prep.status == "pre-aligned"
        correct += predict(bundle.adapter, prep.x, top=1).top[0][1] == label
    assert correct / len(labels) >= 0.85
