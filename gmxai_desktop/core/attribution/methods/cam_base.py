"""The class-activation-map family, modelled on pytorch-grad-cam's ``BaseCAM``.

Every CAM reads the activations A and gradients G of the target logit at one layer from the
shared :func:`~.common.gradient_pass` (one forward+backward per target for all CAMs, saliency and
FullGrad together) and only says how it combines them (:meth:`CamMethod.combine`). The layer map
is optionally rectified, then upsampled bilinearly (``align_corners=False``) to the input size.
Maps are raw: no min-max scaling (pytorch-grad-cam scales every map to [0, 1]; captum does not).
"""

from __future__ import annotations

from typing import Any

import torch

from ...base.errors import ParameterError
from ...models.base import ModelAdapter
from .base import AttributionMethod, MethodContext, Param, PassNeeds
from .common import gradient_pass, qualified_layer_name, upsample

LAYER_PARAM = Param(
    "layer",
    str,
    None,
    "network layer whose feature maps are used (default: the model's usual CAM layer, normally "
    "the last convolutional block)",
)
RELU_PARAM = Param(
    "relu",
    bool,
    True,
    "keep only positive evidence (on, as in the papers) or also show regions that lower the "
    "score (off: signed map)",
)


class CamMethod(AttributionMethod):
    """Base class: subclasses implement :meth:`combine` (and may add parameters)."""

    family = "cam"
    reduction = "none (one map at the layer's resolution, upsampled bilinearly)"
    params: tuple[Param, ...] = (LAYER_PARAM, RELU_PARAM)

    @classmethod
    def bind_params(cls, adapter: ModelAdapter, params: dict[str, Any]) -> dict[str, Any]:
        """Fill in the model's default layer and check that the layer exists, before any work."""
        out = dict(params)
        if "layer" in out:
            if not out["layer"]:
                out["layer"] = adapter.default_cam_layer
            if not out["layer"]:
                raise ParameterError(
                    f"{cls.label} needs a layer and this model has no default one; choose a "
                    "convolutional layer with the 'layer' parameter"
                )
            qualified_layer_name(adapter, out["layer"])
        return out

    @classmethod
    def pass_needs(cls, params: dict[str, Any]) -> PassNeeds:
        """What this method reads from the shared gradient pass (the engine plans one pass)."""
        return PassNeeds(layers=frozenset({params["layer"]}))

    def combine(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """(1, C, h, w) activations and gradients -> (1, h, w) layer map."""
        raise NotImplementedError

    def layer_map(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        """The (1, H, W) map at input resolution (rectified when ``relu`` is on)."""
        layer = params.get("layer") or ctx.adapter.default_cam_layer
        acts, grads = gradient_pass(ctx, PassNeeds(layers=frozenset({layer}))).layers[layer]
        cam = self.combine(acts, grads)
        if params.get("relu", True):
            cam = torch.relu(cam)
        return upsample(cam, tuple(ctx.x.shape[-2:]))

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        return self.layer_map(ctx, params)[0]
