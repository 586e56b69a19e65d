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
