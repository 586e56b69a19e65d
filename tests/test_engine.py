"""The engine: prediction, validation before work, result order and metadata, shared work,
non-finite values, progress, and cancellation."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
import torch
from nets import generic_adapter, resnet_adapter, small_adapter, v1_adapter
from torch import nn

from gmxai_desktop.core.attribution import engine
from gmxai_desktop.core.attribution.engine import explain, predict
from gmxai_desktop.core.attribution.methods import common, occlusion, surgery
from gmxai_desktop.core.base.errors import Cancelled, GmxaiError, ParameterError
from gmxai_desktop.core.base.jobs import JobControl


@pytest.fixture(scope="module")
def v1():
    adapter = v1_adapter(num_classes=5, seed=1)
    x = torch.rand(1, 1, 100, 100, generator=torch.Generator().manual_seed(2))
    return adapter, x


@pytest.fixture(scope="module")
def small():
    adapter = small_adapter(seed=3)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    return adapter, x


def _count_forwards(module: nn.Module) -> tuple[list[int], object]:
    count = [0]

    def hook(_m, _i):
        count[0] += 1

    return count, module.register_forward_pre_hook(hook)


def test_predict(v1):
    adapter, x = v1
    pred = predict(adapter, x, top=3)
    with torch.no_grad():
        logits, _emb = adapter.net(x)
    np.testing.assert_allclose(pred.logits, logits[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(pred.probabilities, torch.softmax(logits[0], 0).numpy(), rtol=1e-5)
    assert pred.probabilities.dtype == np.float32 and abs(pred.probabilities.sum() - 1) < 1e-5
    assert pred.embedding is not None and pred.embedding.shape == (320,)
    assert len(pred.top) == 3 and pred.top[0][0] == int(logits.argmax())
    assert pred.top[0][1] == adapter.class_names[pred.top[0][0]]
    assert [p for _, _, p in pred.top] == sorted((p for _, _, p in pred.top), reverse=True)


def test_predict_without_embedding(small):
    adapter, x = small
    pred = predict(adapter, x, top=10)
    assert pred.embedding is None and len(pred.top) == 4


def test_results_ordered_by_target_then_method_with_metadata(v1):
    adapter, x = v1
    pred = predict(adapter, x)
    results = explain(adapter, x, ["saliency", "gradcam"], target="top:2",
                      params={"gradcam": {"relu": "false"}})
    top2 = [pred.top[0][0], pred.top[1][0]]
    assert [(r.target, r.method) for r in results] == [
        (top2[0], "saliency"), (top2[0], "gradcam"), (top2[1], "saliency"), (top2[1], "gradcam")]
    for r in results:
        assert r.map.dtype == np.float32 and r.map.shape == (100, 100) and np.isfinite(r.map).all()
        assert r.model_id == adapter.model_id and r.target_name == adapter.class_names[r.target]
        assert r.logit == pytest.approx(float(pred.logits[r.target]), rel=1e-5)
        assert r.probability == pytest.approx(float(pred.probabilities[r.target]), rel=1e-4)
        assert r.elapsed_s >= 0 and r.reduction
    gradcam = results[1]
    assert gradcam.params == {"layer": "base.13", "relu": False}  # default layer filled in, text parsed
    assert gradcam.map.min() < 0  # relu off: signed map
    meta = gradcam.metadata()
    assert meta["shape"] == [100, 100] and "map" not in meta and meta["method"] == "gradcam"


@pytest.mark.parametrize("methods,params,target,match", [
    (["saliency", "magic"], None, "predicted", "unknown method 'magic'"),
    (["occlusion"], {"occlusion": {"window": 0}}, "predicted", "below the minimum"),
    (["occlusion"], {"occlusion": {"window": 500}}, "predicted", "larger than the model input"),
    (["occlusion"], {"occlusion": {"stride": 20}}, "predicted", "exceeds the window"),
    (["occlusion"], {"occlusion": {"size": 3}}, "predicted", "has no parameter 'size'"),
    (["saliency"], {"gradcam": {"relu": True}}, "predicted", "not among the requested"),
    (["gradcam"], {"gradcam": {"layer": "base.99"}}, "predicted", "layer 'base.99' not found"),
    (["integrated_gradients"], {"integrated_gradients": {"method": "simpson"}}, "predicted", "not one of"),
    (["saliency"], None, "Kabuki", "unknown target 'Kabuki'"),
    (["saliency"], None, 9, "out of range"),
    ([], None, "predicted", "no attribution method"),
])
def test_invalid_requests_fail_before_any_work(v1, methods, params, target, match):
    adapter, x = v1
    count, handle = _count_forwards(adapter.net)
    try:
        with pytest.raises(ParameterError, match=match):
            explain(adapter, x, methods, target=target, params=params)
    finally:
        handle.remove()
    assert count[0] == 0


def test_non_finite_input_is_a_user_error(small):
    adapter, x = small
    bad = x.clone()
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(GmxaiError, match="NaN or infinite"):
        explain(adapter, bad, ["saliency"])
    with pytest.raises(GmxaiError, match="NaN or infinite"):
        predict(adapter, bad)


class _SqrtNet(nn.Module):
    """Finite logits, infinite input gradient where a pixel is exactly 0 (d sqrt(x)/dx at 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(1, 2)

    def forward(self, x):
        return self.fc(x.abs().sqrt().sum(dim=(1, 2, 3)).unsqueeze(1))


def test_non_finite_map_is_refused_not_returned():
    adapter = generic_adapter(_SqrtNet().eval(), (8, 8), 1, 2)
    x = torch.rand(1, 1, 8, 8) + 0.1
    x[0, 0, 2, 2] = 0.0
    with pytest.raises(GmxaiError, match=r"Saliency.*NaN or infinite"):
        explain(adapter, x, ["saliency"], target=0)


def test_one_forward_serves_saliency_and_all_cams(small, monkeypatch):
    adapter, x = small
    forwards: list[int] = []
    backwards: list[int] = []
    real_init, real_backward = common.OpenForward.__init__, common.OpenForward.backward
    monkeypatch.setattr(common.OpenForward, "__init__",
                        lambda self, *a, **k: forwards.append(1) or real_init(self, *a, **k))
    monkeypatch.setattr(common.OpenForward, "backward",
                        lambda self, t: backwards.append(t) or real_backward(self, t))
    methods = ["saliency", "gradcam", "guided_gradcam", "hirescam", "fullgrad"]
    results = explain(adapter, x, methods, target="top:2")
    # One forward gives the logits and the graph; each target then costs one backward pass.
    assert len(results) == 10 and len(forwards) == 1 and len(backwards) == 2
    # GUI style: one method per call with a shared dict. Later CAMs reuse the first pass.
    forwards.clear()
    backwards.clear()
    shared: dict = {}
    for m in ("gradcam", "hirescam", "guided_gradcam"):
        explain(adapter, x, [m], shared=shared)
    explain(adapter, x, ["gradcam"], params={"gradcam": {"relu": False}}, shared=shared)
    assert len(forwards) == 1
    explain(adapter, x, ["fullgrad"], shared=shared)  # needs the input and bias layers: one more
    explain(adapter, x, ["saliency"], shared=shared)  # covered by FullGrad's pass
    assert len(forwards) == 2 and len(backwards) == 2


def test_occlusion_runs_its_forwards_once_for_all_targets(small, monkeypatch):
    adapter, x = small
    evaluated: list[int] = []
    real = occlusion._evaluator

    def counting(*args):
        evaluate = real(*args)
        return lambda chunk: evaluated.extend([1] * len(chunk)) or evaluate(chunk)

    monkeypatch.setattr(occlusion, "_evaluator", counting)
    results = explain(adapter, x, ["occlusion"], target="top:3", params={"occlusion": {"window": 8}})
    assert len(results) == 3
    assert len({r.map.tobytes() for r in results}) == 3  # different targets, different maps
    assert len(evaluated) == 36  # 6x6 windows, evaluated once (not once per target)


def test_shared_dict_of_another_image_is_not_reused(small):
    adapter, x = small
    shared: dict = {}
    a = explain(adapter, x, ["occlusion"], params={"occlusion": {"window": 16, "stride": 16}}, shared=shared)
    y = x.flip(-1)
    b = explain(adapter, y, ["occlusion"], params={"occlusion": {"window": 16, "stride": 16}},
                target=a[0].target, shared=shared)
    fresh = explain(adapter, y, ["occlusion"], params={"occlusion": {"window": 16, "stride": 16}},
                    target=a[0].target)
    np.testing.assert_array_equal(b[0].map, fresh[0].map)


def test_progress_is_reported_and_reaches_one(small):
    adapter, x = small
    seen: list[tuple[float, str]] = []
    job = JobControl(on_progress=lambda f, m: seen.append((f, m)), min_interval_s=0.0)
    explain(adapter, x, ["occlusion", "integrated_gradients", "gradcam"], job=job)
    fractions = [f for f, _ in seen]
    assert fractions[-1] == 1.0 and len(fractions) > 5
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(fractions))
    assert any(m.startswith("Occlusion") for _, m in seen) and any("Integrated" in m for _, m in seen)


@pytest.mark.parametrize("method,params", [
    ("integrated_gradients", {"steps": 300}),
    ("occlusion", {"window": 4, "stride": 1}),
    ("smoothgrad", {"n_samples": 200}),
])
def test_cancel_lands_quickly(v1, method, params):
    adapter, x = v1
    job = JobControl()
    outcome: dict = {}

    def work():
        try:
            explain(adapter, x, [method], params={method: params}, job=job)
            outcome["result"] = "finished"
        except Cancelled:
            outcome["result"] = "cancelled"
        outcome["t"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.05)
    t_cancel = time.perf_counter()
    job.cancel()
    thread.join(timeout=30)
    assert outcome["result"] == "cancelled"
    assert outcome["t"] - t_cancel < 1.0  # a correctness bound (one batch), not a speed target


def test_user_model_is_never_modified_or_hooked():
    adapter = resnet_adapter(num_classes=3, size=64, seed=5)
    net = adapter.logits_module
    x = torch.randn(1, 3, 64, 64)
    methods = ["deeplift", "guided_backprop", "fullgrad", "occlusion"]
    params = {"occlusion": {"window": 32, "stride": 32}}
    expected = [r.map for r in explain(adapter, x, methods, params=params, target=0)]
    net.train()  # even in training mode: maps are of the eval-mode network, BN stats untouched
    before = {k: v.clone() for k, v in net.state_dict().items()}
    types = [type(m) for m in net.modules()]
    got = [r.map for r in explain(adapter, x, methods, params=params, target=0)]
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert [type(m) for m in net.modules()] == types
    assert all(m.inplace for m in net.modules() if isinstance(m, nn.ReLU))
    assert all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks) for m in net.modules())
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net.training and all(p.stride() == p.contiguous().stride() for p in net.parameters())


def test_batch_planner_explores_then_keeps_the_fastest_size():
    memory: dict = {}
    p = common.BatchPlanner(cap=64, candidates=(4, 8, 16, 32), memory=memory, key="k")
    per_item = {4: 0.010, 8: 0.008, 16: 0.009, 32: 0.012}  # fastest at 8, like v1 on a CPU
    sizes, remaining = [], 200
    while remaining:
        n = p.size(remaining)
        sizes.append(n)
        p.record(n, per_item.get(n, 0.009) * n)
        remaining -= n
    assert sizes[:3] == [4, 8, 16]  # explores until throughput stops improving
    assert set(sizes[3:]) <= {8, 12} and sum(sizes) == 200  # then the best (a tail folded in)
    assert memory["k"] == 8
    again = common.BatchPlanner(cap=64, candidates=(4, 8, 16, 32), memory=memory, key="k")
    assert again.size(100) == 8  # a later run starts from the remembered best
    assert common.BatchPlanner(cap=3).size(100) == 3  # memory cap
    slow = common.BatchPlanner(cap=64)
    slow.record(4, 4.0)  # 1 s per item: batches stay short enough for smooth progress
    assert slow.size(100) == 1


def test_engine_validate_is_public_and_costs_nothing(v1):
    adapter, _ = v1
    plan = engine.validate(adapter, ["gradcam", "occlusion"], {"occlusion": {"window": "12"}})
    assert [cls.name for cls, _ in plan] == ["gradcam", "occlusion"]
    assert plan[1][1]["window"] == 12 and plan[0][1]["layer"] == "base.13"


def test_a_failed_or_cancelled_job_never_returns_its_model_copy_to_the_pool(small):
    adapter, x = small
    first = surgery.acquire_private(adapter.logits_module, x)
    surgery.release_private(first)
    job = JobControl(on_progress=lambda f, m: job.cancel(), min_interval_s=0.0)
    with pytest.raises(Cancelled):
        explain(adapter, x, ["deeplift", "integrated_gradients"], job=job)
    # The copy that job used (the pooled one) may hold library state from the interrupted call.
    again = surgery.acquire_private(adapter.logits_module, x)
    assert again is not first
    surgery.release_private(again)
    assert surgery.acquire_private(adapter.logits_module, x) is again


def test_torchscript_models_get_gradient_and_perturbation_methods(small):
    adapter, x = small
    scripted = torch.jit.script(adapter.net)
    ts = generic_adapter(scripted, (32, 32), 3, 4, cam_layer="")
    ts.mean, ts.std = adapter.mean, adapter.std
    methods = ["saliency", "integrated_gradients", "occlusion"]
    params = {"integrated_gradients": {"steps": 8}}
    eager = explain(adapter, x, methods, params=params, target=1)
    script = explain(ts, x, methods, params=params, target=1)
    for a, b in zip(eager, script, strict=True):
        np.testing.assert_allclose(a.map, b.map, rtol=1e-4, atol=1e-6 * float(np.abs(a.map).max()))
    with pytest.raises(GmxaiError, match="TorchScript"):
        explain(ts, x, ["deeplift"], target=1)
    with pytest.raises(GmxaiError, match="TorchScript"):
        explain(ts, x, ["fullgrad"], target=1)


def test_pooled_model_copies_do_not_keep_unloaded_models_alive():
    import gc
    import weakref

    adapter = small_adapter(seed=6)
    x = torch.randn(1, 3, 32, 32)
    explain(adapter, x, ["saliency", "occlusion"], params={"occlusion": {"window": 16, "stride": 16}})
    ref = weakref.ref(adapter.logits_module)
    del adapter
    gc.collect()
    assert ref() is None


def test_a_new_method_is_one_class_the_engine_calls_only_through_its_hooks(small):
    """Register a method the engine has never heard of: its parameter binding, shared-pass needs
    and cost reach the engine through the AttributionMethod hooks alone."""
    from gmxai_desktop.core.attribution.methods.base import (
        REGISTRY,
        AttributionMethod,
        Param,
        PassNeeds,
        register,
    )

    adapter, x = small
    calls: list[str] = []

    class InputTimesGradient(AttributionMethod):
        name = "test_input_x_gradient"
        label = "Input × gradient"
        description = "test method"
        params = (Param("scale", float, 1.0, "factor"),)

        @classmethod
        def bind_params(cls, adapter, params):
            calls.append("bind")
            if params["scale"] == 0:
                raise ParameterError("scale must not be 0")
            return {**params, "bound": adapter.arch}

        @classmethod
        def pass_needs(cls, params):
            calls.append("needs")
            return PassNeeds(input=True)

        @classmethod
        def cost(cls, params, input_hw):
            calls.append("cost")
            return 1.0

        def attribute(self, ctx, params):
            grad = common.gradient_pass(ctx, PassNeeds(input=True)).input_grad
            return params["scale"] * (grad * ctx.x)[0]

    register(InputTimesGradient)
    try:
        name = InputTimesGradient.name
        with pytest.raises(ParameterError, match="must not be 0"):
            explain(adapter, x, [name], params={name: {"scale": 0}})
        (res,) = explain(adapter, x, [name], params={name: {"scale": 2}})
        assert res.params["bound"] == adapter.arch
        assert {"bind", "needs", "cost"} <= set(calls)
        # Reference: autograd on the user's model, from the definition.
        xg = x.detach().clone().requires_grad_(True)
        adapter.logits_module.eval()
        out = adapter.logits_module(xg)
        out = out[0] if isinstance(out, (tuple, list)) else out
        (g,) = torch.autograd.grad(out[0, res.target], xg)
        want = (2.0 * g * x)[0].sum(0).numpy()
        np.testing.assert_allclose(res.map, want, rtol=1e-4, atol=1e-6)
    finally:
        REGISTRY.pop(InputTimesGradient.name, None)
