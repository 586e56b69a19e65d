"""Per-class agreement between two models' syndrome-wise maps (class-imbalance analysis)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from _composite_fixtures import CLASSES, make_adapter, make_net, write_folder
from scipy.stats import spearmanr

from gmxai_desktop.core.analysis.comparison import compare_composites, training_counts
from gmxai_desktop.core.analysis.composites import ALL, CompositeResult, compute_composites
from gmxai_desktop.core.analysis.metrics import spearman_rank_correlation as spearman
from gmxai_desktop.core.analysis.metrics import topk_overlap as top_overlap
from gmxai_desktop.core.base.errors import ParameterError


def test_spearman_matches_scipy_including_ties() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(9, 9))
    b = a + rng.normal(scale=0.8, size=(9, 9))
    a[0, :4] = 1.5  # ties
    assert spearman(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)  # rank-based: monotone transforms agree
    assert math.isnan(spearman(a, np.zeros_like(a)))


def test_top_overlap_by_hand() -> None:
    a = np.arange(10.0)  # top 30%: indices 9, 8, 7
    b = np.array([0, 0, 0, 0, 0, 0, 0, 9, 8, -20.0])  # top 30%: 7, 8, then 0 (first of the ties)
    assert top_overlap(a, b, 0.3) == pytest.approx(2 / 3)
    assert top_overlap(a, b, 0.3, by="abs") == 1.0  # |b| top: 9, 7, 8
    assert top_overlap(a, -a, 0.5) == 0.0
    assert top_overlap(a, a, 0.1) == 1.0
    with pytest.raises(ParameterError):
        top_overlap(a, b, 0.0)
    with pytest.raises(ParameterError):
        top_overlap(a, b[:5], 0.5)


def _result(maps: dict[str, np.ndarray], counts: dict[str, int]) -> CompositeResult:
    return CompositeResult(
        classes=[c for c in maps if c != ALL],
        counts=counts,
        faces={c: np.zeros((4, 4, 3), np.float32) for c in maps},
        maps={c: {"m": v} for c, v in maps.items()},
        methods=["m"],
    )


def test_table_rows_and_size_correlation() -> None:
    rng = np.random.default_rng(1)
    base = {c: rng.normal(size=(8, 8)) for c in ["big", "mid", "small", "tiny"]}
    noise = {"big": 0.05, "mid": 0.5, "small": 1.0, "tiny": 3.0}
    other = {c: base[c] + rng.normal(scale=noise[c], size=(8, 8)) for c in base}
    counts = {"big": 100, "mid": 30, "small": 10, "tiny": 3}
    first = _result({**base, ALL: sum(base.values())}, {**counts, ALL: 143})
    second = _result({**other, ALL: sum(other.values())}, {**counts, ALL: 143})
    table = compare_composites(first, second, "m", top_fraction=0.2)
    assert [r.name for r in table.rows] == ["big", "mid", "small", "tiny"]
    assert table.size_source == "composite counts"
    for r in table.rows:
        ref = spearmanr(base[r.name].ravel(), other[r.name].ravel()).statistic
        assert r.rank_correlation == pytest.approx(ref)
        assert r.top_overlap == pytest.approx(top_overlap(base[r.name], other[r.name], 0.2))
        assert r.size == counts[r.name]
    # Agreement falls with class size here by construction.
    assert table.size_vs_rank_correlation == pytest.approx(1.0)
    assert table.generic is not None and table.generic.size == 143
    # Training counts replace the composite counts as class sizes.
    train = {"big": 5, "mid": 50, "small": 500, "tiny": 5000}
    t2 = compare_composites(first, second, "m", class_counts=train)
    assert t2.size_source == "training counts" and t2.size_vs_rank_correlation == pytest.approx(-1.0)
    with pytest.raises(ParameterError, match="no class size"):
        compare_composites(first, second, "m", class_counts={"big": 1})
    with pytest.raises(ParameterError, match="no 'gradcam' maps"):
        compare_composites(first, second, "gradcam")


def test_classes_missing_in_one_run_are_left_out() -> None:
    m = np.arange(16.0).reshape(4, 4)
    first = _result({"a": m, "b": m}, {"a": 2, "b": 3})
    second = _result({"a": m}, {"a": 1, "b": 0})
    table = compare_composites(first, second, "m")
    assert [r.name for r in table.rows] == ["a"] and table.rows[0].rank_correlation == pytest.approx(1.0)
    assert math.isnan(table.size_vs_rank_correlation) and table.generic is None


def test_training_counts_from_metadata(tmp_path: Path) -> None:
    adapter = make_adapter()
    assert training_counts(adapter) is None
    with_extra = replace(adapter, extra={"train_counts": [7, 8, 9]})
    assert training_counts(with_extra) == {"alpha": 7, "beta": 8, "gamma": 9}
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"")
    (tmp_path / "m.json").write_text(json.dumps({"class_counts": {"alpha": 1, "beta": 2, "gamma": 3}}))
    assert training_counts(replace(adapter, source=str(ckpt))) == {"alpha": 1, "beta": 2, "gamma": 3}


def test_two_real_models(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "imgs", per_class=(3, 2, 2), seed=11)
    a, b = make_adapter(make_net(0), "m0"), make_adapter(make_net(4), "m4")
    ra = compute_composites(a, folder, ["gradcam"], align="none")
    rb = compute_composites(b, folder, ["gradcam"], align="none")
    same = compare_composites(ra, ra, "gradcam")
    assert all(r.rank_correlation == pytest.approx(1.0) and r.top_overlap == 1.0 for r in same.rows)
    diff = compare_composites(ra, rb, "gradcam", top_fraction=0.05)
    assert [r.name for r in diff.rows] == CLASSES
    for r in diff.rows:
        ref = spearmanr(ra.maps[r.name]["gradcam"].ravel(), rb.maps[r.name]["gradcam"].ravel()).statistic
        assert r.rank_correlation == pytest.approx(ref, abs=1e-9)
        assert r.rank_correlation < 0.999  # different random networks look at different pixels
