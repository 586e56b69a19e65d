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
