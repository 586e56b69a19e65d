"""Family ``torchvision:<arch>``: a state_dict of any torchvision classification architecture.

Recognised from its exact key set and tensor shapes (see :mod:`..torchvision_zoo`). 224x224 RGB
with ImageNet normalisation: torchvision's convention, which fine-tuning scripts keep. A ViT uses
the size it was built for.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...base.errors import CheckpointError
from .. import torchvision_zoo as tvz
from ..built import Built
from ..checkpoint import check_finite, fit_message, fit_problems, load_into, to_float32
from ..content import MODULE, STATE_DICT, Content
from .statedict import arch_hint, detect_arch, torchvision_matches

KIND = "torchvision"
LABEL = "torchvision:<arch>"
FORMATS = (STATE_DICT, MODULE)


def detect(content: Content) -> float:
    state = content.state()
    if state is None:
        return 0.0
    n = len(torchvision_matches(state))
    if n == 1:
        return 1.0
    # Several fits: for a state_dict, building reports the ambiguity; a trusted module runs as is.
    return 0.5 if n > 1 and content.format == STATE_DICT else 0.0


def build(content: Content, variant: str | None = None, forced: bool = False) -> Built:
    name = content.name
    state = to_float32(content.state() or {})
    check_finite(state, name)
    if variant is None:
        kind = detect_arch(state)
        if not kind.startswith("torchvision:"):
            raise CheckpointError(f"{name} is not a torchvision checkpoint; it looks like {kind}")
        return _build(state, name, kind.split(":", 1)[1], auto=True, from_state=content.format == STATE_DICT)
    return _build(state, name, variant, auto=False, from_state=content.format == STATE_DICT)


def _build(state: dict[str, Any], name: str, arch: str, auto: bool, from_state: bool) -> Built:
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    label = f"torchvision:{arch}"
    best: tuple[int, str] | None = None
    chosen: tuple[tvz.Variant, int, nn.Module] | None = None
    for variant in tvz.variants(arch):
        head = tvz.head_keys(variant)
        nc = shapes[head[0]][0] if head and head[0] in shapes and shapes[head[0]] else 1000
        candidate = tvz.build(variant, nc)
        expected = {k: tuple(v.shape) for k, v in candidate.state_dict().items()}
        missing, unexpected, mismatched = fit_problems(state, expected)
        if not (missing or unexpected or mismatched):
            chosen = (variant, nc, candidate)
            break
        score = len(missing) + len(unexpected) + len(mismatched)
        if best is None or score < best[0]:
            hint = "" if auto else arch_hint(state, label)
            best = (score, fit_message(name, label, missing, unexpected, mismatched, hint))
    if chosen is None:
        assert best is not None
        raise CheckpointError(best[1])
    variant, num_classes, net = chosen
    load_into(net, state, name, label)
    if tvz.has_meta_tensors(net):  # an architecture keeping tensors outside its state_dict: build it fully
        net = tvz.tvm.get_model(arch, weights=None, num_classes=num_classes, **variant.build_kwargs())
        load_into(net, state, name, label)
    cam = tvz.default_cam_layer(arch, net)
    extra: dict[str, Any] = {"torchvision_build": variant.label}
    notes = list(variant.notes)
    if not cam:
        notes.append(
            f"{arch} has no spatial feature map before pooling; CAM methods need a layer chosen by hand"
        )
    if notes:
        extra["notes"] = notes
    return Built(
        arch=label,
        net=net,
        num_classes=num_classes,
        input_size=tvz.input_size_for(net),
        channels=3,
        mean=tvz.IMAGENET_MEAN,
        std=tvz.IMAGENET_STD,
        template="none",
        cam_layer=cam,
        extra=extra,
        weights_checked=from_state,
    )
