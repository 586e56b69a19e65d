"""Grad-CAM (Selvaraju et al. 2017)."""

from __future__ import annotations

import torch

from .base import register
from .cam_base import CamMethod


@register
class GradCam(CamMethod):
    """Channel weights = spatial mean of the gradients; map = Σ_c w_c A_c, then ReLU (optional)
    and bilinear upsampling. Equals captum's ``LayerGradCam`` (``relu_attributions``) followed by
    ``LayerAttribution.interpolate(..., 'bilinear')``, and, after min-max scaling, pytorch-grad-cam's
    ``GradCAM``."""

    name = "gradcam"
    label = "Grad-CAM"
    description = (
        "Shows which regions of the face the network's last feature maps point to for this "
        "syndrome. Blurry (the layer is coarse, e.g. 7x7) but class-specific and robust; turn "
        "ReLU off to also see regions that speak against the syndrome."
    )

    def combine(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        weights = gradients.mean(dim=(2, 3), keepdim=True)
        return (weights * activations).sum(dim=1)
