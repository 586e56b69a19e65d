"""Guided backpropagation (Springenberg et al. 2015), via captum."""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import GuidedBackprop as CaptumGuidedBackprop

from .base import AttributionMethod, MethodContext, register, watch_forwards
from .common import private_model, quiet_captum, watch_layers


def guided_backprop(ctx: MethodContext, label: str) -> torch.Tensor:
    """Per-channel guided-backprop attribution (C, H, W), cached per target for Guided Grad-CAM."""
    key = f"gbp:t{ctx.target}"
    cached = ctx.shared.get(key)
    if cached is not None:
        return cached
    model = private_model(ctx).require_surgery(label)
    with quiet_captum(), watch_forwards(model, ctx.job, 1, label), watch_layers(model, ctx.job):
        attr = CaptumGuidedBackprop(model).attribute(ctx.x.detach().clone(), target=ctx.target)
    result = attr[0].detach()
    ctx.shared[key] = result
    return result


@register
class GuidedBackprop(AttributionMethod):
    """captum ``GuidedBackprop`` on the private repaired model copy (see ``surgery.py``), so every
    ReLU, including reused and functional ones, gets the guided rule. Reduction: signed sum over
    input channels."""

    name = "guided_backprop"
    label = "Guided backpropagation"
    description = (
        "Like the gradient, but at every step only passes on signals that both excite the "
        "neuron and increase the score. Gives crisp, edge-like maps of facial features; like "
        "deconvolution it changes little between syndromes, so it shows 'what is seen' more than "
        "'what decides'."
    )
    family = "gradient"

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        return guided_backprop(ctx, self.label).clone()
