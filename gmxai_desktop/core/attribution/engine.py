"""Prediction and explanation: the one entry point the CLI, GUI and composites use.

:func:`explain` validates every method, parameter and target before any computation, then runs
the methods target by target on a private copy of the model (see ``methods/surgery.py``), sharing
work through ``shared``:

* one forward pass (its graph kept) gives the logits used to pick the targets and serves
  saliency and every CAM (Grad-CAM, Guided Grad-CAM, HiResCAM, FullGrad); each target then costs
  one backward pass, which stops at the earliest layer any requested method reads;
* the guided-backprop map is computed once for ``guided_backprop`` and ``guided_gradcam``;
* occlusion evaluates its occluded images once for all targets, recomputing only the region a
  patch can change where that is exact and cheaper (``methods/incremental.py``);
* perturbation and path methods run in batches sized to about a second of compute, capped by
  memory; cancellation is checked at every layer, so it lands within one layer's work.

Methods always run the network in evaluation mode on that copy, whatever mode the user's model
is in, and never modify or hook the user's model (the GUI keeps using it from other threads).

Passing the same ``shared`` dict to later calls for the same image and model (the GUI does)
reuses all of that; a dict that belonged to another image or model is cleared automatically.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..base.errors import GmxaiError, ParameterError
from ..base.jobs import JobControl
from ..models.base import ModelAdapter
from .methods import get_method
from .methods.base import AttributionMethod, AttributionResult, MethodContext, PassNeeds
from .methods.common import OpenForward, check_finite_input, qualified_layer_name
from .methods.surgery import acquire_private, release_private
from .targets import resolve_targets


@dataclass
class Prediction:
    """One image's prediction; ``top`` is (class index, class name, probability), best first."""

    logits: np.ndarray
    probabilities: np.ndarray
    embedding: np.ndarray | None
    top: list[tuple[int, str, float]]


def _check_input(adapter: ModelAdapter, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected one preprocessed image of shape (1, C, H, W), got {shape}")
    if x.shape[1] != adapter.channels:
        raise GmxaiError(
            f"the image has {x.shape[1]} channels but the model {adapter.arch} expects {adapter.channels}"
        )
    check_finite_input(x)


def _softmax(logits: np.ndarray) -> np.ndarray:
    if logits.size == 0:  # an embedding-only network (GestaltMatcher-Arc's ONNX backbone)
        return logits.astype(np.float32)
    z = logits.astype(np.float64)
    z = np.exp(z - z.max())
    return (z / z.sum()).astype(np.float32)


def predict(adapter: ModelAdapter, x: torch.Tensor, top: int = 5) -> Prediction:
    """Logits, softmax probabilities, embedding (if the model has one) and the ``top`` classes."""
    if top < 0:
        raise ParameterError(f"top must be 0 or more, not {top}")
    _check_input(adapter, x)
    with torch.inference_mode():
        logits_t, emb_t = adapter.predict(x)
    logits = logits_t[0].detach().float().cpu().numpy()
    if not np.isfinite(logits).all():
        raise GmxaiError("the model produced NaN or infinite scores for this image")
    probs = _softmax(logits)
    embedding = None if emb_t is None else emb_t[0].detach().float().cpu().numpy().reshape(-1)
    order = np.argsort(-logits, kind="stable")[: min(top, logits.size)]
    best = [(int(i), adapter.class_name(int(i)), float(probs[i])) for i in order]
    return Prediction(logits=logits, probabilities=probs, embedding=embedding, top=best)


def validate(
    adapter: ModelAdapter,
    methods: Sequence[str],
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[tuple[type[AttributionMethod], dict[str, Any]]]:
    """Method classes with fully resolved parameters; raises :class:`ParameterError` for anything
    unknown or invalid. Costs no model evaluation."""
    if isinstance(methods, str):
        methods = [methods]
    names = list(dict.fromkeys(methods))
    if not names:
        raise ParameterError("no attribution method chosen")
    classes = [get_method(n) for n in names]
    params = dict(params or {})
    stray = [k for k in params if k not in names]
    if stray:
        raise ParameterError(
            f"parameters given for {', '.join(map(repr, stray))}, which is not among the requested "
            f"methods ({', '.join(names)})"
        )
    out = []
    for cls in classes:
        given = params.get(cls.name) or {}
        if not isinstance(given, Mapping):
            raise ParameterError(f"parameters for {cls.name} must be name=value pairs")
        out.append((cls, cls.bind_params(adapter, cls.resolve_params(dict(given)))))
    return out


def _fingerprint(adapter: ModelAdapter, x: torch.Tensor) -> tuple[Any, ...]:
    digest = hashlib.blake2b(x.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    return (id(adapter.logits_module), adapter.model_id, tuple(x.shape), str(x.dtype), digest)


def _to_map(raw: torch.Tensor | np.ndarray, x: torch.Tensor, label: str, target_name: str) -> np.ndarray:
    if isinstance(raw, torch.Tensor):
        arr = raw.detach().float().cpu().numpy()
    else:
        arr = np.asarray(raw, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3:
        arr = arr.sum(axis=0, dtype=np.float64)
    if arr.shape != tuple(x.shape[-2:]):
        raise RuntimeError(f"{label} returned a map of shape {arr.shape}, expected {tuple(x.shape[-2:])}")
    if not np.isfinite(arr).all():
        raise GmxaiError(
            f"{label} produced NaN or infinite values for {target_name!r}; the model is numerically "
            "unstable on this image, so no map is shown"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def explain(
    adapter: ModelAdapter,
    x: torch.Tensor,
    methods: Sequence[str],
    *,
    target: str | int = "predicted",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    job: JobControl | None = None,
    shared: dict | None = None,
) -> list[AttributionResult]:
    """Attribution maps for ``x`` (1, C, H, W) from ``adapter.preprocess``.

    Results are ordered by target (as :func:`~gmxai_desktop.core.attribution.targets.resolve_targets` orders
    them), then by ``methods``. Raises :class:`ParameterError` for unknown methods, parameters,
    layers or targets before any method runs, :class:`GmxaiError` for non-finite input or maps,
    and :class:`~gmxai_desktop.core.base.errors.Cancelled` when ``job`` is cancelled.
    """
    plan = validate(adapter, methods, params)
    _check_input(adapter, x)
    if adapter.num_classes == 0:
        raise ParameterError(
            f"the model {adapter.arch} has no classifier (it outputs an embedding only); explain a "
            "similarity instead: to a gallery image or to a syndrome centroid"
        )
    if target not in (None, "predicted"):
        # Names, indices and malformed specs fail here, before the model runs.
        resolve_targets(target, np.zeros(max(adapter.num_classes, 1)), adapter.class_names)
    job = job or JobControl()
    shared = {} if shared is None else shared
    fingerprint = _fingerprint(adapter, x)
    if shared.get("_fingerprint") != fingerprint:
        shared.clear()
        shared["_fingerprint"] = fingerprint
    job.check()

    needs = PassNeeds()
    for cls, p in plan:
        needs = needs | cls.pass_needs(p)

    private = acquire_private(adapter.logits_module, x)
    clean = False
    try:
        shared["_private"] = private
        if needs and private.hookable and adapter.default_cam_layer:
            try:
                qualified_layer_name(adapter, adapter.default_cam_layer)
                # Free to capture in the same pass; later CAM calls with this shared dict reuse it.
                needs = needs | PassNeeds(layers=frozenset({adapter.default_cam_layer}))
            except ParameterError:
                pass
        shared["_plan"] = needs
        targets = None
        if "_logits" in shared:
            targets = resolve_targets(target, shared["_logits"], adapter.class_names)
            cached = [shared.get(f"pass:t{t}") for t in targets]
            open_needed = bool(needs) and any(c is None or not c.needs.covers(needs) for c in cached)
        else:
            open_needed = bool(needs)
        if open_needed and (private.hookable or not (needs.layers or needs.fullgrad)):
            # One forward with its graph kept: it gives the logits, and each target's gradient
            # pass is then only a backward pass.
            opened = OpenForward(private, adapter, x, needs, job.sub(0.0, 0.0))
            shared["_open"] = opened
            shared.setdefault("_logits", opened.logits[0].detach().float().cpu().numpy())
        if "_logits" not in shared:
            with torch.inference_mode():
                out = private.module(x)
            out = out[0] if isinstance(out, (tuple, list)) else out
            shared["_logits"] = out[0].detach().float().cpu().numpy()
        logits: np.ndarray = shared["_logits"]
        if not np.isfinite(logits).all():
            raise GmxaiError("the model produced NaN or infinite scores for this image")
        # Similarity targets (targets.similarity_adapter) are cosines, not logits: report them as is.
        similarity = bool(adapter.extra.get("scores_are_similarities"))
        probs = logits.astype(np.float32) if similarity else _softmax(logits)
        if targets is None:
            targets = resolve_targets(target, logits, adapter.class_names)

        hw = (int(x.shape[-2]), int(x.shape[-1]))
        costs = [cls.cost(p, hw) for cls, p in plan]
        total = sum(costs) * len(targets)
        done = 0.0
        results: list[AttributionResult] = []
        for t in targets:
            name_t = adapter.class_name(t)
            for (cls, p), cost in zip(plan, costs, strict=True):
                start, end = done / total, (done + cost) / total
                sub = job.sub(start, end, prefix=f"{cls.label}: ")
                ctx = MethodContext(adapter=adapter, x=x, target=t, job=sub, shared=shared)
                job.check()
                t0 = time.perf_counter()
                raw = cls().attribute(ctx, dict(p))
                elapsed = time.perf_counter() - t0
                results.append(
                    AttributionResult(
                        method=cls.name,
                        map=_to_map(raw, x, cls.label, name_t),
                        params=dict(p),
                        target=t,
                        target_name=name_t,
                        model_id=adapter.model_id,
                        logit=float(logits[t]),
                        probability=float(probs[t]),
                        reduction=cls.reduction,
                        elapsed_s=elapsed,
                    )
                )
                done += cost
                job.report(done / total, f"{cls.label} done")
        clean = True
        return results
    finally:
        shared.pop("_private", None)
        shared.pop("_plan", None)
        shared.pop("_open", None)
        release_private(private, clean)
