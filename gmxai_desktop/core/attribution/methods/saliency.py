"""Saliency / vanilla gradients (Simonyan et al. 2014)."""

from __future__ import annotations

from typing import Any

import torch

from .base import AttributionMethod, MethodContext, Param, PassNeeds, register
from .common import gradient_pass


@register
class Saliency(AttributionMethod):
    """Gradient of the target logit with respect to the input, as captum's ``Saliency``.

    Reduction: signed sum over input channels of the per-channel values, i.e. Σ_c |∂f/∂x_c| with
    ``abs`` (default, the thesis-style saliency; not Simonyan's max over channels) and Σ_c ∂f/∂x_c
    without. The gradient comes from the forward+backward pass the CAM methods share.
    """

    name = "saliency"
    label = "Saliency (gradient)"
    description = (
        "Shows which pixels would change the syndrome score most if they were changed slightly. "
        "Fast and sharp, but noisy: it measures sensitivity, not what the model actually used."
    )
    family = "gradient"
    reduction = "sum over input channels (of |gradient| when abs is on)"
    params = (
        Param("abs", bool, True, "use the magnitude of the gradient (on) or its sign as well (off)"),
    )

    @classmethod
    def pass_needs(cls, params: dict[str, Any]) -> PassNeeds:
        return PassNeeds(input=True)

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        grad = gradient_pass(ctx, PassNeeds(input=True)).input_grad[0]
        return grad.abs() if params["abs"] else grad.clone()
