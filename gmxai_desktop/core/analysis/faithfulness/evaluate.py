"""One image, many methods: maps from the engine, then every requested faithfulness metric.

This is the function the CLI, the GUI and the README table share, so that a number means the same
wherever it is shown. The maps come from :func:`~gmxai_desktop.core.attribution.engine.explain`
(one shared pass for all methods), a seeded uniform random map is added as the chance baseline
(:data:`RANDOM`), and one :class:`~.scoring.Scorer` serves all maps, so the image-only end points
of the curves are scored once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ...attribution.engine import explain, validate
from ...attribution.targets import resolve_targets
from ...base.errors import ParameterError
from ...base.jobs import JobControl
from ...models.base import ModelAdapter
from .deletion_insertion import DEFAULT_STEPS, Curve, blurred, deletion_insertion, step_plan
from .mprt import MprtResult, mprt
from .road import PERCENTS, PerturbationResult, RoadResult, pixel_perturbation, road, road_images
from .scoring import Scorer, pixel_order, random_map, to_image_space

METRICS = ("deletion", "insertion", "road", "perturbation", "mprt")
RANDOM = "random"


def parse_metrics(text: str | Sequence[str]) -> list[str]:
    """``deletion,insertion,...`` or ``all`` -> metric names in the canonical order."""
    items = [text] if isinstance(text, str) else list(text)
    names = [n.strip().lower() for item in items for n in item.split(",") if n.strip()]
    if names == ["all"]:
        return list(METRICS)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ParameterError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)} or 'all'")
    if not names:
        raise ParameterError("no metric chosen")
    return [m for m in METRICS if m in names]


@dataclass
class MethodScores:
    method: str
    map: np.ndarray
    deletion: Curve | None = None
    insertion: Curve | None = None
    road: RoadResult | None = None
    perturbation: PerturbationResult | None = None
    mprt: MprtResult | None = None

    def row(self) -> dict[str, Any]:
        """The scalar summary: one ``--json`` object minus the image."""
        out: dict[str, Any] = {"method": self.method}
        if self.deletion is not None:
            out["deletion_auc"] = self.deletion.auc
        if self.insertion is not None:
            out["insertion_auc"] = self.insertion.auc
        if self.road is not None:
            out["road"] = self.road.combined
        if self.perturbation is not None:
            out["perturbation"] = self.perturbation.mean_delta
        if self.mprt is not None:
            out["mprt"] = self.mprt.final_spearman
            out["mprt_flagged"] = self.mprt.flagged
        return out

    def curves(self) -> list[tuple[str, float, float]]:
        """(metric, fraction, score) rows for curves.csv; MPRT's x is the randomisation step."""
        rows: list[tuple[str, float, float]] = []
        for name, c in (("deletion", self.deletion), ("insertion", self.insertion)):
            if c is not None:
                rows += [(name, float(f), float(s)) for f, s in zip(c.fractions, c.scores, strict=True)]
        if self.road is not None:
            fr = self.road.percents / 100.0
            rows += [("road_morf", float(f), float(s)) for f, s in zip(fr, self.road.morf, strict=True)]
            rows += [("road_lerf", float(f), float(s)) for f, s in zip(fr, self.road.lerf, strict=True)]
        if self.perturbation is not None:
            fr = self.perturbation.percents / 100.0
            rows += [("perturbation", float(f), float(s))
                     for f, s in zip(fr, self.perturbation.deltas, strict=True)]
        if self.mprt is not None:
            k = len(self.mprt.spearman)
            rows += [("mprt_spearman", (i + 1) / k, float(s)) for i, s in enumerate(self.mprt.spearman)]
            rows += [("mprt_ssim", (i + 1) / k, float(s)) for i, s in enumerate(self.mprt.ssim)]
        return rows


@dataclass
class ImageEvaluation:
    target: int
    target_name: str
    probability: float
    image: torch.Tensor  # (C, H, W) in [0, 1]: what the metrics perturbed
    methods: list[MethodScores] = field(default_factory=list)
    forwards: int = 0

    def by_method(self) -> dict[str, MethodScores]:
        return {m.method: m for m in self.methods}


def single_target(adapter: ModelAdapter, x: torch.Tensor, target: str | int) -> int:
    """The one class a faithfulness run explains (metrics compare maps of the same class)."""
    with torch.inference_mode():
        out = adapter.logits(x)
    logits = out[0].detach().float().cpu().numpy()
    targets = resolve_targets(target, logits, adapter.class_names)
    if len(targets) != 1:
        raise ParameterError("faithfulness evaluates one class per image; use a single --target, not top:K")
    return int(targets[0])


def evaluate_image(adapter: ModelAdapter, x: torch.Tensor, methods: Sequence[str], *,
                   metrics: Sequence[str] = METRICS, target: str | int = "predicted",
                   params: Mapping[str, Mapping[str, Any]] | None = None, steps: int = DEFAULT_STEPS,
                   seed: int = 0, include_random: bool = True, mprt_layers: Sequence[str] | None = None,
                   job: JobControl | None = None) -> ImageEvaluation:
    """Maps of ``methods`` (plus the random control) for one image, scored on ``metrics``."""
    metrics = parse_metrics(list(metrics))
    validate(adapter, methods, params)  # fail before any model work
    step_plan(int(x.shape[-1] * x.shape[-2]), steps)
    job = job or JobControl()
    t = single_target(adapter, x, target)
    has_mprt = "mprt" in metrics
    cut_explain, cut_metrics = (0.15, 0.5) if has_mprt else (0.25, 1.0)
    results = explain(adapter, x, list(methods), target=t, params=params,
                      job=job.sub(0.0, cut_explain, "maps: "))
    maps = {r.method: r.map for r in results}
    if include_random:
        maps[RANDOM] = random_map(tuple(x.shape[-2:]), seed)
    ev = ImageEvaluation(target=t, target_name=adapter.class_name(t), probability=results[0].probability,
                         image=to_image_space(adapter, x))
    curve_kinds = [m for m in ("deletion", "insertion") if m in metrics]
    with Scorer(adapter, x, t, job) as scorer:
        for i, (name, saliency) in enumerate(maps.items()):
            span = (cut_metrics - cut_explain) / len(maps)
            sub = job.sub(cut_explain + i * span, cut_explain + (i + 1) * span, f"{name}: ")
            ms = MethodScores(method=name, map=saliency)
            if curve_kinds:
                curves = deletion_insertion(scorer, saliency, steps, curve_kinds, sub.sub(0.0, 0.7))
                ms.deletion, ms.insertion = curves.get("deletion"), curves.get("insertion")
            if "road" in metrics:
                ms.road = road(scorer, saliency, seed=seed, job=sub.sub(0.7, 0.95))
            if "perturbation" in metrics:
                ms.perturbation = pixel_perturbation(scorer, saliency, job=sub.sub(0.95, 1.0))
            ev.methods.append(ms)
        ev.forwards = scorer.forwards
    if has_mprt:
        found = mprt(adapter, x, list(methods), t, {m: maps[m] for m in methods}, params,
                     layers=mprt_layers, seed=seed, job=job.sub(cut_metrics, 1.0))
        for ms in ev.methods:
            ms.mprt = found.get(ms.method)
    job.report(1.0, "done", force=True)
    return ev


def perturbed_preview(image: torch.Tensor, saliency: np.ndarray, metric: str, fraction: float,
                      seed: int = 0) -> np.ndarray:
    """uint8 RGB (H, W, 3) of what ``metric`` fed the model at ``fraction`` perturbed.

    Deletion/insertion use the exact step count nearest ``fraction``; ROAD (MoRF) and pixel
    perturbation use the nearest of their percentages.
    """
    shape = tuple(image.shape[-2:])
    n_pixels = shape[0] * shape[1]
    order = pixel_order(saliency)
    if metric in ("deletion", "insertion"):
        k = round(min(max(fraction, 0.0), 1.0) * n_pixels)
        flat = image.reshape(image.shape[0], -1)
        if metric == "deletion":
            out = flat.clone()
            out[:, order[:k]] = 0.0
        else:
            out = blurred(image).reshape(image.shape[0], -1).clone()
            out[:, order[:k]] = flat[:, order[:k]]
        img = out.reshape(image.shape)
    elif metric in ("road", "perturbation"):
        percent = min(PERCENTS, key=lambda p: abs(p / 100.0 - fraction))
        if metric == "road":
            img = road_images(image, saliency, (percent,), seed=seed)[0][0]
        else:
            from .road import perturbation_images

            img = perturbation_images(image, saliency, (percent,))[0]
    else:
        raise ParameterError(f"no preview for metric {metric!r}")
    arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)
