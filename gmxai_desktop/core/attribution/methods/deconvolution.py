"""Deconvolution (Zeiler & Fergus 2014), via captum."""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import Deconvolution as CaptumDeconvolution

from .base import AttributionMethod, MethodContext, register, watch_forwards
from .common import private_model, quiet_captum, watch_layers


@register
class Deconvolution(AttributionMethod):
    """captum ``Deconvolution`` on the private repaired model copy (every ReLU a separate, not
    in-place module; functional ReLUs turned into modules) so the ReLU backward rule applies at
    every ReLU call. Reduction: signed sum over input channels."""

    name = "deconvolution"
    label = "Deconvolution"
    description = (
        "Projects the syndrome score back to the image through the network, keeping only "
        "positive signals at each step. Shows image structures (edges, textures) the network "
        "responds to; it depends little on the chosen syndrome, so compare several classes."
    )
    family = "gradient"

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        model = private_model(ctx).require_surgery(self.label)
        with quiet_captum(), watch_forwards(model, ctx.job, 1, self.label), watch_layers(model, ctx.job):
            attr = CaptumDeconvolution(model).attribute(ctx.x.detach().clone(), target=ctx.target)
        return attr[0].detach()
