"""``gmxai faithfulness`` end to end on the bundled demo model: JSON, output files, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from gmxai_desktop.cli.main import main
from gmxai_desktop.core.base.resources import resources_dir


@pytest.fixture(scope="module")
def face() -> Path:
    return sorted((resources_dir() / "demo" / "images").rglob("*.png"))[0]


def test_json_and_output_folder(face: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "in" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not a png")
    out = tmp_path / "out"
    rc = main(["faithfulness", "--model", "demo", "--methods", "saliency,gradcam", "--metrics", "all",
               "--steps", "5", "--out", str(out), "--json", str(face), str(bad)])
    captured = capsys.readouterr()
    assert rc == 1  # one image failed, the other was evaluated
    assert "broken.png" in captured.err and "1 of 2 images failed" in captured.err
    objs = json.loads(captured.out)
    assert [(o["image"], o["method"]) for o in objs] == [
        (face.name, "saliency"), (face.name, "gradcam"), (face.name, "random")]
    for o in objs:
        assert {"deletion_auc", "insertion_auc", "road", "perturbation"} <= set(o)
        assert 0.0 <= o["deletion_auc"] <= 1.0
    assert "mprt" in objs[1] and "mprt" not in objs[2]  # no MPRT for a map that ignores the model
    m = np.load(out / face.stem / "gradcam.npy")
    assert m.shape == (100, 100) and m.dtype == np.float32
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert set(rows[0]) == {"image", "method", "metric", "fraction", "score"}
    dele = [r for r in rows if r["method"] == "gradcam" and r["metric"] == "deletion"]
    fr = np.array([float(r["fraction"]) for r in dele])
    sc = np.array([float(r["score"]) for r in dele])
    assert len(dele) == 6 and np.trapezoid(sc, fr) == pytest.approx(objs[1]["deletion_auc"], abs=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 1 and set(summary["summary"]) == {"saliency", "gradcam", "random"}
    assert set(summary["versus_random"]) == {"saliency", "gradcam"}
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, needle", [
    (["--metrics", "roar"], "unknown metric 'roar'"),
    (["--steps", "0"], "--steps must be 1 or more"),
    (["--target", "top:2"], "one class per image"),
    (["--methods", "nope"], "unknown method 'nope'"),
])
def test_user_errors_are_one_line(argv, needle, face: Path, tmp_path: Path, capsys) -> None:
    # argparse keeps the last value of a repeated option, so argv overrides the defaults here.
    rc = main(["faithfulness", "--model", "demo", "--json", "--methods", "saliency", *argv, str(face)])
    err = capsys.readouterr().err
    if "top:2" in argv:
        assert rc == 1 and needle in err  # a per-image error, reported like `explain`
    else:
        assert rc == 2 and err.count("\n") == 1 and needle in err and "Traceback" not in err
