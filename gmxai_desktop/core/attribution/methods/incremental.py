"""Exact occlusion with less compute: recompute only the part of the network a patch can change.

An occluded image differs from the original only inside one small square. Through the first,
spatially local part of a CNN (convolutions, pooling, batch norm, activations, residual adds) that
difference stays inside a bounded region that grows with each layer's receptive field. So the
local part is cut into stages at tensors every later operation depends on only through them
(block outputs). The clean image is run through every stage once; for each occluded image, each
stage runs only on the crop of its input that can influence the changed region of its output,
with the changed region of the previous stage pasted in, and its own changed region is pasted
into the clean output of the stage. The rest of the network runs as usual. The convolutions see
exactly the inputs a full forward pass would give them, so the logits are the same up to
floating-point rounding; only work whose result cannot change is skipped.

For GestaltMatcher v1 most of the compute is in the first, high-resolution layers, which is where
the saving is: several times fewer operations per occluded image. Networks whose receptive field
covers the image early gain less; the plain path is used when the estimated saving is small. The
plan is found automatically (torch.fx trace, interval arithmetic over the graph, dynamic
programming over the cut points) and every plan is checked against full forward passes before it
is trusted (see ``occlusion.py``).
"""

from __future__ import annotations

import itertools
import math
import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.node import map_arg
from torch.fx.passes.shape_prop import ShapeProp

Interval = tuple[int, int]  # [start, stop) along one axis

_POINTWISE_MODULES = (
    nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.SiLU, nn.GELU,
    nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Mish, nn.Softplus, nn.PReLU,
    nn.Identity, nn.Dropout, nn.Dropout2d,
)
_POINTWISE_FUNCTIONS = {
    operator.add, operator.mul, operator.sub, operator.truediv, torch.add, torch.mul, torch.sub,
    torch.relu, F.relu, torch.sigmoid, torch.tanh, F.silu, F.gelu, F.hardswish, F.relu6,
    F.leaky_relu, F.dropout,
}
_POINTWISE_METHODS = {"relu", "relu_", "sigmoid", "tanh", "add", "add_", "mul", "mul_", "contiguous"}
_MIN_SAVING = 0.85  # use a plan only if it needs at most 85 % of the full operations
_STAGE_OVERHEAD = 0.01  # per-stage cost (copies, small batched calls) as a fraction of a forward


@dataclass(frozen=True)
class _Window:
    """Geometry of a sliding-window op along one axis."""

    kernel: int
    stride: int
    padding: int
    dilation: int


@dataclass
class _Info:
    size: tuple[int, int]
    windows: tuple[_Window, _Window] | None  # None: pointwise
    inputs: list[fx.Node]
    flops: float


def _forward_span(nodes: list[fx.Node], infos: dict[fx.Node, _Info], axis: int,
                  span: Interval) -> dict[fx.Node, Interval | None]:
    """Changed interval at every node of ``nodes`` when ``nodes[0]`` changes in ``span``."""
    iv: dict[fx.Node, Interval | None] = {nodes[0]: span if span[1] > span[0] else None}
    for node in nodes[1:]:
        info = infos[node]
        spans = [iv[a] for a in info.inputs if iv.get(a) is not None]
        if not spans:
            iv[node] = None
            continue
        lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        if info.windows is not None:
            w = info.windows[axis]
            lo = max(0, math.ceil((lo + w.padding - (w.kernel - 1) * w.dilation) / w.stride))
            hi = min(info.size[axis], (hi - 1 + w.padding) // w.stride + 1)
        iv[node] = (lo, hi) if hi > lo else None
    return iv


def _backward_span(nodes: list[fx.Node], infos: dict[fx.Node, _Info], axis: int, span: Interval,
                   step: int) -> Interval:
    """Interval of ``nodes[0]`` that ``nodes[-1]``'s ``span`` depends on; start aligned to ``step``."""
    need: dict[fx.Node, Interval] = {nodes[-1]: span}
    inside = set(nodes)
    for node in reversed(nodes[1:]):
        if node not in need:
            continue
        lo, hi = need[node]
        info = infos[node]
        if info.windows is not None:
            w = info.windows[axis]
            lo = lo * w.stride - w.padding
            hi = (hi - 1) * w.stride - w.padding + (w.kernel - 1) * w.dilation + 1
        for a in info.inputs:
            if a not in inside:
                continue
            size = infos[a].size[axis]
            lo_c, hi_c = max(0, lo), min(size, hi)
            if a in need:
                lo_c, hi_c = min(lo_c, need[a][0]), max(hi_c, need[a][1])
            need[a] = (lo_c, hi_c)
    lo, hi = need.get(nodes[0], (0, 0))
    return ((lo // step) * step, hi)


@dataclass
class Stage:
    """Computes the cut tensor ``nodes[-1]`` from the cut tensor ``nodes[0]``."""

    module: fx.GraphModule
    nodes: list[fx.Node]
    step: tuple[int, int]  # stride of the output relative to the input


@dataclass
class StageRegion:
    need: tuple[Interval, Interval]  # crop of the stage input to compute
    changed: tuple[Interval, Interval]  # changed region of the stage output


@dataclass
class Plan:
    """The local part of a network cut into stages, plus the rest (see the module docstring)."""

    stages: list[Stage]
    suffix: fx.GraphModule
    infos: dict[fx.Node, _Info]
    saving: float  # estimated operations per occluded image relative to a full forward

    def axis_regions(self, axis: int, span: Interval) -> list[tuple[Interval, Interval]]:
        """Along one axis, per stage: (interval of its input to compute, changed interval of its
        output), for an input change in ``span``; as many stages as the change reaches. Axes are
        independent (every op here is separable), so callers cache this per row / column span."""
        out: list[tuple[Interval, Interval]] = []
        changed = span
        for stage in self.stages:
            got = _forward_span(stage.nodes, self.infos, axis, changed)[stage.nodes[-1]]
            if got is None:
                break
            out.append((_backward_span(stage.nodes, self.infos, axis, got, stage.step[axis]), got))
            changed = got
        return out

    def regions(self, rows: Interval, cols: Interval) -> list[StageRegion] | None:
        """Per stage, the input crop to compute and the changed output region, for an input
        change in rows x cols; None if nothing changes, shorter than the stages if the change
        dies out (later stages then see the clean tensor)."""
        r, c = self.axis_regions(0, rows), self.axis_regions(1, cols)
        n = min(len(r), len(c))
        if n == 0:
            return None
        return [StageRegion(need=(r[i][0], c[i][0]), changed=(r[i][1], c[i][1])) for i in range(n)]


def find_plan(model: nn.Module, x: torch.Tensor) -> Plan | None:
    """The cheapest exact staged plan for occluding ``x`` (costed for 10-pixel patches), or None
    if no plan saves at least 15 % of the operations."""
    if model.training:
        return None
    try:
        gm = fx.GraphModule(model, fx.Tracer().trace(model))
        with torch.no_grad():
            ShapeProp(gm).propagate(x)
    except Exception:
        return None
    modules = dict(gm.named_modules())
    nodes = list(gm.graph.nodes)
    if sum(n.op == "placeholder" for n in nodes) != 1 or nodes[0].op != "placeholder":
        return None
    root = nodes[0]
    infos: dict[fx.Node, _Info] = {root: _Info(size=tuple(x.shape[-2:]), windows=None, inputs=[], flops=0.0)}
    strides: dict[fx.Node, tuple[int, int]] = {root: (1, 1)}
    flops = {n: _flops(n, modules) for n in nodes}
    total = sum(flops.values())
    if total <= 0:
        return None
    prefix = [root]
    for node in nodes[1:]:
        info = _local_info(node, modules, infos, strides)
        if info is None:
            break  # the local part ends at the first operation that is not spatially local
        infos[node] = info
        prefix.append(node)
    index = {n: i for i, n in enumerate(nodes)}
    last_use = {n: max((index[u] for u in n.users), default=index[n]) for n in nodes}
    # Cut points: tensors after which no earlier tensor is needed (not inside a residual block).
    cuts = [root] + [
        n for n in prefix[1:] if all(last_use[m] <= index[n] for m in nodes[: index[n]])
    ]
    if len(cuts) < 2:
        return None
    h, w = x.shape[-2:]
    patch = min(10, h, w)
    y0, x0 = (h - patch) // 2, (w - patch) // 2
    changed = [_forward_span(prefix, infos, axis, (c, c + patch)) for axis, c in ((0, y0), (1, x0))]
    cum = {}
    acc = 0.0
    for n in nodes:
        acc += flops[n]
        cum[n] = acc

    def stage_cost(a: fx.Node, b: fx.Node) -> float:
        span = [changed[axis][b] for axis in (0, 1)]
        if span[0] is None or span[1] is None:
            return 0.0
        seg = prefix[prefix.index(a) : prefix.index(b) + 1]
        step = (strides[b][0] // strides[a][0], strides[b][1] // strides[a][1])
        need = [_backward_span(seg, infos, axis, span[axis], step[axis]) for axis in (0, 1)]
        area = max(0, need[0][1] - need[0][0]) * max(0, need[1][1] - need[1][0])
        fraction = min(1.0, area / float(infos[a].size[0] * infos[a].size[1]))
        return (cum[b] - cum[a]) * fraction + _STAGE_OVERHEAD * total

    best: dict[fx.Node, tuple[float, fx.Node | None]] = {root: (0.0, None)}
    for j, b in enumerate(cuts[1:], start=1):
        best[b] = min(((best[a][0] + stage_cost(a, b), a) for a in cuts[:j]), key=lambda t: t[0])
    end, cost = None, total
    for b in cuts[1:]:
        candidate = best[b][0] + (total - cum[b])
        if candidate < cost:
            end, cost = b, candidate
    if end is None or cost > _MIN_SAVING * total:
        return None
    chain = [end]
    while best[chain[-1]][1] is not None:
        chain.append(best[chain[-1]][1])  # type: ignore[arg-type]
    chain.reverse()
    stages = []
    for a, b in itertools.pairwise(chain):
        seg = prefix[prefix.index(a) : prefix.index(b) + 1]
        step = (strides[b][0] // strides[a][0], strides[b][1] // strides[a][1])
        stages.append(Stage(module=_subgraph(gm, seg), nodes=seg, step=step))
    suffix = _subgraph(gm, [end, *nodes[index[end] + 1 :]])
    return Plan(stages=stages, suffix=suffix, infos=infos, saving=cost / total)


def _subgraph(gm: fx.GraphModule, seg: list[fx.Node]) -> fx.GraphModule:
    """A module computing ``seg``'s last value (or the graph output) from ``seg[0]``'s value."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {seg[0]: graph.placeholder("x")}
    result = None
    for n in seg[1:]:
        if n.op == "output":
            result = graph.output(map_arg(n.args[0], lambda a: env[a]))
            break
        env[n] = graph.node_copy(n, lambda a: env[a])
    if result is None:
        graph.output(env[seg[-1]])
    return fx.GraphModule(gm, graph)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _local_info(node: fx.Node, modules: dict[str, nn.Module], infos: dict[fx.Node, _Info],
                strides: dict[fx.Node, tuple[int, int]]) -> _Info | None:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape") or len(meta.shape) != 4:
        return None
    size = (int(meta.shape[2]), int(meta.shape[3]))
    tensor_args = [a for a in node.all_input_nodes]
    if not tensor_args or any(a not in infos for a in tensor_args):
        return None
    in_strides = {strides[a] for a in tensor_args}
    in_sizes = {infos[a].size for a in tensor_args}
    if len(in_strides) != 1 or len(in_sizes) != 1:
        return None
    in_stride = in_strides.pop()
    windows: tuple[_Window, _Window] | None = None
    flops = float(meta.shape[1] * size[0] * size[1])
    if node.op == "call_module":
        m = modules[node.target]
        if type(m) is nn.Conv2d:
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                return None
            k, s, p, d = _pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.dilation)
            windows = (_Window(k[0], s[0], p[0], d[0]), _Window(k[1], s[1], p[1], d[1]))
            flops *= m.in_channels / m.groups * k[0] * k[1]
        elif type(m) in (nn.MaxPool2d, nn.AvgPool2d):
            k, s = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size)
            p = _pair(m.padding)
            d = _pair(getattr(m, "dilation", 1))
            windows = (_Window(k[0], s[0], p[0], d[0]), _Window(k[1], s[1], p[1], d[1]))
        elif not isinstance(m, _POINTWISE_MODULES):
            return None
    elif node.op == "call_function":
        if node.target is torch.cat:
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            if dim not in (1, -3):
                return None
        elif node.target not in _POINTWISE_FUNCTIONS:
            return None
    elif node.op == "call_method":
        if node.target not in _POINTWISE_METHODS:
            return None
    else:
        return None
    if windows is None:
        if size != next(iter(in_sizes)):
            return None
        strides[node] = in_stride
    else:
        strides[node] = (in_stride[0] * windows[0].stride, in_stride[1] * windows[1].stride)
    return _Info(size=size, windows=windows, inputs=tensor_args, flops=flops)


def _flops(node: fx.Node, modules: dict[str, nn.Module]) -> float:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    if shape is None:
        return 0.0
    numel = float(math.prod(shape[1:]))
    if node.op == "call_module":
        m = modules[node.target]
        if isinstance(m, nn.Conv2d):
            return numel * m.in_channels / m.groups * math.prod(_pair(m.kernel_size))
        if isinstance(m, nn.Linear):
            return numel * m.in_features
    return numel


