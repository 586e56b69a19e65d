"""Occlusion (Zeiler & Fergus 2014): how much the class score drops when a patch is hidden."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ...base.errors import Cancelled, ParameterError
from ...models.base import ModelAdapter
from .base import AttributionMethod, MethodContext, Param, register
from .common import BASELINE_PARAM, Stopwatch, baseline_tensor, planner_for, private_model, watch_layers
from .incremental import Plan, StageRegion, find_plan
from .surgery import PrivateModel


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Window offsets along one axis, as captum's ``Occlusion``: ``ceil((size-window)/stride)+1``
    positions; the last window is clipped at the border, so every pixel is occluded at least once."""
    count = math.ceil((size - window) / stride) + 1
    return [i * stride for i in range(count)]


# Exact windowed recomputation (``incremental.py``); the benchmark switches it off to time the
# plain batched path against the forward-throughput bound.
USE_INCREMENTAL = True


@register
class Occlusion(AttributionMethod):
    """Slide a ``window``-pixel square over the image in steps of ``stride``, replace it with the
    baseline, and record the drop of the target logit. A pixel's value is the mean drop over all
    windows that covered it (captum's ``Occlusion`` definition, bit-for-bit up to rounding).

    Reduction: none. The window covers all input channels at once, so there is one value per
    pixel (it is *not* multiplied by the number of channels the way a per-channel sum would).

    All occluded images are evaluated once, batched, in inference mode, on a channels-last copy
    of the network, recomputing only the region a patch can change where that is exact and
    cheaper (``incremental.py``; checked against full forwards before use). Their logits for
    every class are kept in ``ctx.shared``, so further targets on the same image are free.
    """

    name = "occlusion"
    label = "Occlusion"
    description = (
        "Hides one small square of the face at a time and measures how much the score for the "
        "syndrome drops. Red areas are those the model needs: covering them lowers the score. "
        "Model-agnostic and easy to trust, but coarse (the square's size) and the slowest method."
    )
    family = "perturbation"
    reduction = "none (the occluding window covers all channels)"
    params = (
        Param("window", int, 10, "side of the occluding square, in model-input pixels", minimum=1),
        Param("stride", int, 5, "step between window positions, in pixels (at most the window)",
              minimum=1),
        BASELINE_PARAM,
    )

    @classmethod
    def bind_params(cls, adapter: ModelAdapter, params: dict[str, Any]) -> dict[str, Any]:
        _check_fit(*adapter.input_size, params)
        return params

    @classmethod
    def cost(cls, params: dict[str, Any], input_hw: tuple[int, int]) -> float:
        """One batched, inference-only forward (about half a gradient pass) per window position."""
        h, w = input_hw
        win, stride = params["window"], params["stride"]
        return 0.5 * len(window_starts(h, win, stride)) * len(window_starts(w, win, stride))

    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor:
        _check_fit(*ctx.x.shape[-2:], params)
        logits, occluded, positions = occluded_logits(ctx, params)
        diffs = (logits[ctx.target] - occluded[:, ctx.target]).tolist()
        h, w = ctx.x.shape[-2:]
        win = params["window"]
        total = torch.zeros((h, w), dtype=torch.float64)
        counts = torch.zeros((h, w), dtype=torch.float64)
        for (y0, x0), d in zip(positions, diffs, strict=True):
            total[y0 : y0 + win, x0 : x0 + win] += d
            counts[y0 : y0 + win, x0 : x0 + win] += 1.0
        return (total / counts).to(torch.float32)


def _check_fit(h: int, w: int, params: dict[str, Any]) -> None:
    if params["window"] > min(h, w):
        raise ParameterError(f"occlusion window {params['window']} is larger than the model input ({h}x{w})")
    if params["stride"] > params["window"]:
        raise ParameterError(
            f"occlusion stride {params['stride']} exceeds the window {params['window']}: pixels "
            "between windows would never be occluded"
        )


def occluded_logits(
    ctx: MethodContext, params: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """(logits of the image (K,), logits of every occluded image (P, K), window offsets)."""
    win, stride, kind = params["window"], params["stride"], params["baseline"]
    h, w = ctx.x.shape[-2:]
    positions = [(y, x) for y in window_starts(h, win, stride) for x in window_starts(w, win, stride)]
    key = f"occlusion:w{win}:s{stride}:{kind}"
    cached = ctx.shared.get(key)
    if cached is not None:
        return cached[0], cached[1], positions
    private = private_model(ctx)
    model = private.inference_module()
    x = ctx.x.detach()
    base = baseline_tensor(ctx.adapter, x, kind)
    chunks: list[torch.Tensor] = []
    done = 0
    with torch.inference_mode(), watch_layers(model, ctx.job):
        ctx.job.check()
        logits = _logits(model(x))[0].float()
        evaluate = _evaluator(private, x, base, win, positions)
        kind = "occlusion-windowed" if isinstance(evaluate, _Windowed) else "occlusion"
        planner = planner_for(ctx, kind, backward=False)
        while done < len(positions):
            ctx.job.report(done / len(positions), "occlusion")
            n = planner.size(len(positions) - done)
            with Stopwatch() as sw:
                chunks.append(evaluate(positions[done : done + n]).float())
            planner.record(n, sw.seconds)
            done += n
    occluded = torch.cat(chunks).cpu()
    logits = logits.cpu()
    ctx.shared[key] = (logits, occluded)
    ctx.job.report(1.0, "occlusion")
    return logits, occluded, positions


Evaluator = Callable[[list[tuple[int, int]]], torch.Tensor]


def _evaluator(
    private: PrivateModel, x: torch.Tensor, base: torch.Tensor, win: int, positions: list[tuple[int, int]]
) -> Evaluator:
    """Logits of occluded images: exact windowed recomputation when a checked plan exists
    (see ``incremental.py``), else full forward passes."""
    model = private.inference_module()

    def full(chunk: list[tuple[int, int]]) -> torch.Tensor:
        batch = x.expand(len(chunk), *x.shape[1:]).clone()
        for j, (y0, x0) in enumerate(chunk):
            batch[j, :, y0 : y0 + win, x0 : x0 + win] = base[0, :, y0 : y0 + win, x0 : x0 + win]
        return _logits(model(batch))

    if not USE_INCREMENTAL or not private.hookable:
        return full
    shape_key = ("occlusion-plan", tuple(x.shape), str(x.dtype), str(x.device))
    if shape_key not in private.cache:
        private.cache[shape_key] = find_plan(model, x)
    plan: Plan | None = private.cache[shape_key]
    if plan is None:
        return full
    windowed = _Windowed(plan, x, base, win)
    check_key = (*shape_key, win)
    if check_key not in private.cache:
        ys = sorted({y for y, _ in positions})
        xs = sorted({x0 for _, x0 in positions})
        # The four corners (clipped windows, image borders) and the centre.
        probe = list(dict.fromkeys([(ys[0], xs[0]), (ys[0], xs[-1]), (ys[-1], xs[0]), (ys[-1], xs[-1]),
                                    (ys[len(ys) // 2], xs[len(xs) // 2])]))
        expected = full(probe)
        try:
            got = windowed(probe)
            scale = float(expected.abs().max()) + 1e-3
            ok = got.shape == expected.shape and float((expected - got).abs().max()) <= 1e-4 * scale
        except Cancelled:
            raise
        except Exception:  # a geometry this analysis did not foresee: use full forwards
            ok = False
        private.cache[check_key] = ok
    return windowed if private.cache[check_key] else full


class _Windowed:
    """Occluded logits through a :class:`~.incremental.Plan`: every local stage runs on crops."""

    def __init__(self, plan: Plan, x: torch.Tensor, base: torch.Tensor, win: int) -> None:
        self.plan, self.base, self.win = plan, base, win
        self.clean = [x]
        for stage in plan.stages:
            self.clean.append(stage.module(self.clean[-1]))
        self.size = tuple(x.shape[-2:])
        self._rows: dict[int, list] = {}
        self._cols: dict[int, list] = {}
        self._regions: dict[tuple[int, int], list[StageRegion] | None] = {}

    def regions(self, pos: tuple[int, int]) -> list[StageRegion] | None:
        """Stage regions of one window, computed on first use from per-row / per-column spans
        (9 409 windows of a stride-1 scan share 97 row and 97 column geometries)."""
        if pos not in self._regions:
            (h, w), (y0, x0), win = self.size, pos, self.win
            if y0 not in self._rows:
                self._rows[y0] = self.plan.axis_regions(0, (y0, min(y0 + win, h)))
            if x0 not in self._cols:
                self._cols[x0] = self.plan.axis_regions(1, (x0, min(x0 + win, w)))
            r, c = self._rows[y0], self._cols[x0]
            n = min(len(r), len(c))
            self._regions[pos] = [
                StageRegion(need=(r[i][0], c[i][0]), changed=(r[i][1], c[i][1])) for i in range(n)
            ] or None
        return self._regions[pos]

    def __call__(self, chunk: list[tuple[int, int]]) -> torch.Tensor:
        h, w = self.clean[0].shape[-2:]
        # Changed region of the current cut tensor per image: (values, row start, column start).
        changed: list[tuple[torch.Tensor, int, int] | None] = []
        for y0, x0 in chunk:
            y1, x1 = min(y0 + self.win, h), min(x0 + self.win, w)
            changed.append((self.base[0, :, y0:y1, x0:x1], y0, x0))
        for i, stage in enumerate(self.plan.stages):
            groups: dict[tuple[int, int], list[int]] = {}
            for j, pos in enumerate(chunk):
                regions = self.regions(pos)
                if changed[j] is None or regions is None or i >= len(regions):
                    changed[j] = None
                    continue
                (ny0, ny1), (nx0, nx1) = regions[i].need
                groups.setdefault((ny1 - ny0, nx1 - nx0), []).append(j)
            for members in groups.values():
                crops = []
                for j in members:
                    region = self.regions(chunk[j])[i]  # type: ignore[index]
                    (ny0, ny1), (nx0, nx1) = region.need
                    crop = self.clean[i][0, :, ny0:ny1, nx0:nx1].clone()
                    values, ry0, rx0 = changed[j]  # type: ignore[misc]
                    _paste(crop, values, ry0 - ny0, rx0 - nx0)
                    crops.append(crop)
                out = stage.module(torch.stack(crops))
                sy, sx = stage.step
                for k, j in enumerate(members):
                    region = self.regions(chunk[j])[i]  # type: ignore[index]
                    (cy0, cy1), (cx0, cx1) = region.changed
                    oy, ox = region.need[0][0] // sy, region.need[1][0] // sx
                    changed[j] = (out[k, :, cy0 - oy : cy1 - oy, cx0 - ox : cx1 - ox], cy0, cx0)
        last = self.clean[-1]
        cut = last.expand(len(chunk), *last.shape[1:]).clone()
        for j, item in enumerate(changed):
            if item is not None:
                _paste(cut[j], *item)
        return _logits(self.plan.suffix(cut))


def _paste(dest: torch.Tensor, values: torch.Tensor, y0: int, x0: int) -> None:
    """dest[:, y0:, x0:] = values, clipped to dest (C, H, W)."""
    h, w = dest.shape[-2:]
    vy0, vx0 = max(0, -y0), max(0, -x0)
    vy1, vx1 = min(values.shape[-2], h - y0), min(values.shape[-1], w - x0)
    if vy1 > vy0 and vx1 > vx0:
        dest[:, y0 + vy0 : y0 + vy1, x0 + vx0 : x0 + vx1] = values[:, vy0:vy1, vx0:vx1]


def _logits(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out
