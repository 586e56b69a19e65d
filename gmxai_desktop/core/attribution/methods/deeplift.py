"""DeepLIFT with the rescale rule (Shrikumar et al. 2017), via captum."""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import DeepLift as CaptumDeepLift

from .base import AttributionMethod, MethodContext, register, watch_forwards
from .common import BASELINE_PARAM, baseline_tensor, private_model, quiet_captum, watch_layers
from .surgery import SurgeryError


@register
class DeepLift(AttributionMethod):
    """captum ``DeepLift`` (rescale rule, multiplied by input − baseline) on the private repaired
    model copy. Captum cannot run on torchvision ResNets as they are (reused, in-place ReLUs);
    the copy gives every ReLU call its own module. Networks with activations DeepLIFT has no rule
    for (SiLU, GELU, functional max-pooling, ...) are refused rather than explained wrongly.

    Reduction: signed sum over input channels, so the map sums to f(x) − f(baseline) for the
    target logit (summation-to-delta; exact for ReLU networks without max-pooling).
    """

    name = "deeplift"
    label = "DeepLIFT"
    description = (
        "Compares the face with a black reference image and splits the difference in the "
        "syndrome score among the pixels. Positive (red) pixels raise the score relative to the "
        "reference, negative (blue) ones lower it; all values add up to the score difference."
    )
    family = "gradient"
    params = (BASELINE_PARAM,)

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        private = private_model(ctx)
        model = private.require_surgery(self.label)
        if private.deeplift_problems:
            raise SurgeryError(
                "DeepLIFT has no rule for some activations in this network ("
                + "; ".join(private.deeplift_problems[:4])
                + "), so its map would be wrong. Use Integrated Gradients instead."
            )
        x = ctx.x.detach().clone()
        base = baseline_tensor(ctx.adapter, x, params["baseline"])
        with quiet_captum(), watch_forwards(model, ctx.job, 1, self.label), watch_layers(model, ctx.job):
            attr = CaptumDeepLift(model).attribute(x, baselines=base, target=ctx.target)
        return attr[0].detach()
