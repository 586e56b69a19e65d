"""The GestaltMatcher-Arc network as gmxai runs it: ``base`` -> ``features`` -> optional ``classifier``.

This mirrors upstream's ``MyArcFace`` (same attribute names, so layer names read the same) with
a forward written here: ``base`` is the converted backbone cut after its flatten, ``features``
is ``Sequential(Linear, BatchNorm1d)`` giving the 512-d embedding, ``classifier`` maps it to
syndrome logits. The raw ONNX backbone has no classifier; its logits are an empty (N, 0) tensor
so that every adapter returns ``(logits, embedding)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...base.errors import CheckpointError
from .graph import GraphNet, Step, check_targets


class ArcNet(nn.Module):
    def __init__(self, base: GraphNet, features: nn.Sequential, classifier: nn.Sequential | None) -> None:
        super().__init__()
        self.base = base
        self.features = features
        self.classifier = classifier

    @property
    def num_classes(self) -> int:
        return 0 if self.classifier is None else int(self.classifier[-1].out_features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.features(self.base(x))
        if self.classifier is None:
            return emb.new_zeros((emb.shape[0], 0)), emb
        return self.classifier(emb), emb


_FLATTEN = ("Flatten", "OnnxFlatten")


class SplitPReLU(nn.Module):
    """PReLU written as ``relu(x) - a * relu(-x)``: the same function, built from ReLU modules.

    Why: DeepLIFT has a rule for ReLU but none for PReLU, and onnx2torch calls ``prelu``
    functionally with the slope as a second input. Through the two ReLUs, DeepLIFT's Rescale
    multipliers add up to exactly ``(f(x) - f(x0)) / (x - x0)``, the Rescale rule for PReLU itself,
    so every method gets a correct map. Forward values are identical. Each ReLU gets its own
    input tensor (``x.clone()``): a hook-based rule that rewrites the gradient of a module's input
    would otherwise overwrite the gradient ``x`` receives through the other branch.
    """

    def __init__(self, slope: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(slope.detach().reshape(-1).clone(), requires_grad=False)
        self.pos = nn.ReLU()
        self.neg = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.weight.view(1, -1, *([1] * (x.dim() - 2))) if self.weight.numel() > 1 else self.weight
        return self.pos(x.clone()) - a * self.neg(-x)


def split_prelus(
    modules: dict[str, nn.Module], tensors: dict[str, torch.Tensor], steps: list[Step]
) -> list[Step]:
    """Replace each ``OnnxPReLU(x, constant slope)`` call by a :class:`SplitPReLU` of that slope."""
    holder = nn.Module()
    for key, module in modules.items():
        holder.add_module(key, module)
    for key, tensor in tensors.items():
        holder.register_buffer(key, tensor)
    by_out = {s.out: s for s in steps}

    def constant(var: str) -> torch.Tensor | None:
        step = by_out.get(var)
        if step is None:
            return None
        if step.kind == "attr":
            try:
                return holder.get_buffer(step.target)
            except AttributeError:
                try:
                    return holder.get_parameter(step.target)
                except AttributeError:
                    return None
        target = holder.get_submodule(step.target) if step.target else None
        if _is(target, "OnnxCopyIdentity", "Identity") and len(step.args) == 1 and step.args[0][0] == "ref":
            return constant(step.args[0][1])
        return None

    out: list[Step] = []
    for step in steps:
        module = modules.get(step.target)
        if (
            step.kind == "call"
            and _is(module, "OnnxPReLU")
            and len(step.args) == 2
            and step.args[1][0] == "ref"
        ):
            slope = constant(step.args[1][1])
            if slope is not None and (slope.numel() == 1 or all(d == 1 for d in slope.shape[1:])):
                modules[step.target] = SplitPReLU(slope)
                step = Step(step.out, "call", step.target, step.args[:1])
        out.append(step)
    return out


def _is(module: Any, *names: str) -> bool:
    return type(module).__name__ in names


def _producer(steps: list[Step], out: str) -> Step | None:
    return next((s for s in steps if s.out == out), None)


def split_head(
    modules: dict[str, nn.Module],
    tensors: dict[str, torch.Tensor],
    steps: list[Step],
    input_name: str,
    output: str,
    name: str,
    features: nn.Sequential | None,
) -> tuple[GraphNet, nn.Sequential, str]:
    """(base ending at the flatten, features, CAM layer inside base) or a clear refusal.

    With ``features`` None the graph still ends in Flatten -> Gemm -> BatchNorm1d (the raw ONNX
    backbone) and those two layers are moved out, as upstream's surgery does. Otherwise the graph
    must already end at its flatten (upstream's cut) and ``features`` holds the two layers.
    """
    check_targets(modules, tensors, steps, name)
    steps = split_prelus(modules, tensors, steps)
    holder = nn.Module()
    for key, module in modules.items():
        holder.add_module(key, module)
    named = dict(holder.named_modules())
    if features is None:
        last = _producer(steps, output)
        gemm = _producer(steps, last.args[0][1]) if last and last.args and last.args[0][0] == "ref" else None
        if not (
            last
            and gemm
            and isinstance(named.get(last.target), nn.BatchNorm1d)
            and isinstance(named.get(gemm.target), nn.Linear)
        ):
            raise CheckpointError(
                f"{name}: the network does not end in Gemm -> BatchNormalization like an ArcFace backbone"
            )
        features = nn.Sequential(named[gemm.target], named[last.target])
        steps = [s for s in steps if s is not last and s is not gemm]
        for target in (gemm.target, last.target):
            modules.pop(target, None)
        output = gemm.args[0][1]
    else:
        check_features(features, name)
    flat = _producer(steps, output)
    if (
        flat is None
        or not _is(named.get(flat.target), *_FLATTEN)
        or not flat.args
        or flat.args[0][0] != "ref"
    ):
        raise CheckpointError(f"{name}: the backbone does not end in a flatten like an ArcFace network")
    bn = _producer(steps, flat.args[0][1])
    if bn is None or not isinstance(named.get(bn.target), nn.BatchNorm2d):
        raise CheckpointError(f"{name}: the layer before the flatten is not a BatchNorm2d as in iResNet")
    try:
        base = GraphNet(modules, tensors, steps, input_name, output)
    except (KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{name}: its layers cannot be assembled ({exc})") from None
    return base, features, f"base.{bn.target}"


def check_features(features: Any, name: str) -> None:
    if not (
        isinstance(features, nn.Sequential)
        and len(features) == 2
        and isinstance(features[0], nn.Linear)
        and isinstance(features[1], nn.BatchNorm1d)
        and features[0].out_features == features[1].num_features
    ):
        raise CheckpointError(f"{name}: 'features' is not Linear -> BatchNorm1d as in MyArcFace; refused")


def check_classifier(classifier: Any, dim: int, name: str) -> nn.Sequential:
    ok = (
        isinstance(classifier, nn.Sequential)
        and 1 <= len(classifier) <= 2
        and isinstance(classifier[-1], nn.Linear)
        and all(isinstance(m, nn.Dropout) for m in list(classifier)[:-1])
        and classifier[-1].in_features == dim
    )
    if not ok:
        raise CheckpointError(
            f"{name}: 'classifier' is not Dropout -> Linear({dim}, classes) as in MyArcFace"
        )
    return classifier


def check_runs(net: ArcNet, name: str) -> int:
    """One zero batch through the rebuilt net (library layers only); returns the embedding size."""
    try:
        with torch.no_grad():
            logits, emb = net.eval()(torch.zeros(1, 3, 112, 112))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CheckpointError(
            f"{name}: the rebuilt network does not accept 112x112 RGB input ({first})"
        ) from None
    if emb.ndim != 2 or logits.ndim != 2:
        raise CheckpointError(f"{name}: the rebuilt network's output has an unexpected shape")
    return int(emb.shape[1])
