"""FullGrad (Srinivas & Fleuret 2019), pytorch-grad-cam's definition."""

from __future__ import annotations

from typing import Any

import torch

from .base import MethodContext, register
from .cam_base import CamMethod
from .common import PassNeeds, channel_minmax, gradient_pass


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
