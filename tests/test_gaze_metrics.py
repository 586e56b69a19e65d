"""Saliency metrics (core/gaze/metrics.py) against hand-computed cases, loops and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.gaze import metrics

EPS = 2.2204e-16


def _fix(shape, *pixels):
    f = np.zeros(shape, bool)
    for r, c in pixels:
        f[r, c] = True
    return f


def test_fixation_map_uses_floor_of_y_then_x_and_leaves_out_points_off_the_grid():
    pts = np.array([[1.99, 0.0], [2.0, 1.0], [-0.01, 1.0], [0.5, 3.0], [0.0, 2.999]])
    f = metrics.fixation_map(pts, (3, 3))
    expected = _fix((3, 3), (0, 1), (1, 2), (2, 0))
    np.testing.assert_array_equal(f, expected)
    # Each fixated pixel counts once.
    assert metrics.fixation_map(np.array([[0.2, 0.2], [0.7, 0.9]]), (2, 2)).sum() == 1


def test_map_part():
    m = np.array([[-2.0, 1.0]])
    np.testing.assert_array_equal(metrics.map_part(m, "positive"), [[0.0, 1.0]])
    np.testing.assert_array_equal(metrics.map_part(m, "abs"), [[2.0, 1.0]])
    with pytest.raises(ParameterError):
        metrics.map_part(m, "signed")


def test_nss_hand_computed_with_population_std():
    s = np.array([[0.0, 1.0], [2.0, 3.0]])
    # mean 1.5, population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
    z3, z1 = (3.0 - 1.5) / math.sqrt(1.25), (1.0 - 1.5) / math.sqrt(1.25)
    assert metrics.nss(s, _fix((2, 2), (1, 1))) == pytest.approx(z3)
    assert metrics.nss(s, _fix((2, 2), (1, 1), (0, 1))) == pytest.approx((z3 + z1) / 2)
    assert math.isnan(metrics.nss(np.ones((2, 2)), _fix((2, 2), (0, 0))))
    with pytest.raises(ParameterError):
        metrics.nss(s, np.zeros((2, 2), bool))


def test_auc_judd_hand_computed():
    s = np.array([[0.0, 0.5], [1.0, 0.25]])
    f = _fix((2, 2), (1, 0), (1, 1))  # values 1.0 and 0.25
    # thresholds 1.0, 0.25: tp 0.5, 1; fp (1-1)/2 = 0, (3-2)/2 = 0.5
    # curve (0,0) (0,.5) (.5,1) (1,1): area 0.5*(0.5+1)/2 + 0.5*(1+1)/2 = 0.875
    assert metrics.auc_judd(s, f) == pytest.approx(0.875)
    # Min-max normalisation first: an affine change of the map changes nothing.
    assert metrics.auc_judd(3 * s + 7, f) == pytest.approx(0.875)
    assert math.isnan(metrics.auc_judd(np.ones((2, 2)), f))


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


def test_auc_judd_matches_the_benchmark_loop_with_ties():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 5, (20, 20)).astype(float)  # many ties
    fix = rng.random((20, 20)) < 0.1
    assert metrics.auc_judd(s, fix) == pytest.approx(_auc_judd_loop(s, fix))
    s = rng.random((20, 20))
    assert metrics.auc_judd(s, fix) == pytest.approx(_auc_judd_loop(s, fix))
    u = stats.mannwhitneyu(s[fix], s[~fix]).statistic / (fix.sum() * (~fix).sum())
    assert metrics.auc_judd(s, fix) == pytest.approx(u, abs=0.02)


def test_shuffled_auc_hand_computed_and_against_mann_whitney():
    s = np.array([[4.0, 3.0], [2.0, 1.0]])
    other = _fix((2, 2), (0, 1), (1, 1))  # negatives: 3 and 1
    assert metrics.auc_shuffled(s, _fix((2, 2), (0, 0)), other) == pytest.approx(1.0)
    assert metrics.auc_shuffled(s, _fix((2, 2), (1, 0)), other) == pytest.approx(0.5)
    # A tie between a positive and a negative counts one half: (0.5 + 1) / 2.
    assert metrics.auc_shuffled(s, _fix((2, 2), (0, 1)), other) == pytest.approx(0.75)
    rng = np.random.default_rng(2)
    s = rng.random((16, 16))
    f, o = rng.random((16, 16)) < 0.1, rng.random((16, 16)) < 0.2
    u = stats.mannwhitneyu(s[f], s[o]).statistic / (f.sum() * o.sum())
    assert metrics.auc_shuffled(s, f, o) == pytest.approx(u)
    with pytest.raises(ParameterError):
        metrics.auc_shuffled(s, f, np.zeros_like(o))


def test_cc_against_scipy_and_closed_forms():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert metrics.cc(a, a * 3 + 2) == pytest.approx(1.0)
    assert metrics.cc(a, -a) == pytest.approx(-1.0)
    b = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.cc(a, b) == pytest.approx(stats.pearsonr(a.ravel(), b.ravel()).statistic)
    assert math.isnan(metrics.cc(a, np.ones((2, 2))))


def test_sim_hand_computed():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])  # min-max [0, 1/3, 2/3, 1], / sum 2 -> [0, 1, 2, 3] / 6
    b = np.array([[4.0, 3.0], [2.0, 1.0]])  # [3, 2, 1, 0] / 6
    assert metrics.sim(a, b) == pytest.approx((0 + 1 + 1 + 0) / 6)
    assert metrics.sim(a, 5 * a + 1) == pytest.approx(1.0)
    assert math.isnan(metrics.sim(a, np.ones((2, 2))))


def test_kld_hand_computed_with_the_benchmark_epsilon():
    q = np.ones((2, 2))  # Q = 1/4 everywhere
    p = np.array([[1.0, 0.0], [0.0, 0.0]])  # P = delta
    assert metrics.kld(q, p) == pytest.approx(math.log(EPS + 1.0 / (0.25 + EPS)), rel=1e-12)
    assert metrics.kld(p, p) == pytest.approx(math.log(EPS + 1.0 / (1.0 + EPS)), abs=1e-12)
    # P where Q is zero: the ε keeps it finite and large.
    assert metrics.kld(np.array([[0.0, 1.0], [0.0, 0.0]]), p) == pytest.approx(math.log(EPS + 1.0 / EPS))
    # Positive Q: the ε terms vanish against scipy's entropy.
    q = np.array([[0.1, 0.2], [0.3, 0.4]])
    expected = stats.entropy([0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4])
    assert metrics.kld(q, np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx(expected, rel=1e-9)
    assert math.isnan(metrics.kld(np.zeros((2, 2)), p))
    with pytest.raises(ParameterError):
        metrics.kld(-q, p)


def test_information_gain_hand_computed():
    s = np.array([[3.0, 1.0], [1.0, 2.0]])  # min-max [1, 0, 0, .5] / 1.5 -> [2/3, 0, 0, 1/3]
    b = np.array([[1.0, 2.0], [2.0, 3.0]])  # min-max [0, .5, .5, 1] / 2 -> [0, 1/4, 1/4, 1/2]
    one = metrics.information_gain(s, b, _fix((2, 2), (1, 1)))
    assert one == pytest.approx(math.log2(EPS + 1 / 3) - math.log2(EPS + 1 / 2))
    two = metrics.information_gain(s, b, _fix((2, 2), (1, 1), (0, 0)))
    first = math.log2(EPS + 2 / 3) - math.log2(EPS + 0.0)
    assert two == pytest.approx((one + first) / 2)
    assert metrics.information_gain(b, b, _fix((2, 2), (0, 1))) == 0.0


def test_iou_of_top_regions_hand_computed():
    a = np.arange(10, dtype=float).reshape(2, 5)  # top 20 % = values 9, 8 (flat 9, 8)
    d = a.copy()
    d.flat[8] = -1  # top 20 % = flat 9, 7
    assert metrics.iou_top(a, d, 20) == pytest.approx(1 / 3)
    assert metrics.iou_top(a, a, 20) == 1.0
    assert metrics.iou_top(a, -a, 20) == 0.0
    # k = ceil(q/100 * N): 15 % of 10 pixels is 2; ties go to the earlier pixel.
    m = metrics.top_fraction_mask(np.array([[1.0, 1.0, 1.0, 0.0]]), 50)
    np.testing.assert_array_equal(m, [[True, True, False, False]])
    with pytest.raises(ParameterError):
        metrics.iou_top(a, d, 0)


def test_all_metrics_without_other_images_gives_nan_sauc():
    rng = np.random.default_rng(3)
    s, dens = rng.random((8, 8)), rng.random((8, 8))
    f = _fix((8, 8), (2, 3))
    row = metrics.all_metrics(s, f, dens, None, np.ones((8, 8)) + np.eye(8))
    assert list(row) == list(metrics.METRIC_NAMES)
    assert math.isnan(row["sAUC"]) and math.isfinite(row["NSS"])
