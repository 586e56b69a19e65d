"""Every attribution method against an independent reference: closed forms on a linear model,
DeepLIFT's summation-to-delta, captum's classes called the usual way, and pytorch-grad-cam."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from captum.attr import (
    Deconvolution,
    DeepLift,
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Occlusion,
    Saliency,
)
from nets import (
    ConvReluNet,
    DistinctReluNet,
    DistinctResNet,
    EarlyHeavyNet,
    LinearNet,
    generic_adapter,
    resnet_adapter,
    small_adapter,
    v1_adapter,
)
from pytorch_grad_cam import FullGrad, GradCAM, HiResCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from gmxai_desktop.core.attribution.engine import explain
from gmxai_desktop.core.attribution.methods import METHOD_ORDER, REGISTRY, incremental, list_methods
from gmxai_desktop.core.attribution.methods.base import MethodContext
from gmxai_desktop.core.attribution.methods.common import PassNeeds, baseline_tensor, gradient_pass
from gmxai_desktop.core.attribution.methods.incremental import find_plan
from gmxai_desktop.core.attribution.methods.occlusion import window_starts
from gmxai_desktop.core.attribution.methods.surgery import (
    SurgeryError,
    acquire_private,
    make_private,
    release_private,
)
from gmxai_desktop.core.base.jobs import JobControl

warnings.filterwarnings("ignore", message=".*backward hooks.*")
warnings.filterwarnings("ignore", message=".*target_layers is ignored.*")


def run(adapter, x, name, target, shared=None, **params) -> np.ndarray:
    """One map through the engine; pass the fixture's ``shared`` dict to reuse its work."""
    [res] = explain(adapter, x, [name], target=target, params={name: params} if params else None,
                    shared=shared)
    assert res.map.dtype == np.float32 and res.map.shape == tuple(x.shape[-2:])
    return res.map


def close(a, b, rel=1e-4, abs_=1e-7) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), abs_)
    err = np.abs(a - b).max()
    assert err <= rel * scale, f"max error {err:.3g} vs scale {scale:.3g}"


def csum(t: torch.Tensor) -> np.ndarray:
    """captum output (1, C, H, W) -> our reduction (signed channel sum)."""
    return t.detach()[0].sum(0).numpy()


def minmax(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / (1e-7 + a.max())


@pytest.fixture(scope="module")
def v1():
    adapter = v1_adapter(num_classes=5, seed=1)
    x = torch.rand(1, 1, 100, 100, generator=torch.Generator().manual_seed(2))
    target = int(adapter.logits_module(x).argmax())
    return adapter, x, target, {}


@pytest.fixture(scope="module")
def small():
    adapter = small_adapter(seed=12)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(13))
    target = int(adapter.logits_module(x).argmax())
    return adapter, x, target, {}


@pytest.fixture(scope="module")
def rn():
    adapter = resnet_adapter(num_classes=5, size=112, seed=3)
    x = torch.randn(1, 3, 112, 112, generator=torch.Generator().manual_seed(4))
    target = int(adapter.logits_module(x).argmax())
    return adapter, x, target, {}


# --------------------------------------------------------------------------------------- registry


def test_registry_has_every_method_in_thesis_order():
    names = [m.name for m in list_methods()]
    assert names[: len(METHOD_ORDER)] == list(METHOD_ORDER) and sorted(names) == sorted(REGISTRY)
    assert len(METHOD_ORDER) == 11 and set(METHOD_ORDER) <= set(REGISTRY)
    for cls in list_methods():
        assert cls.label and len(cls.description) > 40 and cls.family in ("gradient", "perturbation", "cam")
        cls.resolve_params({})  # defaults are valid


def test_defaults_are_the_documented_ones():
    assert REGISTRY["occlusion"].resolve_params() == {"window": 10, "stride": 5, "baseline": "black"}
    assert REGISTRY["integrated_gradients"].resolve_params() == {
        "steps": 50, "baseline": "black", "method": "gausslegendre"}
    assert REGISTRY["smoothgrad"].resolve_params() == {"n_samples": 25, "noise": 0.15, "seed": 0}
    assert REGISTRY["saliency"].resolve_params() == {"abs": True}
    assert REGISTRY["gradcam"].resolve_params() == {"layer": None, "relu": True}
    assert REGISTRY["deeplift"].resolve_params() == {"baseline": "black"}


# ----------------------------------------------------------------------------- linear closed forms


@pytest.fixture(scope="module")
def linear():
    net = LinearNet(channels=2, size=12, num_classes=3, seed=5).eval()
    adapter = generic_adapter(net, (12, 12), channels=2, num_classes=3)
    adapter.mean, adapter.std = (0.5, 0.25), (0.25, 0.5)  # black = (-2, -0.5) in input space
    x = torch.randn(1, 2, 12, 12, generator=torch.Generator().manual_seed(6))
    w = net.linear.weight.detach().view(3, 2, 12, 12)
    return adapter, x, w


def test_linear_closed_forms(linear):
    adapter, x, w = linear
    t = 2
    wt = w[t].numpy()
    black = np.array([-2.0, -0.5]).reshape(2, 1, 1)
    delta = x[0].numpy() - black
    close(run(adapter, x, "saliency", t), np.abs(wt).sum(0))
    close(run(adapter, x, "saliency", t, abs=False), wt.sum(0))
    close(run(adapter, x, "integrated_gradients", t), (delta * wt).sum(0))
    close(run(adapter, x, "integrated_gradients", t, steps=3, method="riemann_middle"), (delta * wt).sum(0))
    close(run(adapter, x, "integrated_gradients", t, baseline="zero"), (x[0].numpy() * wt).sum(0))
    close(run(adapter, x, "deeplift", t), (delta * wt).sum(0))
    close(run(adapter, x, "smoothgrad", t), wt.sum(0))  # constant gradient: noise changes nothing
    close(run(adapter, x, "guided_backprop", t), wt.sum(0))  # no ReLU: plain gradient
    close(run(adapter, x, "deconvolution", t), wt.sum(0))


@pytest.mark.parametrize("window,stride", [(4, 4), (4, 2), (5, 3)])
def test_linear_occlusion_by_hand(linear, window, stride):
    adapter, x, w = linear
    t = 1
    xn, wn = x[0].numpy().astype(np.float64), w[t].numpy().astype(np.float64)
    black = np.array([-2.0, -0.5]).reshape(2, 1, 1)
    total = np.zeros((12, 12))
    count = np.zeros((12, 12))
    y = 0
    while True:  # windows as captum places them: last one clipped at the border
        xx = 0
        while True:
            sl = (slice(None), slice(y, y + window), slice(xx, xx + window))
            drop = (wn[sl] * (xn[sl] - black)).sum()  # f(x) - f(x with the patch black)
            total[sl[1:]] += drop
            count[sl[1:]] += 1
            if xx + window >= 12:
                break
            xx += stride
        if y + window >= 12:
            break
        y += stride
    assert count.min() >= 1
    close(run(adapter, x, "occlusion", t, window=window, stride=stride), total / count)


def test_window_starts_match_captum_shift_counts():
    assert window_starts(100, 10, 5) == list(range(0, 91, 5))
    assert window_starts(112, 10, 5)[-1] == 105  # 22 positions, last clipped (105..111)
    assert window_starts(10, 10, 5) == [0]


# ------------------------------------------------------------------------------------- DeepLIFT


def test_deeplift_summation_to_delta_on_relu_network():
    torch.manual_seed(7)
    net = ConvReluNet(channels=3, num_classes=4).eval()
    adapter = generic_adapter(net, (16, 16), 3, 4)
    x = torch.randn(1, 3, 16, 16)
    for t in range(4):
        attr = run(adapter, x, "deeplift", t)
        with torch.no_grad():
            delta = float(net(x)[0, t] - net(torch.zeros_like(x))[0, t])
        assert abs(attr.sum(dtype=np.float64) - delta) <= 1e-5 * max(1.0, abs(delta))
        # Same as captum on the network written with one non-inplace ReLU per call.
        ref = DeepLift(DistinctReluNet(net).eval()).attribute(x, baselines=0.0, target=t)
        close(attr, csum(ref))


def test_deeplift_v1_equals_captum_directly(v1):
    adapter, x, t, sh = v1
    # v1 already has one ReLU / pool module per call: the surgery leaves it as it is.
    assert make_private(adapter.logits_module, x).rewritten == []
    ref = DeepLift(adapter.logits_module).attribute(x.clone(), baselines=0.0, target=t)
    close(run(adapter, x, "deeplift", t, sh), csum(ref))


def test_resnet_hook_methods_equal_captum_on_hand_rewritten_model(rn):
    adapter, x, t, sh = rn
    with pytest.raises(RuntimeError, match="inplace"):  # why the surgery exists
        DeepLift(adapter.logits_module).attribute(x.clone(), target=t)
    ref_model = DistinctResNet(adapter.logits_module).eval()
    with torch.no_grad():
        assert torch.allclose(ref_model(x), adapter.logits_module(x), atol=1e-5)
    black = baseline_tensor(adapter, x, "black")
    results = {r.method: r.map for r in explain(
        adapter, x, ["deeplift", "guided_backprop", "deconvolution"], target=t, shared=sh)}
    close(results["deeplift"], csum(DeepLift(ref_model).attribute(x.clone(), baselines=black, target=t)))
    gbp_ref = csum(GuidedBackprop(ref_model).attribute(x.clone(), target=t))
    close(results["guided_backprop"], gbp_ref)
    # Finding: captum's guided backprop copes with ResNet's reused ReLUs on its own (its hooks
    # keep per-call state); only functional ReLUs defeat it (see the surgery tests below).
    close(csum(GuidedBackprop(adapter.logits_module).attribute(x.clone(), target=t)), gbp_ref)
    close(results["deconvolution"], csum(Deconvolution(ref_model).attribute(x.clone(), target=t)))
    # The user's model is untouched: still in-place ReLUs, still the torchvision classes, no hooks.
    net = adapter.logits_module
    assert net.relu.inplace and type(net.layer1[0]).__name__ == "BasicBlock"
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


# ------------------------------------------------------------------------- gradient family vs captum


def test_saliency_matches_captum(v1):
    adapter, x, t, sh = v1
    sal = Saliency(adapter.logits_module)
    close(run(adapter, x, "saliency", t, sh), csum(sal.attribute(x.clone(), target=t, abs=True)))
    close(run(adapter, x, "saliency", t, sh, abs=False), csum(sal.attribute(x.clone(), target=t, abs=False)))


def test_guided_backprop_and_deconvolution_match_captum(v1):
    adapter, x, t, sh = v1
    model = adapter.logits_module
    gbp = GuidedBackprop(model).attribute(x.clone(), target=t)
    close(run(adapter, x, "guided_backprop", t, sh), csum(gbp))
    close(run(adapter, x, "deconvolution", t, sh), csum(Deconvolution(model).attribute(x.clone(), target=t)))


def test_integrated_gradients_matches_captum_v1(v1):
    adapter, x, t, sh = v1
    ref = IntegratedGradients(adapter.logits_module).attribute(x.clone(), baselines=0.0, target=t, n_steps=4)
    close(run(adapter, x, "integrated_gradients", t, sh, steps=4), csum(ref))


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_right", "riemann_middle"])
def test_integrated_gradients_matches_captum(small, method):
    adapter, x, t, sh = small
    black = baseline_tensor(adapter, x, "black")
    ref = IntegratedGradients(adapter.logits_module).attribute(
        x.clone(), baselines=black, target=t, n_steps=17, method=method)
    close(run(adapter, x, "integrated_gradients", t, sh, steps=17, method=method), csum(ref))


def test_integrated_gradients_completeness_with_defaults(small):
    adapter, x, t, sh = small
    attr = run(adapter, x, "integrated_gradients", t, sh)  # 50 Gauss-Legendre steps, black baseline
    black = baseline_tensor(adapter, x, "black")
    with torch.no_grad():
        out = adapter.logits_module(torch.cat([x, black]))
    delta = float(out[0, t] - out[1, t])
    assert abs(delta) > 1e-2
    assert abs(attr.sum(dtype=np.float64) - delta) < 0.01 * abs(delta)


def test_smoothgrad_matches_captum_noise_tunnel(small):
    adapter, x, t, sh = small
    n, seed = 6, 11
    stdev = 0.15 * float(x.max() - x.min())
    torch.manual_seed(seed)  # captum draws from the global generator, ours from one seeded the same
    ref = NoiseTunnel(Saliency(adapter.logits_module)).attribute(
        x.clone(), nt_type="smoothgrad", nt_samples=n, stdevs=stdev, target=t, abs=False)
    ours = run(adapter, x, "smoothgrad", t, sh, n_samples=n, seed=seed)
    close(ours, csum(ref))
    # A different seed gives a different map (the noise is really used).
    other = run(adapter, x, "smoothgrad", t, sh, n_samples=n, seed=seed + 1)
    assert np.abs(other - ours).max() > 1e-3 * np.abs(ours).max()


def _split_used(adapter, x, window) -> bool:
    private = acquire_private(adapter.logits_module, x)
    release_private(private)
    plan = private.cache.get(("occlusion-plan", tuple(x.shape), str(x.dtype), str(x.device)))
    ok = private.cache.get(("occlusion-plan", tuple(x.shape), str(x.dtype), str(x.device), window))
    return plan is not None and bool(ok)


def test_occlusion_matches_captum_v1(v1):
    adapter, x, t, sh = v1
    ref = Occlusion(adapter.logits_module).attribute(
        x.clone(), sliding_window_shapes=(1, 20, 20), strides=20, baselines=0.0, target=t,
        perturbations_per_eval=25)
    close(run(adapter, x, "occlusion", t, sh, window=20, stride=20), ref[0, 0].numpy(), rel=1e-4)
    assert _split_used(adapter, x, 20)  # the exact windowed path ran, not plain forwards


def test_windowed_occlusion_geometry_on_v1(v1):
    adapter, x, _t, _sh = v1
    plan = find_plan(acquire_private(adapter.logits_module, x).module, x)
    assert plan is not None and plan.saving < 0.5 and len(plan.stages) >= 2
    regions = plan.regions((45, 55), (0, 10))
    (ny0, ny1), (nx0, nx1) = regions[0].need
    assert ny0 <= 45 and ny1 >= 55 and nx0 == 0 and nx1 >= 10  # the first crop holds the patch
    assert (ny1 - ny0) * (nx1 - nx0) < 0.2 * 100 * 100  # and is much smaller than the image
    assert ny0 % plan.stages[0].step[0] == 0
    for before, after in itertools.pairwise(regions):  # each changed region lies in the next crop
        for axis in (0, 1):
            lo, hi = before.changed[axis]
            assert after.need[axis][0] <= lo < hi <= after.need[axis][1]


@pytest.mark.parametrize("window,stride", [(6, 3), (5, 4), (45, 45)])
def test_windowed_occlusion_matches_captum_with_residual_and_ceil_pool(window, stride):
    torch.manual_seed(14)
    net = EarlyHeavyNet().eval()
    adapter = generic_adapter(net, (45, 45), 3, 3)
    x = torch.randn(1, 3, 45, 45)
    ref = Occlusion(net).attribute(x.clone(), sliding_window_shapes=(3, window, window),
                                   strides=(3, stride, stride), baselines=0.0, target=2,
                                   perturbations_per_eval=64)
    close(run(adapter, x, "occlusion", 2, window=window, stride=stride, baseline="zero"),
          ref[0, 0].numpy(), rel=1e-4)
    if window < 45:
        assert _split_used(adapter, x, window)


def test_windowed_occlusion_falls_back_when_its_check_fails(monkeypatch):
    torch.manual_seed(15)
    net = EarlyHeavyNet().eval()
    adapter = generic_adapter(net, (45, 45), 3, 3)
    x = torch.randn(1, 3, 45, 45)
    real = incremental._backward_span
    # A deliberately broken geometry (every crop one pixel short) must be caught, not trusted.
    monkeypatch.setattr(incremental, "_backward_span", lambda *a: (lambda lo, hi: (lo, hi - 1))(*real(*a)))
    ref = Occlusion(net).attribute(x.clone(), sliding_window_shapes=(3, 6, 6), strides=(3, 3, 3),
                                   baselines=0.0, target=1, perturbations_per_eval=64)
    close(run(adapter, x, "occlusion", 1, window=6, stride=3, baseline="zero"), ref[0, 0].numpy(), rel=1e-4)
    assert not _split_used(adapter, x, 6)


@pytest.mark.parametrize("window,stride,baseline", [(10, 5, "black"), (7, 4, "zero"), (32, 32, "black")])
def test_occlusion_matches_captum_rgb(small, window, stride, baseline):
    adapter, x, t, sh = small
    base = baseline_tensor(adapter, x, baseline)
    ref = Occlusion(adapter.logits_module).attribute(
        x.clone(), sliding_window_shapes=(3, window, window), strides=(3, stride, stride), baselines=base,
        target=t, perturbations_per_eval=16)
    # One value per pixel: the window covers all channels, so captum's three channels are equal.
    assert torch.equal(ref[0, 0], ref[0, 2])
    ours = run(adapter, x, "occlusion", t, sh, window=window, stride=stride, baseline=baseline)
    close(ours, ref[0, 0].numpy(), rel=1e-4)


# ------------------------------------------------------------------------------------ CAM family


def _layer_ref(adapter, x, layer_name, t, relu):
    layer = adapter.layer(layer_name)
    attr = LayerGradCam(adapter.logits_module, layer).attribute(x.clone(), target=t, relu_attributions=relu)
    return LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")[0, 0]


@pytest.mark.parametrize("which", ["v1", "rn"])
def test_gradcam_matches_captum_signed_and_rectified(which, request):
    adapter, x, t, sh = request.getfixturevalue(which)
    layer = adapter.default_cam_layer
    signed = run(adapter, x, "gradcam", t, sh, relu=False)
    assert signed.min() < 0 < signed.max()  # a random model has evidence both ways
    close(signed, _layer_ref(adapter, x, layer, t, relu=False).detach().numpy())
    close(run(adapter, x, "gradcam", t, sh), _layer_ref(adapter, x, layer, t, relu=True).detach().numpy())


@pytest.mark.parametrize("which", ["v1", "rn"])
def test_cams_match_pytorch_grad_cam(which, request):
    adapter, x, t, sh = request.getfixturevalue(which)
    ours = {r.method: r.map for r in explain(adapter, x, ["gradcam", "hirescam", "fullgrad"], target=t,
                                             shared=sh)}
    layer = adapter.layer(adapter.default_cam_layer)
    for name, cls, layers in (("gradcam", GradCAM, [layer]), ("hirescam", HiResCAM, [layer]),
                              ("fullgrad", FullGrad, [])):
        with cls(model=adapter.logits_module, target_layers=layers) as cam:
            ref = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(t)])[0]
        assert ref.max() > 0.5, name  # the reference map is not empty
        # pytorch-grad-cam rectifies and min-max scales; ours is raw.
        close(minmax(np.maximum(ours[name], 0)), ref, rel=1e-4)
    assert ours["fullgrad"].min() >= 0


def test_guided_gradcam_matches_captum_bilinear(rn):
    adapter, x, t, sh = rn
    ref = GuidedGradCam(adapter.logits_module, adapter.layer("layer4"))
    ours = run(adapter, x, "guided_gradcam", t, sh)
    close(ours, csum(ref.attribute(x.clone(), target=t, interpolate_mode="bilinear")))


def test_hirescam_closed_form_on_global_average_pooling_head(v1):
    """v1: base.13 -> AvgPool(7) -> Linear. Σ HiResCAM = logit − bias, and Grad-CAM == HiResCAM."""
    adapter, x, t, sh = v1
    ctx = MethodContext(adapter=adapter, x=x, target=t, job=JobControl(), shared=sh)
    pas = gradient_pass(ctx, PassNeeds(layers=frozenset({"base.13"})))
    acts, grads = pas.layers["base.13"]
    hires = (grads * acts).sum(1)
    bias = float(adapter.net.classifier[0].bias[t])
    assert abs(float(hires.sum()) - (float(pas.logits[0, t]) - bias)) < 1e-4
    gcam = (grads.mean((2, 3), keepdim=True) * acts).sum(1)
    close(gcam.numpy(), hires.numpy(), rel=1e-5)
    signed_hires = run(adapter, x, "hirescam", t, sh, relu=False)
    close(run(adapter, x, "gradcam", t, sh, relu=False), signed_hires, rel=1e-5)


def test_cam_layer_parameter(v1):
    adapter, x, t, sh = v1
    a = run(adapter, x, "gradcam", t, sh, layer="base.12")
    b = _layer_ref(adapter, x, "base.12", t, relu=True).detach().numpy()
    close(a, b)


# ------------------------------------------------------------------------------------ model surgery


def test_surgery_makes_functional_and_reused_relus_visible_to_guided_backprop():
    torch.manual_seed(8)
    net = ConvReluNet().eval()
    adapter = generic_adapter(net, (16, 16), 3, 4)
    x = torch.randn(1, 3, 16, 16)
    ours = run(adapter, x, "guided_backprop", 1)
    ref = csum(GuidedBackprop(DistinctReluNet(net).eval()).attribute(x.clone(), target=1))
    close(ours, ref)
    # Captum on the original misses the functional ReLU, so it really differs (the test can fail).
    naive = csum(GuidedBackprop(net).attribute(x.clone(), target=1))
    assert np.abs(naive - ref).max() > 1e-3 * np.abs(ref).max()
    private = make_private(net, x)
    assert private.rewritten == ["<top level>"] and private.surgery_error is None
    assert net.relu.inplace  # the user's model keeps its flags
    assert private.module.conv1.weight is net.conv1.weight  # parameters are shared, not copied


class _Untraceable(nn.Module):
    """Reuses one ReLU and branches on data: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.relu(self.conv(x))
        if float(y.mean()) > -1:
            y = self.relu(y - 0.1)
        return self.fc(y.mean((2, 3)))


class _InplaceSideEffect(nn.Module):
    """Relies on an in-place ReLU changing its input: switching in-place off changes the output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        self.relu(y)
        return self.fc(y.mean((2, 3)))


@pytest.mark.parametrize(
    "net_cls,needle", [(_Untraceable, "cannot be traced"), (_InplaceSideEffect, "in-place")]
)
def test_unrepairable_models_refuse_hook_methods_but_keep_gradients(net_cls, needle):
    torch.manual_seed(9)
    net = net_cls().eval()
    adapter = generic_adapter(net, (10, 10), 1, 2)
    x = torch.randn(1, 1, 10, 10)
    with pytest.raises(SurgeryError, match=needle):
        explain(adapter, x, ["deeplift"], target=0)
    close(run(adapter, x, "saliency", 0), csum(Saliency(net).attribute(x.clone(), target=0)))


def test_deeplift_refuses_activations_without_a_rule():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.SiLU(), nn.Flatten(), nn.Linear(2 * 8 * 8, 2)).eval()
    adapter = generic_adapter(net, (10, 10), 1, 2)
    with pytest.raises(SurgeryError, match="SiLU"):
        explain(adapter, torch.randn(1, 1, 10, 10), ["deeplift"], target=0)


def test_cams_and_saliency_work_when_the_model_parameters_are_frozen():
    adapter = small_adapter(seed=16)
    for p in adapter.net.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(17))
    close(run(adapter, x, "gradcam", 0), _layer_ref(adapter, x, "features.7", 0, relu=True).detach().numpy())
    close(run(adapter, x, "saliency", 0), csum(Saliency(adapter.net).attribute(x.clone(), target=0)))
