"""Faithfulness metrics against plain loops written here from the issue's definitions, against
pytorch-grad-cam's ROAD imputer, and against closed forms on a linear model."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from gmxai_desktop.core.analysis.faithfulness import evaluate_image
from gmxai_desktop.core.analysis.faithfulness.aggregate import bootstrap_ci, paired_comparison
from gmxai_desktop.core.analysis.faithfulness.deletion_insertion import deletion_insertion
from gmxai_desktop.core.analysis.faithfulness.mprt import mprt, parametrised_layers
from gmxai_desktop.core.analysis.faithfulness.road import impute, pixel_perturbation, road
from gmxai_desktop.core.analysis.faithfulness.scoring import Scorer, random_map
from gmxai_desktop.core.base.errors import Cancelled, ParameterError
from gmxai_desktop.core.base.jobs import JobControl
from tests.nets import LinearNet, generic_adapter, small_adapter


def _prob(adapter, image: torch.Tensor, target: int) -> float:
    """Softmax probability of ``target`` for one [0, 1] (C, H, W) image, one plain forward."""
    mean = torch.tensor(adapter.mean).view(-1, 1, 1)
    std = torch.tensor(adapter.std).view(-1, 1, 1)
    with torch.no_grad():
        logits = adapter.logits_module.eval()(((image - mean) / std)[None])
    return float(torch.softmax(logits.double(), dim=1)[0, target])


def _loop_curves(adapter, image: torch.Tensor, saliency: np.ndarray, target: int, steps: int = 100):
    """Deletion and insertion written straight from the definitions, one image at a time."""
    c, h, w = image.shape
    hw = h * w
    step = math.ceil(hw / steps)
    n = math.ceil(hw / step)
    order = np.argsort(-saliency.ravel(), kind="stable")
    blur = cv2.GaussianBlur(image.permute(1, 2, 0).numpy(), (11, 11), 5, borderType=cv2.BORDER_REFLECT_101)
    blur = torch.from_numpy(blur.reshape(h, w, c)).permute(2, 0, 1)
    fr, dele, ins = [], [], []
    for k in range(n + 1):
        count = min(k * step, hw)
        fr.append(count / hw)
        d = image.clone().reshape(c, -1)
        d[:, order[:count]] = 0.0
        dele.append(_prob(adapter, d.reshape(c, h, w), target))
        i = blur.clone().reshape(c, -1)
        i[:, order[:count]] = image.reshape(c, -1)[:, order[:count]]
        ins.append(_prob(adapter, i.reshape(c, h, w), target))
    return np.array(fr), np.array(dele), np.array(ins)


def _image(adapter, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(adapter.channels, *adapter.input_size, generator=g)
    mean = torch.tensor(adapter.mean).view(-1, 1, 1)
    std = torch.tensor(adapter.std).view(-1, 1, 1)
    return ((img - mean) / std)[None]


@pytest.mark.parametrize("steps", [100, 7])
def test_deletion_insertion_equal_plain_loop(steps: int) -> None:
    adapter = small_adapter(size=32)  # 1024 pixels: step 11, the last step is clamped to H·W
    x = _image(adapter)
    saliency = np.random.default_rng(1).standard_normal((32, 32)).astype(np.float32)
    saliency[:4, :4] = 0.5  # ties: the stable order must keep raster order
    with Scorer(adapter, x, target=2) as scorer:
        curves = deletion_insertion(scorer, saliency, steps=steps)
    fr, dele, ins = _loop_curves(adapter, scorer.image, saliency, 2, steps)
    np.testing.assert_array_equal(curves["deletion"].fractions, fr)
    np.testing.assert_allclose(curves["deletion"].scores, dele, atol=1e-5)
    np.testing.assert_allclose(curves["insertion"].scores, ins, atol=1e-5)
    assert curves["deletion"].auc == pytest.approx(np.trapezoid(dele, fr), abs=1e-5)
    assert curves["insertion"].auc == pytest.approx(np.trapezoid(ins, fr), abs=1e-5)


def test_scorer_runs_only_needed_forwards_and_grey_model() -> None:
    adapter = generic_adapter(LinearNet(1, 10, 3), (10, 10), 1, 3)
    x = _image(adapter)
    maps = [random_map((10, 10), s) for s in range(3)]
    with Scorer(adapter, x, target=0) as scorer:
        for m in maps:
            deletion_insertion(scorer, m, steps=100)
    # 100 pixels, 100 steps: n = 100; end points (original, black, blurred) scored once.
    assert scorer.forwards == 3 + len(maps) * 2 * (100 - 1)


def _binary_linear(size: int = 12, seed: int = 0):
    """Two classes, logit_1 = 0: p(class 0) = sigmoid(w·x + b) is monotone in w·x."""
    net = LinearNet(1, size, 2, seed=seed)
    net.linear.weight.data[1] = 0.0
    net.linear.bias.data[:] = 0.0
    adapter = generic_adapter(net, (size, size), 1, 2)
    x = _image(adapter, seed)
    exact = (net.linear.weight.data[0].view(size, size) * x[0, 0]).numpy()
    return adapter, x, exact


def test_linear_model_exact_attribution_deletes_fastest_and_aucs_order() -> None:
    adapter, x, exact = _binary_linear()
    with Scorer(adapter, x, target=0) as scorer:
        best = deletion_insertion(scorer, exact, which=("deletion",))["deletion"]
        rand_aucs = []
        for seed in range(8):
            c = deletion_insertion(scorer, random_map(exact.shape, seed), which=("deletion",))["deletion"]
            assert np.all(best.scores <= c.scores + 1e-12)  # falls fastest at every step
            rand_aucs.append(c.auc)
        reversed_auc = deletion_insertion(scorer, -exact, which=("deletion",))["deletion"].auc
    assert best.auc < min(rand_aucs)
    assert max(rand_aucs) < reversed_auc


def test_road_imputation_equals_pytorch_grad_cam() -> None:
    road_mod = pytest.importorskip("pytorch_grad_cam.metrics.road")
    rng = np.random.default_rng(0)
    img = rng.random((3, 20, 24)).astype(np.float32)
    keep = (rng.random((20, 24)) > 0.35).astype(np.float32)
    keep[0, :] = 0.0  # removed pixels on the border and in the corners
    keep[:, -1] = 0.0
    ref = road_mod.NoisyLinearImputer(noise=0.0)(torch.from_numpy(img), torch.from_numpy(keep)).numpy()
    ours = impute(img, keep == 0, noise=0.0)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    np.testing.assert_array_equal(ours[:, keep > 0], img[:, keep > 0])


def test_road_scores_and_noise_are_seeded() -> None:
    adapter = small_adapter(size=16)
    x = _image(adapter)
    m = random_map((16, 16), 3)
    with Scorer(adapter, x, target=1) as scorer:
        a, b = road(scorer, m, seed=5), road(scorer, m, seed=5)
        c = road(scorer, m, seed=6)
    np.testing.assert_array_equal(a.morf, b.morf)
    assert not np.array_equal(a.morf, c.morf)
    assert a.combined == pytest.approx((a.lerf.mean() - a.morf.mean()) / 2)


def test_pixel_perturbation_equals_plain_loop() -> None:
    adapter = small_adapter(size=16)
    x = _image(adapter)
    m = np.random.default_rng(2).standard_normal((16, 16))
    with Scorer(adapter, x, target=3) as scorer:
        res = pixel_perturbation(scorer, m)
        image, p0 = scorer.image, scorer.original()
    order = np.argsort(-m.ravel(), kind="stable")
    for pct, delta in zip(res.percents, res.deltas, strict=True):
        k = round(pct / 100 * 256)
        img = image.clone().reshape(3, -1)
        img[:, order[256 - k:]] = 0.0  # the least salient k %
        assert delta == pytest.approx(_prob(adapter, img.reshape(3, 16, 16), 3) - p0, abs=1e-5)


@pytest.fixture(scope="module")
def demo():
    from gmxai_desktop.core.base.resources import resources_dir
    from gmxai_desktop.core.inputs.pipeline import prepare_file
    from gmxai_desktop.core.models import load_model

    adapter = load_model("demo")
    path = sorted((resources_dir() / "demo" / "images").rglob("*.png"))[0]
    return adapter, prepare_file(adapter, path).x


def test_mprt_gradcam_decorrelates_on_demo_model_and_identity_gives_one(demo) -> None:
    from gmxai_desktop.core.attribution.engine import explain

    adapter, x = demo
    original = explain(adapter, x, ["gradcam"])[0]
    before = {k: v.detach().clone() for k, v in adapter.net.state_dict().items()}
    full = mprt(adapter, x, ["gradcam"], original.target, {"gradcam": original.map})["gradcam"]
    assert len(full.spearman) == len(parametrised_layers(adapter.net))
    assert full.layers[0] == parametrised_layers(adapter.net)[0]  # top layer first
    assert full.final_spearman < 0.5 and not full.flagged
    same = mprt(adapter, x, ["gradcam"], original.target, {"gradcam": original.map}, layers=[])["gradcam"]
    assert same.spearman == [pytest.approx(1.0)] and same.ssim == [pytest.approx(1.0)]
    for k, v in adapter.net.state_dict().items():  # the user's model is never touched
        assert torch.equal(v, before[k])


def test_evaluate_image_random_control_cancel_and_errors() -> None:
    adapter = small_adapter(size=16)
    x = _image(adapter)
    ev = evaluate_image(adapter, x, ["saliency"], metrics=["deletion", "perturbation"], steps=10)
    assert [m.method for m in ev.methods] == ["saliency", "random"]
    row = ev.methods[0].row()
    assert set(row) == {"method", "deletion_auc", "perturbation"}
    job = JobControl()
    job.cancel()
    with pytest.raises(Cancelled):
        evaluate_image(adapter, x, ["saliency"], metrics=["deletion"], job=job)
    with pytest.raises(ParameterError):
        evaluate_image(adapter, x, ["saliency"], metrics=["roar"])
    with pytest.raises(ParameterError):
        evaluate_image(adapter, x, ["saliency"], metrics=["deletion"], steps=0)
    with pytest.raises(ParameterError):
        evaluate_image(adapter, x, ["saliency"], metrics=["deletion"], target="top:2")


def test_bootstrap_and_paired_comparison_closed_forms() -> None:
    s = bootstrap_ci([2.0, 2.0, 2.0])
    assert (s.mean, s.low, s.high, s.n) == (2.0, 2.0, 2.0, 3)
    v = np.random.default_rng(0).normal(1.0, 1.0, 200)
    s = bootstrap_ci([*v, float("nan")])
    se = v.std(ddof=1) / math.sqrt(v.size)
    assert s.n == 200 and s.low < v.mean() < s.high
    assert (s.high - s.low) == pytest.approx(2 * 1.96 * se, rel=0.15)  # normal approximation
    # deletion: lower is better. A beats B on 3 images, ties on 1, loses on 1.
    p = paired_comparison([0.1, 0.2, 0.3, 0.5, 0.9], [0.2, 0.3, 0.4, 0.5, 0.1], "deletion_auc")
    assert p.win_rate == pytest.approx(3.5 / 5) and p.n == 5
    assert 0 < p.p_value <= 1
    assert paired_comparison([1.0], [0.0], "insertion_auc").win_rate == 1.0


def test_ssim_equals_scikit_image() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    from gmxai_desktop.core.analysis.faithfulness.mprt import ssim

    rng = np.random.default_rng(0)
    a = rng.random((40, 50))
    b = np.clip(a + 0.3 * rng.standard_normal(a.shape), 0, 1)
    ref = metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)
