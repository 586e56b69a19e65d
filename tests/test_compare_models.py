"""``gmxai compare-models``: every number recomputes from its own output files and the definitions."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from gmxai_desktop.cli.main import main
from gmxai_desktop.core.demo import demo_data_dir, demo_model_paths

PER_CLASS = 2


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Two bundled demo faces per class, labelled by subfolder."""
    root = tmp_path_factory.mktemp("faces")
    for cls_dir in sorted((demo_data_dir() / "images").iterdir()):
        (root / cls_dir.name).mkdir()
        for f in sorted(cls_dir.glob("*.png"))[:PER_CLASS]:
            shutil.copy(f, root / cls_dir.name / f.name)
    return root


def _model_copy(tmp_path: Path, name: str, counts: dict[str, int] | None) -> Path:
    """The bundled demo model under another name, with chosen (or no) training counts in its JSON."""
    ckpt, classes = demo_model_paths("demo")
    out = tmp_path / f"{name}.pt"
    shutil.copy(ckpt, out)
    shutil.copy(classes, tmp_path / f"{name}.classes.txt")
    if counts is not None:
        (tmp_path / f"{name}.json").write_text(json.dumps({"train_counts": counts}))
    return out


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "agreement.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _top_share(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> float:
    """From the definition: the share of A's top-10 % pixels that are among B's top 10 %."""
    k = math.ceil(fraction * a.size)
    top_a = set(np.argsort(-a.ravel(), kind="stable")[:k].tolist())
    top_b = set(np.argsort(-b.ravel(), kind="stable")[:k].tolist())
    return len(top_a & top_b) / k


def _true_accuracy(model: str, folder: Path) -> dict[str, float]:
    """Per-class top-1 accuracy by running the model on every image (not from any cache)."""
    from gmxai_desktop.core.attribution.engine import predict
    from gmxai_desktop.core.inputs.pipeline import prepare_file
    from gmxai_desktop.core.models import load_model

    adapter = load_model(model, device="cpu")
    acc: dict[str, list[bool]] = {}
    for path in sorted(folder.rglob("*.png")):
        top = predict(adapter, prepare_file(adapter, path).x, top=1).top[0][1]
        acc.setdefault(path.parent.name, []).append(top == path.parent.name)
    return {c: float(np.mean(v)) for c, v in acc.items()}


def test_numbers_recompute_from_the_npy_files_and_sizes_come_from_the_json(images, tmp_path):
    counts_b = {name: 7 + 3 * i for i, name in enumerate(demo_model_paths("demo")[1].read_text().split())}
    model_b = _model_copy(tmp_path, "other", counts_b)
    out = tmp_path / "out"
    assert main(["compare-models", "--model", "demo", "--model-b", str(model_b), "--images", str(images),
                 "--methods", "gradcam,saliency", "--out", str(out)]) == 0
    rows = _rows(out)
    assert list(rows[0]) == ["class", "method", "train_images_a", "train_images_b", "test_images",
                             "spearman", "top10_overlap", "top1_a", "top1_b"]
    assert len(rows) == 7 * 2 and {r["method"] for r in rows} == {"gradcam", "saliency"}
    demo_counts = json.loads(demo_model_paths("demo")[0].with_suffix(".json").read_text())["train_counts"]
    accuracy = _true_accuracy("demo", images)
    for r in rows:
        a = np.load(out / r["class"] / f"{r['method']}_a.npy")
        b = np.load(out / r["class"] / f"{r['method']}_b.npy")
        assert a.shape == b.shape == (100, 100) and a.dtype == np.float32
        assert float(r["spearman"]) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-4)
        assert float(r["top10_overlap"]) == pytest.approx(_top_share(a, b), abs=1e-4)
        assert int(r["train_images_a"]) == demo_counts[r["class"]]
        assert int(r["train_images_b"]) == counts_b[r["class"]]
        assert int(r["test_images"]) == PER_CLASS
        # Both are the same weights, so the same accuracy, and it is what running the model gives.
        assert float(r["top1_a"]) == float(r["top1_b"]) == pytest.approx(accuracy[r["class"]], abs=1e-4)
    assert (out / "agreement.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".staging-*"))


def test_same_model_twice_agrees_perfectly_and_unknown_sizes_stay_empty(images, tmp_path):
    model_b = _model_copy(tmp_path, "nojson", None)
    out = tmp_path / "out"
    assert main(["compare-models", "--model", "demo", "--model-b", str(model_b), "--images", str(images),
                 "--methods", "gradcam", "--out", str(out)]) == 0
    rows = _rows(out)
    assert len(rows) == 7
    for r in rows:
        assert float(r["spearman"]) == 1.0 and float(r["top10_overlap"]) == 1.0
        assert r["train_images_b"] == "" and r["train_images_a"] != ""


def test_ctrl_c_leaves_no_output_and_the_rerun_resumes(images, tmp_path, monkeypatch, capsys):
    import gmxai_desktop.core.analysis.model_comparison as mc

    real = mc.compute_composites
    calls = []

    def interrupted_in_model_b(*args, **kwargs):
        calls.append(kwargs["cache_dir"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(mc, "compute_composites", interrupted_in_model_b)
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["compare-models", "--model", "demo", "--model-b", "demo", "--images", str(images),
            "--methods", "gradcam", "--cache", str(cache), "--out", str(out)]
    assert main(argv) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert any(cache.rglob("*.npz"))

    results = []

    def record(*args, **kwargs):
        res = real(*args, **kwargs)
        results.append(res)
        return res

    monkeypatch.setattr(mc, "compute_composites", record)
    assert main(argv) == 0
    assert results[0].computed == 0 and results[0].cached == 7 * PER_CLASS  # resumed from the cache
    rows = _rows(out)
    assert len(rows) == 7 and all(float(r["spearman"]) == 1.0 == float(r["top10_overlap"]) for r in rows)


def test_an_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    import gmxai_desktop.core.analysis.model_comparison as mc

    maps = {"x": {"gradcam": np.ones((4, 4), np.float32)}}
    result = mc.ModelComparison(rows=[], methods=["gradcam"], classes=["x"], maps_a=maps, maps_b=maps)

    def boom(*_a, **_k):
        raise KeyboardInterrupt

    monkeypatch.setattr(mc, "plot_agreement", boom)
    with pytest.raises(KeyboardInterrupt):
        mc.write_comparison(result, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["compare-models", "--model", "demo", "--model-b", "demo", "--images", str(tmp_path / "no"),
                 "--methods", "gradcam", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gmxai compare-models: error:") and "\n" not in err
