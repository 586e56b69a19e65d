"""Helpers shared by the attribution methods: baselines, the private model, batching, and the one
forward+backward pass that saliency and the whole CAM family read from.

Shared work lives in ``ctx.shared`` (one dict per image and model, kept by the engine and, in the
GUI, across explain calls), under keys namespaced by what they hold:

* ``"pass:t<target>"``: a :class:`GradientPass` (input gradient, activations and gradients at the
  CAM layers, FullGrad's bias term) for one target;
* ``"gbp:t<target>"``: the guided-backprop input attribution Guided Grad-CAM reuses;
* ``"occlusion:..."``: all-class logits of every occluded image, so further targets are free;
* ``"_private"``: the private model copy the engine lent for this run (see ``surgery.py``);
* ``"_plan"``: the union of what the requested gradient-family methods need (:class:`PassNeeds`);
* ``"_open"``: the engine's :class:`OpenForward` for this call (graph kept, one backward per target);
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...base.errors import GmxaiError, ParameterError
from ...base.jobs import JobControl
from ...models.base import ModelAdapter
from .base import MethodContext, Param, PassNeeds, watch_forwards
from .surgery import PrivateModel, SurgeryError, acquire_private

# Upper bound on one batch's compute, for smooth progress on slow machines. Cancellation does not
# wait for a batch: :func:`watch_layers` checks at every layer.
MAX_BATCH_SECONDS = 1.5
# Rough memory per image relative to the input size, for the batch-size cap (GPU mostly).
_FORWARD_MEMORY_FACTOR = 64
_BACKWARD_MEMORY_FACTOR = 256
_MEMORY_BUDGET_BYTES = 1 << 30

BASELINE_PARAM = Param(
    "baseline",
    str,
    "black",
    "reference image: 'black' = a black image (0 in pixel space, mapped through the model's "
    "normalisation); 'zero' = 0 in model-input space (mid-grey for ImageNet-normalised models)",
    choices=("black", "zero"),
)


def baseline_tensor(adapter: ModelAdapter, x: torch.Tensor, kind: str) -> torch.Tensor:
    """The reference input, same shape as ``x``: a black image in pixel space, or zeros."""
    if kind == "zero":
        return torch.zeros_like(x)
    if kind != "black":
        raise ParameterError(f"unknown baseline {kind!r}; use 'black' or 'zero'")
    channels = x.shape[1]
    mean = torch.as_tensor(adapter.mean, dtype=x.dtype, device=x.device).flatten()
    std = torch.as_tensor(adapter.std, dtype=x.dtype, device=x.device).flatten()
    if mean.numel() not in (1, channels) or std.numel() not in (1, channels):
        raise ParameterError(
            f"the model's normalisation has {mean.numel()} means for {channels} input channels"
        )
    value = (0.0 - mean) / std
    return value.expand(channels).view(1, channels, 1, 1).expand_as(x).clone()


def private_model(ctx: MethodContext) -> PrivateModel:
    """The private, hook-safe copy for this run (lent by the engine, or borrowed here)."""
    private = ctx.shared.get("_private")
    if private is None or private.original is not ctx.model:
        private = acquire_private(ctx.model, ctx.x)
        ctx.shared["_private"] = private
    return private


def qualified_layer_name(adapter: ModelAdapter, layer: str) -> str:
    """Name of ``adapter.net``'s layer inside ``adapter.logits_module`` (``base.13`` -> ``net.base.13``)."""
    module = adapter.layer(layer)
    for name, m in adapter.logits_module.named_modules(remove_duplicate=False):
        if m is module:
            return name
    raise ParameterError(f"layer {layer!r} is not used by the model's logits")


@contextmanager
def quiet_captum() -> Iterator[None]:
    """Captum warns on every call that it sets hooks; the user cannot act on that."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]etting (forward, )?backward hooks.*")
        warnings.filterwarnings("ignore", message=".*backward hooks.*")
        warnings.filterwarnings("ignore", message=".*Input Tensor .* did not already require gradients.*")
        yield


@contextmanager
def watch_layers(model: nn.Module, job: JobControl) -> Iterator[None]:
    """Check for cancellation at every parametrised layer, in forward and backward passes.

    :func:`watch_forwards` checks once per forward call, so a cancel would wait for a whole batch
    (about a second, longer on a loaded machine). Checking per layer bounds the cancel latency by
    one layer's work whatever the batch size or load; it costs one Python call per layer.
    """
    handles = []

    def on_backward(_grad: torch.Tensor) -> None:
        job.check()

    def forward_hook(_m: nn.Module, _inp: Any, out: Any) -> None:
        job.check()
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(on_backward)

    for m in model.modules():
        if isinstance(m, torch.jit.ScriptModule):
            continue  # TorchScript modules take no hooks; their forward calls are still watched
        if next(m.parameters(recurse=False), None) is not None:
            handles.append(m.register_forward_hook(forward_hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def memory_cap(x: torch.Tensor, backward: bool) -> int:
    factor = _BACKWARD_MEMORY_FACTOR if backward else _FORWARD_MEMORY_FACTOR
    per_item = max(1, x[0].numel() * x.element_size() * factor)
    budget = _MEMORY_BUDGET_BYTES
    if x.device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(x.device)
        budget = max(budget, free // 2)
    return max(1, min(1024, budget // per_item))


@dataclass
class BatchPlanner:
    """Chooses batch sizes for throughput, measured on the job itself.

    CPU throughput is not monotonic in the batch size: GestaltMatcher v1 runs fastest at about 8
    images per batch and ~40 % slower at 64 (caches), ResNet-50 at 16-32. So the first batches of
    a run try growing sizes (real work, nothing is wasted) until throughput stops improving, the
    rest use the best size, and the choice is remembered in ``memory`` (the private model copy's
    cache) so later runs on the same model start there. Batches are also kept under
    :data:`MAX_BATCH_SECONDS` so progress stays smooth on slow machines and memory under ``cap``.
    """

    cap: int
    candidates: tuple[int, ...] = (4, 8, 16, 32, 64)
    memory: dict[Any, Any] | None = None
    key: Any = None
    timings: dict[int, float] = field(default_factory=dict)  # batch size -> best seconds per item

    def size(self, remaining: int) -> int:
        if remaining <= 0:
            return 0
        known = self.memory.get(self.key) if self.memory is not None else None
        if known is not None and not self.timings:
            n = int(known)
        else:
            n = self._explore_next(remaining) or self.best()
        per_item = self.timings.get(self.best())
        if per_item:
            n = min(n, max(1, int(MAX_BATCH_SECONDS / per_item)))
        n = max(1, min(n, self.cap, remaining))
        if remaining - n <= n // 2 and remaining <= min(self.cap, n + n // 2):
            n = remaining  # fold a small tail into this batch
        return n

    def _explore_next(self, remaining: int) -> int | None:
        tried = [c for c in self.candidates if c in self.timings]
        if len(tried) >= 2 and self.timings[tried[-1]] > 1.05 * min(self.timings.values()):
            return None  # throughput stopped improving
        for c in self.candidates:
            if c not in self.timings and c <= self.cap:
                return c if remaining >= 2 * c else None
        return None

    def best(self) -> int:
        if not self.timings:
            return self.candidates[0]
        return min(self.timings, key=self.timings.__getitem__)

    def record(self, n: int, seconds: float) -> None:
        per_item = seconds / max(n, 1)
        self.timings[n] = min(per_item, self.timings.get(n, per_item))
        if self.memory is not None and n in self.candidates:
            self.memory[self.key] = self.best()


def planner_for(ctx: MethodContext, kind: str, backward: bool) -> BatchPlanner:
    """A planner remembering its best batch size per (kind of work, input shape) on the copy."""
    private = private_model(ctx)
    return BatchPlanner(
        cap=memory_cap(ctx.x, backward),
        # Small batches are rarely the fastest, so exploring starts at 4 / 8 images.
        candidates=(4, 8, 16, 32) if backward else (8, 16, 32, 64),
        memory=private.cache,
        key=("batch", kind, tuple(ctx.x.shape)),
    )


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) or (N, C, h, w) -> same at ``size``; bilinear, ``align_corners=False``.

    This is the resampling of captum's ``LayerAttribution.interpolate(..., 'bilinear')`` and of
    OpenCV's ``INTER_LINEAR`` that pytorch-grad-cam uses.
    """
    squeeze = maps.dim() == 3
    m = maps.unsqueeze(1) if squeeze else maps
    if tuple(m.shape[-2:]) != tuple(size):
        m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
    return m.squeeze(1) if squeeze else m


@dataclass
class GradientPass:
    """Everything the backward pass of one target yields (see the module docstring)."""

    target: int
    needs: PassNeeds
    logits: torch.Tensor
    input_grad: torch.Tensor | None
    layers: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    fullgrad_bias: torch.Tensor | None = None


class OpenForward:
    """One forward pass with its graph kept: every target then costs only a backward pass.

    The engine opens one per explain call when gradient-family methods are requested, reads the
    logits from it (so predicting the targets costs no extra forward) and drops it at the end.
    """

    def __init__(self, private: PrivateModel, adapter: ModelAdapter, x: torch.Tensor, needs: PassNeeds,
                 job: JobControl) -> None:
        from . import fullgrad  # FullGrad's maths; imported late because fullgrad imports this module

        if (needs.layers or needs.fullgrad) and not private.hookable:
            raise SurgeryError(
                "class activation maps need hooks on inner layers, which TorchScript models do not "
                "allow. Load the model from a state_dict checkpoint to use them."
            )
        model = private.module
        self.needs = needs
        self.modules: dict[str, nn.Module] = {
            name: private.submodule(qualified_layer_name(adapter, name)) for name in sorted(needs.layers)
        }
        self.bias_layers = fullgrad.bias_layers(model) if needs.fullgrad else []
        watched: dict[int, nn.Module] = {id(m): m for m in [*self.modules.values(), *self.bias_layers]}
        self.records: dict[int, list[torch.Tensor]] = {mid: [] for mid in watched}
        bad: list[str] = []

        def hook(module: nn.Module, _inp: Any, out: Any) -> Any:
            if not isinstance(out, torch.Tensor) or out.dim() != 4:
                bad.append(type(module).__name__)
                return None
            self.records[id(module)].append(out)
            # Later in-place code (``out += identity``) must not change what we recorded.
            return out.clone()

        handles = [m.register_forward_hook(hook) for m in watched.values()]
        # The input always requires grad, so a graph exists even when the model's parameters do
        # not; without ``needs.input`` its gradient is simply never asked for (the backward pass
        # stops at the earliest CAM layer).
        self.x_in = x.detach().clone().requires_grad_(True)
        try:
            with torch.enable_grad(), watch_forwards(model, job, 1, "forward"), watch_layers(model, job):
                logits = model(self.x_in)
        finally:
            for h in handles:
                h.remove()
        if bad:
            raise ParameterError(
                f"the chosen layer's output is not a feature map (N, C, H, W) ({bad[0]}); pick a "
                "convolutional layer"
            )
        for name, module in self.modules.items():
            if len(self.records[id(module)]) != 1:
                raise ParameterError(
                    f"layer {name!r} runs {len(self.records[id(module)])} times in one forward pass; "
                    "choose a layer that runs once (e.g. a block's output rather than a shared activation)"
                )
        self.logits = logits[0] if isinstance(logits, (tuple, list)) else logits
        recorded = [t for mid in watched for t in self.records[mid]]
        self.tensors = ([self.x_in] if needs.input else []) + recorded

    def backward(self, target: int) -> GradientPass:
        if not self.tensors:
            return GradientPass(target, self.needs, self.logits.detach(), None)
        with torch.enable_grad():
            grads = torch.autograd.grad(
                self.logits[0, target], self.tensors, retain_graph=True, allow_unused=True
            )
        grad_of = {
            id(t): (g if g is not None else torch.zeros_like(t))
            for t, g in zip(self.tensors, grads, strict=True)
        }
        result = GradientPass(
            target=target,
            needs=self.needs,
            logits=self.logits.detach(),
            input_grad=grad_of[id(self.x_in)].detach() if self.needs.input else None,
        )
        for name, module in self.modules.items():
            out = self.records[id(module)][0]
            result.layers[name] = (out.detach(), grad_of[id(out)].detach())
        if self.needs.fullgrad:
            from . import fullgrad

            terms = [(m, [grad_of[id(out)] for out in self.records[id(m)]]) for m in self.bias_layers]
            result.fullgrad_bias = fullgrad.bias_map(terms, self.x_in)
        return result


def gradient_pass(ctx: MethodContext, needs: PassNeeds) -> GradientPass:
    """The gradient pass for ``ctx.target``, shared by saliency, Grad-CAM, HiResCAM, Guided
    Grad-CAM and FullGrad: cached when it already holds what is asked for, else the backward pass
    of the engine's open forward, else one new forward+backward covering the request, the engine's
    plan and what was cached before."""
    key = f"pass:t{ctx.target}"
    cached: GradientPass | None = ctx.shared.get(key)
    if cached is not None and cached.needs.covers(needs):
        return cached
    opened: OpenForward | None = ctx.shared.get("_open")
    if opened is not None and opened.needs.covers(needs):
        result = opened.backward(ctx.target)
    else:
        merged = needs | ctx.shared.get("_plan", PassNeeds())
        if cached is not None:
            merged = merged | cached.needs
        result = OpenForward(private_model(ctx), ctx.adapter, ctx.x, merged, ctx.job).backward(ctx.target)
    ctx.shared[key] = result
    return result


def summed_input_gradients(
    ctx: MethodContext,
    count: int,
    inputs: Callable[[int, int], torch.Tensor],
    label: str,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Σ_i w_i ∂f_target/∂x at ``count`` inputs, evaluated in batches: the one loop Integrated
    Gradients (path points, quadrature weights) and SmoothGrad (noisy copies) share.

    ``inputs(start, n)`` builds inputs ``start .. start+n-1`` as an (n, C, H, W) tensor, so only
    one batch is ever in memory. Batch sizes come from the :class:`BatchPlanner`; cancellation is
    checked at every layer and progress reported per batch. Returns a (1, C, H, W) sum."""
    model = private_model(ctx).module
    planner = planner_for(ctx, "gradient", backward=True)
    total = torch.zeros_like(ctx.x)
    done = 0
    with watch_layers(model, ctx.job):
        while done < count:
            ctx.job.report(done / count, label)
            n = planner.size(count - done)
            with Stopwatch() as sw, torch.enable_grad():
                xs = inputs(done, n).requires_grad_(True)
                out = model(xs)
                out = out[0] if isinstance(out, (tuple, list)) else out
                (grad,) = torch.autograd.grad(out[:, ctx.target].sum(), xs)
                if weights is not None:
                    grad = grad * weights[done : done + n].view(-1, 1, 1, 1)
                total += grad.sum(0, keepdim=True)
            planner.record(n, sw.seconds)
            done += n
    ctx.job.report(1.0, label)
    return total


def check_finite_input(x: torch.Tensor) -> None:
    if not torch.isfinite(x).all():
        raise GmxaiError(
            "the model input contains NaN or infinite values; the image could not be converted "
            "into a valid model input"
        )


class Stopwatch:
    """Wall time of a block, for :meth:`BatchPlanner.record`."""

    def __enter__(self) -> Stopwatch:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
