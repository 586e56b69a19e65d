"""FullGrad (Srinivas & Fleuret 2019), pytorch-grad-cam's definition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .base import MethodContext, PassNeeds, register
from .cam_base import CamMethod
from .common import gradient_pass, upsample


def bias_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose bias-gradients FullGrad adds up: the exact selection pytorch-grad-cam's
    FullGrad makes (exact types ``Conv2d``/``BatchNorm2d`` with a bias, not subclasses)."""
    return [
        m for m in model.modules()
        if type(m) in (nn.Conv2d, nn.BatchNorm2d) and getattr(m, "bias", None) is not None
    ]


def effective_bias(module: nn.Module) -> torch.Tensor:
    """The bias a layer adds in eval mode; BatchNorm folds its running statistics in."""
    if isinstance(module, nn.BatchNorm2d) and module.running_mean is not None:
        scale = module.weight / torch.sqrt(module.running_var + module.eps)
        return (module.bias - module.running_mean * scale).detach()
    return module.bias.detach()


def channel_minmax(t: torch.Tensor) -> torch.Tensor:
    """Per-(image, channel) min-max scaling exactly as pytorch-grad-cam's ``scale_cam_image``."""
    flat = t.flatten(2)
    flat = flat - flat.min(dim=2, keepdim=True).values
    flat = flat / (1e-7 + flat.max(dim=2, keepdim=True).values)
    return flat.view_as(t)


def bias_map(
    terms: Sequence[tuple[nn.Module, Sequence[torch.Tensor]]], like: torch.Tensor
) -> torch.Tensor:
    """Σ over layers (and calls) of upsample(Σ_c minmax_c |b · ∂f/∂out|): FullGrad's bias part,
    an (H, W) map at the size, dtype and device of the input ``like`` (N, C, H, W).

    ``terms`` pairs each of :func:`bias_layers` with the gradients of the target logit at its
    outputs (one per call of the layer in the forward pass)."""
    size = (int(like.shape[-2]), int(like.shape[-1]))
    total = torch.zeros(size, dtype=like.dtype, device=like.device)
    for module, grads in terms:
        bias = effective_bias(module).view(1, -1, 1, 1)
        for grad in grads:
            term = channel_minmax((bias * grad).abs().detach()).sum(dim=1)
            total += upsample(term, size)[0]
    return total


@register
class FullGrad(CamMethod):
    """Input-gradient × input plus the bias-gradients of every ``Conv2d``/``BatchNorm2d`` with a
    bias (BatchNorm's effective eval-mode bias), each term post-processed as pytorch-grad-cam's
    ``FullGrad`` does: absolute value, min-max scaling per image *and channel*, bilinear upsampling
    to the input size, summed over channels and layers.

    The result is that sum *before* pytorch-grad-cam's final min-max scaling (ours keeps the
    scale, so maps of one image stay comparable). It is non-negative by construction. Reduction:
    per-channel normalised terms summed over channels (the normalisation is part of the method).
    """

    name = "fullgrad"
    label = "FullGrad"
    description = (
        "Adds up the gradient at the input and the contributions of every layer's bias terms, so "
        "regions used anywhere in the network show up. Always positive: it shows importance, not "
        "whether a region speaks for or against the syndrome."
    )
    reduction = "sum over channels and layers of per-channel min-max-scaled |terms| (pytorch-grad-cam)"
    params = ()

    @classmethod
    def pass_needs(cls, params: dict[str, Any]) -> PassNeeds:
        return PassNeeds(fullgrad=True, input=True)

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        result = gradient_pass(ctx, PassNeeds(fullgrad=True, input=True))
        assert result.fullgrad_bias is not None and result.input_grad is not None
        input_term = channel_minmax((result.input_grad * ctx.x.detach()).abs()).sum(dim=1)[0]
        return input_term + result.fullgrad_bias
