"""Integrated Gradients (Sundararajan et al. 2017)."""

from __future__ import annotations

import functools
from typing import Any

import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from .base import AttributionMethod, MethodContext, Param, register
from .common import BASELINE_PARAM, baseline_tensor, summed_input_gradients

# Captum's "riemann_trapezoid" is left out on purpose: its weights are 1/n with halved ends on n
# points spaced 1/(n-1), so they sum to (n-1)/n and every map comes out (n-1)/n too small.
_METHODS = ("gausslegendre", "riemann_middle", "riemann_left", "riemann_right")


@functools.lru_cache(maxsize=32)
def _quadrature(method: str, steps: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(points, weights) on [0, 1], cached: Gauss-Legendre nodes cost an eigen-solve. ``steps``
    stops at 300 because that solve takes seconds beyond a few hundred points."""
    step_sizes, alphas = approximation_parameters(method)
    return tuple(alphas(steps)), tuple(step_sizes(steps))


@register
class IntegratedGradients(AttributionMethod):
    """Captum's ``IntegratedGradients`` computation (same quadrature points and weights, from
    captum's ``approximation_parameters``; attributions multiplied by input − baseline), with our
    own batching: batches sized to ~0.25 s so a cancel lands quickly and memory stays bounded
    whatever ``steps`` is. Reduction: signed sum over input channels, so the map sums to
    approximately f(x) − f(baseline) (completeness).
    """

    name = "integrated_gradients"
    label = "Integrated Gradients"
    description = (
        "Fades the face in from a black image and adds up, pixel by pixel, how the syndrome score "
        "changes along the way. Positive (red) pixels raise the score, negative (blue) lower it; "
        "the values add up to the score difference from the black image."
    )
    family = "gradient"
    params = (
        Param("steps", int, 50, "number of points on the path from the baseline to the image",
              minimum=2, maximum=300),
        BASELINE_PARAM,
        Param("method", str, "gausslegendre", "quadrature rule for the path integral (Gauss-Legendre "
              "is the most accurate for a given number of steps)", choices=_METHODS),
    )

    @classmethod
    def cost(cls, params: dict[str, Any], input_hw: tuple[int, int]) -> float:
        return 3.0 * params["steps"]  # one forward and backward per path point

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        steps = params["steps"]
        alphas, weights = _quadrature(params["method"], steps)
        alpha = torch.tensor(alphas, dtype=ctx.x.dtype, device=ctx.x.device)
        weight = torch.tensor(weights, dtype=ctx.x.dtype, device=ctx.x.device)
        x = ctx.x.detach()
        base = baseline_tensor(ctx.adapter, x, params["baseline"])
        delta = x - base

        def points(start: int, n: int) -> torch.Tensor:
            return base + alpha[start : start + n].view(-1, 1, 1, 1) * delta

        total = summed_input_gradients(ctx, steps, points, self.label, weights=weight)
        return (total * delta)[0]
