"""HiResCAM (Draelos & Carin 2020)."""

from __future__ import annotations

import torch

from .base import register
from .cam_base import CamMethod


@register
class HiResCam(CamMethod):
    """Map = Σ_c G_c ⊙ A_c (element-wise, no spatial averaging of the gradients), then ReLU
    (optional) and bilinear upsampling; after min-max scaling this is pytorch-grad-cam's
    ``HiResCAM``. For a network whose head is global average pooling + linear (GestaltMatcher v1
    at ``base.13``), the signed layer map sums, before upsampling, to the target logit minus the
    head's bias, and equals Grad-CAM's: it shows exactly where the score comes from."""

    name = "hirescam"
    label = "HiResCAM"
    description = (
        "Like Grad-CAM, but keeps each location's own gradient instead of averaging, so the map "
        "shows exactly which locations of the last feature maps add to the syndrome score."
    )

    def combine(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return (gradients * activations).sum(dim=1)
