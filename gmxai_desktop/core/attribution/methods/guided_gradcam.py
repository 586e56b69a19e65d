"""Guided Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

from typing import Any

import torch

from .base import MethodContext, register
from .cam_base import LAYER_PARAM
from .gradcam import GradCam
from .guided_backprop import guided_backprop


@register
class GuidedGradCam(GradCam):
    """Guided backprop (per channel) × rectified Grad-CAM upsampled bilinearly, as captum's
    ``GuidedGradCam(model, layer).attribute(..., interpolate_mode='bilinear')`` (captum's default
    is nearest-neighbour; bilinear matches our Grad-CAM map). Both factors are shared: the
    Grad-CAM part with the other CAMs, the guided-backprop part with ``guided_backprop``.
    Reduction: signed sum over input channels of the per-channel products."""

    name = "guided_gradcam"
    label = "Guided Grad-CAM"
    description = (
        "Combines Grad-CAM's 'where' with guided backpropagation's fine detail: sharp facial "
        "features, but only inside the regions Grad-CAM marks for this syndrome."
    )
    family = "cam"
    reduction = "sum over input channels"
    params = (LAYER_PARAM,)

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        cam = self.layer_map(ctx, {**params, "relu": True})  # (1, H, W)
        return guided_backprop(ctx, self.label) * cam
