"""``gmxai hpo-regions``: both forms, the --json schema, errors as one line."""

from __future__ import annotations

import json
import shutil

import pytest

from gmxai_desktop.cli.main import main
from gmxai_desktop.core.base.resources import resources_dir
from gmxai_desktop.core.phenotype.atlas import REGIONS


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_syndrome_form_json_schema(capsys):
    doc = _json(capsys, ["hpo-regions", "--syndrome", "OMIM:122470", "--json"])
    assert doc["atlas"] == "arcface112" and doc["regions"] == list(REGIONS)
    (cls,) = doc["classes"].values()
    assert "attribution" not in cls
    assert set(cls["expected"]) == set(REGIONS) == set(cls["chance"])
    assert sum(cls["expected"].values()) == pytest.approx(1.0, abs=1e-5)
    assert sum(cls["chance"].values()) == pytest.approx(1.0, abs=1e-5)
    syn = next(t for t in cls["hpo_terms"] if t["id"] == "HP:0000664")
    assert syn["frequency"] == pytest.approx(46 / 49, abs=1e-4) and syn["regions"] == ["eyebrows"]
    assert {"id", "name", "frequency", "regions"} <= set(syn)


def test_model_form_on_demo_subset(tmp_path, capsys):
    src = resources_dir() / "demo"
    images = tmp_path / "images"
    rows = ["image,label"]
    for cls in ("hypertelorism", "bulbous-nose"):
        (images / cls).mkdir(parents=True)
        shutil.copy(src / "images" / cls / f"{cls}_0000.png", images / cls / f"{cls}_0000.png")
        rows.append(f"{cls}/{cls}_0000.png,{cls}")
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    syn = tmp_path / "map.csv"
    syn.write_text("class,syndrome\nbulbous-nose,HP:0000414;HP:0000316=1/4\n")
    out = tmp_path / "out"
    doc = _json(capsys, ["hpo-regions", "--model", "demo", "--images", str(images), "--labels",
                         str(labels), "--methods", "gradcam,saliency", "--syndromes", str(syn), "--json",
                         "--out", str(out)])
    assert doc["atlas"] == "arcface112"  # the demo sidecar's layout, not the v1 adapter's gm-v1
    assert set(doc["classes"]) == {"hypertelorism", "bulbous-nose"}
    hyp = doc["classes"]["hypertelorism"]
    assert hyp["expected"]["eyes"] == 1.0  # from demo.json's own HPO terms
    for method in ("gradcam", "saliency"):
        shares = hyp["attribution"][method]
        assert set(shares) == set(REGIONS) and sum(shares.values()) <= 1.0 + 1e-6
    nose = doc["classes"]["bulbous-nose"]["expected"]
    # HP:0000414 without a frequency counts 0.5, hypertelorism 1/4: weights 0.5 and 0.25.
    assert nose["nose"] == pytest.approx(0.5 / 0.75, abs=1e-5)
    assert nose["eyes"] == pytest.approx(0.25 / 0.75, abs=1e-5)
    written = sorted(p.name for p in out.iterdir())
    assert written == ["bulbous-nose.png", "hpo_regions.json", "hypertelorism.png"]


@pytest.mark.parametrize("argv,msg", [
    (["hpo-regions"], "--syndrome"),
    (["hpo-regions", "--syndrome", "OMIM:999999999"], "not in the HPO disease annotations"),
    (["hpo-regions", "--syndrome", "OMIM:122470", "--methods", "gradcam"], "--methods needs --model"),
    (["hpo-regions", "--syndrome", "banana"], "neither a disease id"),
])
def test_errors_are_one_line(capsys, argv, msg):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gmxai hpo-regions: error:") and msg in err and "\n" not in err
