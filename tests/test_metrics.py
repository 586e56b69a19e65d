"""Metrics against closed forms, hand-computed cases and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gmxai_desktop.core.analysis import metrics
from gmxai_desktop.core.base.errors import ParameterError


def test_pointing_game_hit_miss_and_ties():
    m = np.zeros((4, 4))
    m[1, 2] = 3.0
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    assert metrics.pointing_game(m, mask) is True
    assert metrics.pointing_game(m, ~mask) is False
    # Two tied maxima: a hit only when both are inside.
    m[3, 3] = 3.0
    assert metrics.pointing_game(m, mask) is False
    mask[3, 3] = True
    assert metrics.pointing_game(m, mask) is True


def test_pointing_game_flat_or_negative_map_cannot_score():
    mask = np.zeros((3, 3), bool)
    mask[1, 1] = True
    assert metrics.pointing_game(np.ones((3, 3)), np.ones((3, 3), bool)) is True  # all inside: hit
    assert metrics.pointing_game(np.ones((3, 3)), mask) is False  # flat map, partial mask
    neg = -np.ones((3, 3))
    neg[1, 1] = -0.1  # maximum inside, but no positive evidence anywhere
    assert metrics.pointing_game(neg, mask) is False


def test_relevance_mass_closed_form():
    m = np.array([[1.0, -2.0], [3.0, 4.0]])
    mask = np.array([[True, True], [False, False]])
    assert metrics.relevance_mass(m, mask) == pytest.approx(1.0 / 8.0)
    assert metrics.relevance_mass(m, mask, "absolute") == pytest.approx(3.0 / 10.0)
    # A uniform map scores the mask's area fraction (the chance level).
    mask = np.zeros((10, 10), bool)
    mask[:3, :5] = True
    assert metrics.relevance_mass(np.full((10, 10), 0.7), mask) == pytest.approx(0.15)
    assert math.isnan(metrics.relevance_mass(-np.ones((2, 2)), np.ones((2, 2), bool)))
    with pytest.raises(ParameterError):
        metrics.relevance_mass(m, mask[:2, :2].T[:1], "positive")
    with pytest.raises(ParameterError):
        metrics.relevance_mass(m, np.ones((2, 2), bool), "signed")
    with pytest.raises(ParameterError):
        metrics.relevance_mass(np.array([[np.nan, 1.0]]), np.ones((1, 2), bool))


def test_rankdata_and_spearman_match_scipy_with_ties():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, size=(12, 9)).astype(float)  # many ties
    b = a + rng.normal(0, 2, size=a.shape)
    np.testing.assert_allclose(metrics.rankdata(a), stats.rankdata(a.ravel()))
    expected = stats.spearmanr(a.ravel(), b.ravel()).statistic
    assert metrics.spearman_rank_correlation(a, b) == pytest.approx(expected, abs=1e-12)
    assert metrics.spearman_rank_correlation(a, a * 2 + 1) == pytest.approx(1.0)
    assert metrics.spearman_rank_correlation(a, -a) == pytest.approx(-1.0)
    assert math.isnan(metrics.spearman_rank_correlation(np.ones((3, 3)), a[:3, :3]))


def test_topk_overlap_definition():
    a = np.arange(10, dtype=float).reshape(2, 5)  # top 20 %: values 9, 8
    b = a.copy()
    assert metrics.topk_overlap(a, b, 0.2) == 1.0
    b = a.copy()
    b.flat[8] = -1  # b's top 2 are now 9 and 7
    assert metrics.topk_overlap(a, b, 0.2) == 0.5
    assert metrics.topk_overlap(a, -a, 0.2) == 0.0
    # k = ceil(0.15 of 10) = 2, and at least one pixel.
    assert metrics.topk_overlap(a, b, 0.15) == 0.5
    assert metrics.topk_overlap(a, b, 0.0001) == 1.0
    with pytest.raises(ParameterError):
        metrics.topk_overlap(a, b, 0)
    with pytest.raises(ParameterError):
        metrics.topk_overlap(a, b[:, :4], 0.1)


def test_nss_closed_form():
    s = np.array([[0.0, 1.0], [2.0, 3.0]])
    fix = np.array([[False, False], [False, True]])
    z = (3.0 - 1.5) / np.std([0.0, 1.0, 2.0, 3.0])
    assert metrics.nss(s, fix) == pytest.approx(z)
    with pytest.raises(ParameterError):
        metrics.nss(s, np.zeros((2, 2), bool))


def _auc_judd_loop(s: np.ndarray, f: np.ndarray) -> float:
    """Literal transcription of the MIT benchmark's AUC_Judd.m (without jitter)."""
    s = (s - s.min()) / (s.max() - s.min())
    sv, fv = s.ravel(), f.ravel()
    sth = np.sort(sv[fv])[::-1]
    n_fix, n_pix = len(sth), len(sv)
    tp, fp = [0.0], [0.0]
    for i, t in enumerate(sth, start=1):
        above = int((sv >= t).sum())
        tp.append(i / n_fix)
        fp.append((above - i) / (n_pix - n_fix))
    tp.append(1.0)
    fp.append(1.0)
    return float(np.trapezoid(tp, fp))


def test_auc_judd_perfect_random_and_reference():
    s = np.zeros((5, 5))
    s[2, 2] = 1.0
    fix = np.zeros((5, 5), bool)
    fix[2, 2] = True
    assert metrics.auc_judd(s, fix) == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    s = rng.random((20, 20))
    fix = rng.random((20, 20)) < 0.1
    assert metrics.auc_judd(s, fix) == pytest.approx(_auc_judd_loop(s, fix))
    # With continuous values and no ties, AUC-Judd equals the Mann-Whitney AUC (up to the
    # benchmark's extra (0,0) and (1,1) points, which add nothing when fp spans [0, 1]).
    u = stats.mannwhitneyu(s[fix], s[~fix]).statistic / (fix.sum() * (~fix).sum())
    assert metrics.auc_judd(s, fix) == pytest.approx(u, abs=0.02)


def test_cc_sim_kld_closed_forms():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert metrics.cc(a, a * 3 - 2) == pytest.approx(1.0)
    assert metrics.cc(a, -a) == pytest.approx(-1.0)
    assert metrics.cc(a, np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(
        stats.pearsonr(a.ravel(), [1.0, 0.0, 0.0, 1.0]).statistic)
    # SIM: min-max then sum-normalise: a -> [0, 1/3, 2/3, 1] / 2 ; identical maps give 1.
    assert metrics.sim(a, a) == pytest.approx(1.0)
    b = np.array([[4.0, 3.0], [2.0, 1.0]])
    pa = np.array([0, 1, 2, 3]) / 6
    pb = pa[::-1]
    assert metrics.sim(a, b) == pytest.approx(np.minimum(pa, pb).sum())
    # KLD: P = fixations normalised, Q = map normalised.
    q = np.array([[1.0, 1.0], [1.0, 1.0]])
    p = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert metrics.kld(q, p) == pytest.approx(math.log(4.0), rel=1e-9)
    assert metrics.kld(p, p) == pytest.approx(0.0, abs=1e-9)
    expected = stats.entropy([0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4])
    q = np.array([[0.1, 0.2], [0.3, 0.4]])
    assert metrics.kld(q, np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(expected, rel=1e-9)
