"""Qt-free parts of the GUI: job keys, the byte-bounded cache, and the display transforms.

The display transforms decide what a clinician sees, so they are checked against the core
renderer (pixel agreement with the CLI/figure PNGs) and against closed forms.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gmxai_desktop.core.output import render
from gmxai_desktop.gui.cache import ByteLRU, estimate_nbytes
from gmxai_desktop.gui.display import (
    apply_sign,
    colorbar_colors,
    difference,
    normalise_for_difference,
    render_maps,
)
from gmxai_desktop.gui.state import JobKey, ViewState, freeze_params, panel_specs, target_count


def _map(seed: int, shape: tuple[int, int] = (20, 24)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * rng.uniform(0.1, 10)).astype(np.float32)


# ---- state ------------------------------------------------------------------------------------
def test_freeze_params_is_order_independent_and_hashable() -> None:
    a = freeze_params({"stride": 8, "window": 16, "baseline": "zero"})
    b = freeze_params({"baseline": "zero", "window": 16, "stride": 8})
    assert a == b and hash(a) == hash(b)
    assert freeze_params({"stride": 8}) != freeze_params({"stride": 9})


def test_job_key_changes_with_every_setting() -> None:
    st = ViewState(methods=["occlusion"])
    from pathlib import Path

    st.image = Path("/x/a.png")
    base = st.job_key("m1", "occlusion")
    assert base == st.job_key("m1", "occlusion")
    variants = []
    st.image = Path("/x/b.png")
    variants.append(st.job_key("m1", "occlusion"))
    st.image = Path("/x/a.png")
    variants.append(st.job_key("m2", "occlusion"))
    default_stride = dict(base.params)["stride"]
    st.param_overrides["occlusion"] = {"stride": default_stride + 1}
    variants.append(st.job_key("m1", "occlusion"))
    st.param_overrides.clear()
    st.target = "top:2"
    variants.append(st.job_key("m1", "occlusion"))
    st.target = "predicted"
    st.align = "none"
    variants.append(st.job_key("m1", "occlusion"))
    assert all(isinstance(v, JobKey) and v != base for v in variants)
    assert len(set(variants)) == len(variants)


def test_panel_specs_for_top_k() -> None:
    assert target_count("predicted") == 1 and target_count("top:3") == 3 and target_count("name:3") == 1
    specs = panel_specs(["gradcam", "saliency"], "top:2")
    assert [s.panel_id for s in specs] == ["gradcam#1", "gradcam#2", "saliency#1", "saliency#2"]
    assert [s.rank for s in specs] == [0, 1, 0, 1]
    assert [s.panel_id for s in panel_specs(["gradcam"], "predicted")] == ["gradcam"]


# ---- cache ------------------------------------------------------------------------------------
def test_byte_lru_evicts_least_recent_by_bytes() -> None:
    cache = ByteLRU(1000, sizeof=lambda v: v)
    cache.put("a", 400)
    cache.put("b", 400)
    assert cache.get("a") == 400  # a is now the most recent
    cache.put("c", 400)  # 1200 > 1000: evict b (least recent), not a
    assert "b" not in cache and "a" in cache and "c" in cache
    assert cache.nbytes == 800
    assert cache.put("huge", 2000) is False and "huge" not in cache and cache.nbytes == 800
    cache.put("a", 100)  # replacing updates the byte count
    assert cache.nbytes == 500
    assert cache.discard_where(lambda k: k == "c") == 1 and cache.nbytes == 100


def test_byte_lru_counts_array_bytes_and_is_thread_safe() -> None:
    arr = np.zeros((100, 100), np.float32)
    assert 40_000 <= estimate_nbytes([arr, {"m": arr.copy()}]) <= 81_000
    cache = ByteLRU(50 * 40_200)

    def work(offset: int) -> None:
        for i in range(200):
            cache.put((offset, i), np.zeros((100, 100), np.float32))
            cache.get((offset, i - 1))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.nbytes <= cache.max_bytes
    assert len(cache) <= 50


# ---- display ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sign", ["signed", "positive", "negative", "absolute"])
@pytest.mark.parametrize("fade", [True, False])
def test_render_maps_matches_core_overlay(sign: str, fade: bool) -> None:
    """Blending the GUI's RGBA over the face gives the core renderer's overlay (CLI/figures)."""
    rng = np.random.default_rng(3)
    face = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    m = _map(1)
    cmap = render.default_cmap(sign)
    (disp,) = render_maps(
        [m], sign=sign, clip_percentile=98.0, shared=False, cmap=cmap, opacity=0.6, fade_weak=fade
    )
    a = disp.rgba[:, :, 3:4].astype(np.float64) / 255.0
    ours = face.astype(np.float64) * (1 - a) + disp.rgba[:, :, :3].astype(np.float64) * a
    ref = render.overlay(face, m, alpha=0.6, sign=sign, cmap=cmap, clip_percentile=98.0, magnitude_alpha=fade)
    assert np.abs(np.rint(ours) - ref.astype(np.float64)).max() <= 1.0  # alpha is quantised to 1/255
    _, lo, hi = render.normalize_map(m, sign, 98.0)
    assert (disp.vmin, disp.vmax) == pytest.approx((lo, hi))


def test_shared_scale_uses_one_range_and_per_map_does_not() -> None:
    maps = [_map(1), _map(2) * 50]
    shared = render_maps(
        maps, sign="signed", clip_percentile=99.0, shared=True, cmap="RdBu_r", opacity=1, fade_weak=False
    )
    per = render_maps(
        maps, sign="signed", clip_percentile=99.0, shared=False, cmap="RdBu_r", opacity=1, fade_weak=False
    )
    s = render.shared_scale(maps, "signed", 99.0)
    assert all((d.vmin, d.vmax) == pytest.approx((-s, s)) for d in shared)
    assert per[0].vmax < per[1].vmax
    # on a shared scale the small map is paler (closer to white) than on its own scale
    white = np.array([247, 247, 247])
    dist_shared = np.abs(shared[0].rgba[:, :, :3].astype(int) - white).mean()
    dist_own = np.abs(per[0].rgba[:, :, :3].astype(int) - white).mean()
    assert dist_shared < dist_own


def test_negative_view_reads_true_values_on_its_colour_bar() -> None:
    m = np.array([[-2.0, -1.0], [0.0, 3.0]], np.float32)
    (disp,) = render_maps(
        [m], sign="negative", clip_percentile=100.0, shared=False, cmap="Blues", opacity=1, fade_weak=True
    )
    assert (disp.vmin, disp.vmax) == pytest.approx((-2.0, 0.0))
    assert disp.rgba[1, 1, 3] == 0 and disp.rgba[1, 0, 3] == 0  # positive and zero pixels stay clear
    assert disp.rgba[0, 0, 3] == 255  # the most negative pixel is fully coloured
    bar = colorbar_colors("Blues", "negative")
    # the bar's lower end (-2) has the colour of the most negative pixel
    assert np.array_equal(bar[0], disp.rgba[0, 0, :3])


def test_upsampling_keeps_the_range() -> None:
    m = _map(4, (10, 10))
    (small,) = render_maps(
        [m], sign="signed", clip_percentile=99.0, shared=False, cmap="RdBu_r", opacity=0.5, fade_weak=True
    )
    (big,) = render_maps(
        [m],
        sign="signed",
        clip_percentile=99.0,
        shared=False,
        cmap="RdBu_r",
        opacity=0.5,
        fade_weak=True,
        upsample_to=(40, 40),
    )
    assert small.rgba.shape == (10, 10, 4) and big.rgba.shape == (40, 40, 4)
    assert (small.vmin, small.vmax) == (big.vmin, big.vmax)


def test_apply_sign_closed_forms() -> None:
    m = np.array([[-2.0, 0.5]], np.float32)
    assert apply_sign(m, "signed").tolist() == [[-2.0, 0.5]]
    assert apply_sign(m, "positive").tolist() == [[0.0, 0.5]]
    assert apply_sign(m, "negative").tolist() == [[2.0, 0.0]]
    assert apply_sign(m, "absolute").tolist() == [[2.0, 0.5]]
    with pytest.raises(ValueError):
        apply_sign(m, "both")


def test_difference_normalisations_closed_forms() -> None:
    m = _map(5)
    mx = normalise_for_difference(m, "maxabs")
    assert np.abs(mx).max() == pytest.approx(1.0)
    assert np.sign(mx).tolist() == np.sign(m).tolist()
    sm = normalise_for_difference(m, "sum")
    assert np.abs(sm).sum() == pytest.approx(1.0, rel=1e-5)
    z = normalise_for_difference(m, "zscore")
    assert z.mean() == pytest.approx(0.0, abs=1e-5) and z.std() == pytest.approx(1.0, rel=1e-4)
    r = normalise_for_difference(np.array([[3.0, 1.0, 2.0, 2.0]]), "rank")
    assert r[0].tolist() == pytest.approx([1.0, 0.0, 0.5, 0.5])  # ties share their mean rank
    assert np.all(normalise_for_difference(np.zeros((3, 3)), "maxabs") == 0)


@pytest.mark.parametrize("how", ["maxabs", "sum", "zscore", "rank"])
def test_difference_is_zero_for_equal_maps_and_antisymmetric(how: str) -> None:
    a, b = _map(6), _map(7)
    d, _na, _nb = difference(a, a * 3.0, how, "signed")  # a positive rescale is the same map
    assert np.abs(d).max() < 1e-5
    d_ab, _, _ = difference(a, b, how, "absolute")
    d_ba, _, _ = difference(b, a, how, "absolute")
    assert np.allclose(d_ab, -d_ba)
    with pytest.raises(ValueError):
        difference(a, b[:5], how, "signed")
