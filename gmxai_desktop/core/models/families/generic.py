"""Generic networks: probing a module that says little about its input (TorchScript, trusted pickles).

Input conventions come from the module's attributes (``input_size``, ``channels``, ``mean``,
``std``, ``class_names``, ``template``) or a ``gmxai.json`` extra file with the same keys; without
them the loader probes the conventions in :data:`PROBES` in order.

Family ``pickled``: a trusted (``--trust-pickle``), fully unpickled module whose weights no
native family recognises is wrapped as it is (``pickled:<ClassName>``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...base.errors import CheckpointError
from .. import torchvision_zoo as tvz
from ..base import Template
from ..built import Built
from ..content import MODULE, Content

KIND = "pickled"
LABEL = ""  # not offered by --arch: it is the fallback for trusted modules
FORMATS = (MODULE,)

# (input size, channels, mean, std, template) tried in order when a generic module says nothing
# about its input: torchvision's convention, the ArcFace / GestaltMatcher-Arc convention, and the
# GestaltMatcher v1 convention. The first one the network accepts wins; a network that accepts
# any size gets the first.
PROBES: tuple[tuple[tuple[int, int], int, tuple[float, ...], tuple[float, ...], Template], ...] = (
    ((224, 224), 3, tvz.IMAGENET_MEAN, tvz.IMAGENET_STD, "none"),
    ((112, 112), 3, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "arcface112"),
    ((100, 100), 1, (0.0,), (1.0,), "gm-v1"),
)
TEMPLATES: tuple[str, ...] = ("gm-v1", "arcface112", "none")


def detect(content: Content) -> float:
    return 0.1 if content.format == MODULE else 0.0


def build(content: Content, variant: str | None = None, forced: bool = False) -> Built:
    module = content.payload
    return describe_generic(module, torch.device("cpu"), content.name, f"pickled:{type(module).__name__}", {})


def _attr(net: nn.Module, meta: dict[str, Any], key: str) -> Any:
    """A plain-value attribute describing the input; tensors, submodules and methods do not count.

    A network that normalises internally often keeps ``mean``/``std`` buffers: those are part of
    the network, not instructions for our preprocessing.
    """
    if key in meta:
        return meta[key]
    try:
        value = getattr(net, key)
    except (AttributeError, RuntimeError):
        return None
    if isinstance(value, (torch.Tensor, nn.Module)) or callable(value):
        return None
    return value


def describe_generic(net: nn.Module, dev: torch.device, name: str, arch: str, meta: dict[str, Any]) -> Built:
    net = net.to(dev).eval()
    size_attr = _attr(net, meta, "input_size")
    chan_attr = _attr(net, meta, "channels")
    mean_attr = _attr(net, meta, "mean")
    std_attr = _attr(net, meta, "std")
    names_attr = _attr(net, meta, "class_names")
    template_attr = _attr(net, meta, "template")

    if size_attr is None and chan_attr is None:
        probes = list(PROBES)
    else:
        size = _parse_size(size_attr, name) if size_attr is not None else (224, 224)
        channels = _parse_channels(chan_attr, name) if chan_attr is not None else 3
        default = next((p for p in PROBES if p[1] == channels and p[0] == size), None)
        if default is None:
            default = (
                size,
                channels,
                tvz.IMAGENET_MEAN if channels == 3 else (0.0,),
                tvz.IMAGENET_STD if channels == 3 else (1.0,),
                "none",
            )
        probes = [default]
    errors: list[str] = []
    out: Any = None
    chosen = None
    for probe in probes:
        size, channels = probe[0], probe[1]
        try:
            out = _dummy_forward(net, size, channels, dev)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            errors.append(f"1x{channels}x{size[0]}x{size[1]}: {first}")
            continue
        chosen = probe
        break
    if chosen is None:
        raise CheckpointError(
            f"{name}: the model fails on every input tried ({'; '.join(errors)}). Give it attributes "
            "input_size and channels (TorchScript: or a gmxai.json extra file) saying what it expects"
        )
    size, channels, mean, std, template = chosen
    logits, logits_index, embedding_index = _split_output(out, name)
    num_classes = int(logits.shape[1])
    if mean_attr is not None or std_attr is not None:
        mean = _parse_stats(mean_attr, channels, name, "mean") if mean_attr is not None else (0.0,) * channels
        std = _parse_stats(std_attr, channels, name, "std") if std_attr is not None else (1.0,) * channels
        if any(s <= 0 for s in std):
            raise CheckpointError(f"{name}: std values must be positive, got {std}")
    if template_attr is not None:
        if template_attr not in TEMPLATES:
            raise CheckpointError(
                f"{name}: template must be one of {', '.join(TEMPLATES)}, got {template_attr!r}"
            )
        template = template_attr
    class_names = None
    if names_attr is not None:
        if not isinstance(names_attr, (list, tuple)) or not all(isinstance(n, str) for n in names_attr):
            raise CheckpointError(f"{name}: class_names must be a list of strings")
        class_names = list(names_attr)
    extra: dict[str, Any] = {}
    if size_attr is None and chan_attr is None:
        extra["notes"] = [
            f"input {size[0]}x{size[1]}, {channels} channel{'s' if channels > 1 else ''} guessed by probing; "
            "store input_size/channels/mean/std with the model to make it explicit"
        ]
    cam = tvz.last_conv_layer(net)
    if not cam:
        extra.setdefault("notes", []).append("no Conv2d layer found; CAM methods need a layer chosen by hand")
    return Built(
        arch=arch,
        net=net,
        num_classes=num_classes,
        input_size=size,
        channels=channels,
        mean=tuple(float(m) for m in mean),
        std=tuple(float(s) for s in std),
        template=template,
        cam_layer=cam,
        logits_index=logits_index,
        has_embedding=embedding_index is not None,
        embedding_index=embedding_index,
        class_names=class_names,
        extra=extra,
    )


@torch.no_grad()
def _dummy_forward(net: nn.Module, size: tuple[int, int], channels: int, dev: torch.device) -> Any:
    return net(torch.zeros(1, channels, size[0], size[1], device=dev))


def _split_output(out: Any, name: str) -> tuple[torch.Tensor, int | None, int | None]:
    """Logits (and an embedding, if a tuple carries one) from a forward's output."""
    if isinstance(out, torch.Tensor):
        logits, index, emb = out, None, None
    elif isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        logits, index = out[0], 0
        emb = 1 if len(out) > 1 and isinstance(out[1], torch.Tensor) and out[1].ndim == 2 else None
    else:
        raise CheckpointError(
            f"{name}: the model returns {type(out).__name__}; expected logits (a tensor) "
            "or a tuple (logits, embedding)"
        )
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise CheckpointError(
            f"{name}: the model's output has shape {tuple(logits.shape)}; expected (batch, classes) logits"
        )
    return logits, index, emb


def _parse_size(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    raise CheckpointError(f"{name}: input_size must be an int or (height, width), got {value!r}")


def _parse_channels(value: Any, name: str) -> int:
    if value in (1, 3) and not isinstance(value, bool):
        return int(value)
    raise CheckpointError(f"{name}: channels must be 1 or 3, got {value!r}")


def _parse_stats(value: Any, channels: int, name: str, what: str) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * channels
    if (
        isinstance(value, (list, tuple))
        and len(value) == channels
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return tuple(float(v) for v in value)
    raise CheckpointError(
        f"{name}: {what} must be {channels} number{'s' if channels > 1 else ''}, got {value!r}"
    )
