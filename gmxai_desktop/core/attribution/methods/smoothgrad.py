"""SmoothGrad (Smilkov et al. 2017)."""

from __future__ import annotations

from typing import Any

import torch

from .base import AttributionMethod, MethodContext, Param, register
from .common import summed_input_gradients


@register
class SmoothGrad(AttributionMethod):
    """Mean gradient over noisy copies of the input: captum's
    ``NoiseTunnel(Saliency(abs=False)).attribute(nt_type='smoothgrad')``, with the same noise
    (one ``torch.normal(0, σ)`` draw for all samples, from a generator seeded with ``seed``, so
    maps are reproducible and identical to captum's under the same seed) and our own batching.

    σ = ``noise`` × (max − min of the input), the parametrisation of Smilkov et al. (15 %).
    Reduction: signed sum over input channels of the mean (signed) gradient.
    """

    name = "smoothgrad"
    label = "SmoothGrad"
    description = (
        "Averages the gradient over many slightly noisy copies of the face, which removes most of "
        "the speckle of plain saliency and leaves the regions that consistently matter."
    )
    family = "gradient"
    params = (
        Param("n_samples", int, 25, "number of noisy copies averaged", minimum=1, maximum=200),
        Param("noise", float, 0.15, "noise standard deviation as a fraction of the image's value "
              "range (max − min)", minimum=0.0, maximum=1.0),
        Param("seed", int, 0, "random seed of the noise (same seed, same map)", minimum=0),
    )

    @classmethod
    def cost(cls, params: dict[str, Any], input_hw: tuple[int, int]) -> float:
        return 3.0 * params["n_samples"]  # one forward and backward per noisy copy

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        x = ctx.x.detach()
        n_samples = params["n_samples"]
        stdev = float(params["noise"]) * float(x.max() - x.min())
        generator = torch.Generator(device=x.device).manual_seed(int(params["seed"]))
        std = torch.tensor(stdev, device=x.device).repeat((n_samples, *x.shape[1:]))
        noise = torch.normal(0.0, std, generator=generator).to(x.dtype)
        total = summed_input_gradients(ctx, n_samples, lambda i, n: x + noise[i : i + n], self.label)
        return (total / n_samples)[0]
