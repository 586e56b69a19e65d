"""Model parameter randomisation test (MPRT, Adebayo et al. 2018), cascading from the top.

A map that explains the model must change when the model's weights are destroyed. Starting from
the output layer and walking down, each step re-initialises one more parametrised layer of a
private copy of the network the way its type initialises itself (``reset_parameters``: Kaiming
uniform for convolutions and linear layers, ones/zeros and fresh running statistics for batch
norm), seeded per step so runs repeat. After each step the maps are recomputed with the engine
for the same target class, and compared with the original maps by the Spearman rank correlation
of |map| and by the SSIM of |map| scaled to [0, 1].

A method whose map still correlates at ρ ≥ :data:`FLAG_RHO` with the original after every layer
has been randomised is *flagged*: its map is (mostly) a function of the image, not of the model,
the failure Adebayo et al. found for guided backpropagation.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ...attribution.engine import explain
from ...base.jobs import JobControl
from ...models.base import ModelAdapter
from ..metrics import spearman_rank_correlation

FLAG_RHO = 0.5


def parametrised_layers(net: nn.Module) -> list[str]:
    """Names of modules owning parameters directly, output side first (the cascade's order)."""
    names = [n for n, m in net.named_modules() if n and any(True for _ in m.parameters(recurse=False))]
    return names[::-1]


def randomise_layer(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module`` in place as its type would, from a seeded generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()  # type: ignore[operator]
            return
        with torch.no_grad():
            for p in module.parameters(recurse=False):
                p.normal_(0.0, float(p.detach().std()) if p.numel() > 1 else 1.0)


def randomised_copy(adapter: ModelAdapter) -> ModelAdapter:
    """An adapter over a deep copy of the network: the user's weights are never touched."""
    net, logits_module = copy.deepcopy((adapter.net, adapter.logits_module))
    return dataclasses.replace(adapter, net=net, logits_module=logits_module)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004) of two maps already scaled to [0, 1]: Gaussian window σ = 1.5
    (11 × 11), K1 = 0.01, K2 = 0.03, data range 1, averaged away from the 5-pixel border; the same
    number as scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)``, without the dependency."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    c1, c2 = 0.01**2, 0.03**2

    def blur(v: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(v, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT_101)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = 5
    if s.shape[0] > 2 * pad and s.shape[1] > 2 * pad:
        s = s[pad:-pad, pad:-pad]
    return float(s.mean())


def _unit_abs(m: np.ndarray) -> np.ndarray:
    a = np.abs(np.asarray(m, dtype=np.float64))
    peak = a.max()
    return a / peak if peak > 0 else a


def compare(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(Spearman ρ of |map|, SSIM of |map| scaled to [0, 1]).

    A randomised model often gives a constant map (Grad-CAM's ReLU zeroes it). Its ranks carry no
    order, so it shares none of the original's: ρ = 0. Only an original map that is itself
    constant leaves ρ undefined (NaN), because then there was nothing to lose.
    """
    a, b = np.abs(before), np.abs(after)
    if np.ptp(a) == 0:
        rho = float("nan")
    elif np.ptp(b) == 0:
        rho = 0.0
    else:
        rho = spearman_rank_correlation(a, b)
    return rho, ssim(_unit_abs(before), _unit_abs(after))


@dataclass
class MprtResult:
    method: str
    layers: list[str] = field(default_factory=list)  # randomised so far, one entry per step
    spearman: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)

    @property
    def final_spearman(self) -> float:
        return self.spearman[-1] if self.spearman else float("nan")

    @property
    def flagged(self) -> bool:
        """True when the map did not decorrelate after full randomisation."""
        rho = self.final_spearman
        return bool(np.isfinite(rho) and rho >= FLAG_RHO)


def mprt(adapter: ModelAdapter, x: torch.Tensor, methods: Sequence[str], target: int,
         originals: Mapping[str, np.ndarray], params: Mapping[str, Mapping[str, Any]] | None = None,
         layers: Sequence[str] | None = None, seed: int = 0, job: JobControl | None = None
         ) -> dict[str, MprtResult]:
    """Cascading randomisation over ``layers`` (default: all parametrised, top first).

    ``originals`` are the maps of the unmodified model, keyed by method. ``layers=[]`` is the
    identity randomisation: one step that changes nothing (a sanity check that gives ρ = 1).
    """
    job = job or JobControl()
    model = randomised_copy(adapter)
    cascade = parametrised_layers(model.net) if layers is None else list(layers)
    steps: list[list[str]] = [[name] for name in cascade] or [[]]
    results = {m: MprtResult(method=m) for m in methods}
    modules = dict(model.net.named_modules())
    done: list[str] = []
    for i, names in enumerate(steps):
        for name in names:
            randomise_layer(modules[name], seed + len(done))
            done.append(name)
        sub = job.sub(i / len(steps), (i + 1) / len(steps), prefix=f"MPRT {i + 1}/{len(steps)}: ")
        maps = explain(model, x, list(methods), target=int(target), params=params, job=sub)
        for r in maps:
            rho, s = compare(originals[r.method], r.map)
            res = results[r.method]
            res.layers.append(names[0] if names else "(none)")
            res.spearman.append(rho)
            res.ssim.append(s)
    return results
