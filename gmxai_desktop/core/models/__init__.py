"""Loading a classifier from a file into a :class:`ModelAdapter`: the one door every model enters by.

Three adapters, picked from the checkpoint itself unless ``arch`` forces one:

``gestaltmatcher-v1``
    Upstream GestaltMatcher v1 / DeepGestalt state_dicts (any class count; 139 for GMDB, 10575
    for the CASIA FaceRecogNet). 100x100 grey input in [0, 1], embedding = spatial mean of
    ``base.13``.
``torchvision:<arch>``
    A state_dict of any torchvision classification architecture, recognised from its exact key
    set and tensor shapes (see :mod:`.torchvision_zoo`). 224x224 RGB with ImageNet normalisation:
    torchvision's convention, which fine-tuning scripts keep. A ViT uses the size it was built for.
``torchscript``
    A ``torch.jit.save`` archive. Loading it runs TorchScript, PyTorch's restricted deployment
    language, not Python pickle code, so it is allowed by default. Input conventions come from
    the module's attributes (``input_size``, ``channels``, ``mean``, ``std``, ``class_names``,
    ``template``) or a ``gmxai.json`` extra file with the same keys; without them the loader
    probes, see :func:`_probe_input`.

Safety: state_dicts are read with ``torch.load(weights_only=True)`` (:mod:`.checkpoint`). A file
holding pickled Python objects (e.g. GestaltMatcher-Arc's ``*_last_model.pth``, a whole pickled
model) is refused unless ``trust_pickle=True``; a trusted whole model is rebuilt with a native
adapter when its weights are recognised, else wrapped as it is (``pickled:<ClassName>``).

Class names: ``classes`` if given, else the demo model's file, else ``<checkpoint stem>.classes.txt``
beside the checkpoint, else names stored in a TorchScript model, else a ``lookup_table.txt`` beside
the checkpoint if its length matches the model, else ``class 0``, ``class 1``, ...
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..base.device import pick_device
from ..base.errors import CheckpointError, ParameterError
from ..base.resources import DEMO_NAMES, demo_model_paths
from . import torchvision_zoo as tvz
from .base import LogitsOnly, ModelAdapter, Template
from .checkpoint import (
    check_file,
    check_finite,
    file_sha256,
    fit_message,
    fit_problems,
    load_into,
    metadata_of,
    read_checkpoint,
    sniff,
    to_float32,
    unwrap,
    with_metadata,
)
from .classes import check_count, default_class_names, read_class_names
from .gm_v1 import DEFAULT_CAM_LAYER as V1_CAM_LAYER
from .gm_v1 import INPUT_SIZE as V1_INPUT_SIZE
from .gm_v1 import GestaltMatcherV1, looks_like_v1

__all__ = [
    "ARCHITECTURES",
    "DEMO_MODELS",
    "detect_arch",
    "load_model",
    "read_class_names",
]

ARCHITECTURES: list[str] = ["gestaltmatcher-v1", "torchvision:<arch>", "torchscript"]
DEMO_MODELS: tuple[str, ...] = DEMO_NAMES
V1 = "gestaltmatcher-v1"

# (input size, channels, mean, std, template) tried in order when a generic module says nothing
# about its input: torchvision's convention, the ArcFace / GestaltMatcher-Arc convention, and the
# GestaltMatcher v1 convention. The first one the network accepts wins; a network that accepts
# any size gets the first.
_PROBES: tuple[tuple[tuple[int, int], int, tuple[float, ...], tuple[float, ...], Template], ...] = (
    ((224, 224), 3, tvz.IMAGENET_MEAN, tvz.IMAGENET_STD, "none"),
    ((112, 112), 3, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "arcface112"),
    ((100, 100), 1, (0.0,), (1.0,), "gm-v1"),
)
_TEMPLATES: tuple[str, ...] = ("gm-v1", "arcface112", "none")


@dataclass
class _Built:
    """What an adapter builder found out; :func:`load_model` turns it into a ModelAdapter."""

    arch: str
    net: nn.Module
    num_classes: int
    input_size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    template: Template
    cam_layer: str
    logits_index: int | None = None
    has_embedding: bool = False
    embedding_index: int | None = None
    embedding_is_spatial_mean: bool = False
    class_names: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_arch(arch: str | None) -> tuple[str, str | None] | None:
    """Validate ``--arch``: None (detect), or (kind, torchvision name or None).

    kind is ``'gestaltmatcher-v1'``, ``'torchvision'`` or ``'torchscript'``.
    """
    if arch is None or not str(arch).strip() or str(arch).strip().lower() == "auto":
        return None
    text = str(arch).strip()
    low = text.lower()
    if low in (V1, "gestaltmatcher_v1", "deepgestalt"):
        return (V1, None)
    if low == "torchscript":
        return ("torchscript", None)
    if low == "torchvision":
        return ("torchvision", None)
    if low.startswith("torchvision:"):
        name = text.split(":", 1)[1].strip()
        if name not in tvz.classification_archs():
            raise ParameterError(
                f"unknown torchvision architecture {name!r}; choices: {', '.join(tvz.classification_archs())}"
            )
        return ("torchvision", name)
    raise ParameterError(
        f"unknown architecture {text!r}; choices: gestaltmatcher-v1, torchvision:<arch> "
        "(e.g. torchvision:resnet50), torchscript"
    )


def load_model(
    spec: str | Path,
    *,
    arch: str | None = None,
    classes: str | Path | None = None,
    device: str | torch.device | None = None,
    trust_pickle: bool = False,
) -> ModelAdapter:
    """Load ``spec`` (a checkpoint path, or ``'demo'`` / ``'demo-imbalanced'``) ready for inference.

    The network is in ``eval()`` mode on ``device``; parameters keep ``requires_grad`` as loaded
    (attribution methods need gradients with respect to the input, never to weights).
    """
    dev = pick_device(device)
    forced = parse_arch(arch)
    path, demo_classes = _resolve_spec(spec)
    check_file(path)
    name = path.name
    fmt = sniff(path)

    if fmt == "torchscript":
        if forced is not None and forced[0] != "torchscript":
            raise CheckpointError(
                f"{name} is a TorchScript archive, not a {forced[0]} state_dict; use --arch torchscript "
                "or leave --arch out"
            )
        built = _build_torchscript(path, dev)
        fmt_label = "torchscript"
    else:
        if forced is not None and forced[0] == "torchscript":
            raise CheckpointError(
                f"{name} is a state_dict checkpoint, not a TorchScript archive; leave --arch out"
            )
        content = unwrap(read_checkpoint(path, trust_pickle=trust_pickle), name)
        if isinstance(content, nn.Module):
            built = _build_from_module(content, forced, name, dev)
            fmt_label = "pickled-module"
        else:
            built = _build_from_state(content, forced, name)
            fmt_label = "state_dict"

    net = built.net.to(dev).eval()
    if fmt_label != "state_dict":  # state_dicts were checked before building
        check_finite(list(net.named_parameters()) + list(net.named_buffers()), name)
    class_names, classes_source, notes = _class_names(
        built, path, classes if classes is not None else demo_classes
    )
    digest = file_sha256(path)
    if built.logits_index is None:
        logits_module: nn.Module = net
    else:
        logits_module = LogitsOnly(net, built.logits_index).eval()
    extra = dict(built.extra)
    extra.update({"sha256": digest, "format": fmt_label, "classes_source": classes_source, "file_name": name})
    if notes:
        extra["notes"] = [*extra.get("notes", []), *notes]
    return ModelAdapter(
        arch=built.arch,
        model_id=f"{built.arch}:{name}:{digest[:12]}",
        net=net,
        logits_module=logits_module,
        input_size=built.input_size,
        channels=built.channels,
        mean=built.mean,
        std=built.std,
        template=built.template,
        default_cam_layer=built.cam_layer,
        class_names=class_names,
        device=dev,
        has_embedding=built.has_embedding,
        embedding_index=built.embedding_index,
        embedding_is_spatial_mean=built.embedding_is_spatial_mean,
        source=str(path),
        extra=extra,
    )


def _resolve_spec(spec: str | Path) -> tuple[Path, Path | None]:
    if isinstance(spec, str) and spec.strip().lower() in DEMO_MODELS:
        demo = spec.strip().lower()
        try:
            ckpt, class_file = demo_model_paths(demo)
        except (FileNotFoundError, LookupError, ValueError):
            raise CheckpointError(f"the {demo} model is not bundled with this installation") from None
        ckpt = Path(ckpt)
        if not ckpt.is_file():
            raise CheckpointError(
                f"the {demo} model is not bundled with this installation (missing {ckpt.name}); "
                "create it with 'gmxai train-demo'"
            )
        return ckpt, Path(class_file) if class_file is not None else None
    return Path(spec).expanduser(), None


# --------------------------------------------------------------------------------------------------
# state_dict adapters


def detect_arch(obj: Any) -> str:
    """``'gestaltmatcher-v1'`` or ``'torchvision:<arch>'`` for a state_dict or module.

    Raises :class:`CheckpointError` when the weights match no known architecture, or several (then
    the user chooses with ``--arch``).
    """
    state = obj.state_dict() if isinstance(obj, nn.Module) else obj
    if looks_like_v1(state):
        return V1
    matches = tvz.detect({k: tuple(v.shape) for k, v in state.items()})
    archs = sorted({v.arch for v, _ in matches})
    if len(archs) == 1:
        return f"torchvision:{archs[0]}"
    if len(archs) > 1:
        raise CheckpointError(
            f"the weights fit several architectures ({', '.join(archs)}); choose one with --arch"
        )
    sample = ", ".join(list(state)[:6])
    raise CheckpointError(
        "the weights match no supported architecture (gestaltmatcher-v1 or a torchvision classifier "
        f"of torchvision {tvz.torchvision.__version__}); first keys: {sample}. For other networks, "
        "export a TorchScript file (torch.jit.trace) and load that"
    )


def _arch_hint(state: dict[str, torch.Tensor], forced: str) -> str:
    try:
        found = detect_arch(state)
    except CheckpointError:
        return ""
    if found == forced:
        return ""
    return f"The weights look like {found}: leave out --arch to load them as that"


def _build_from_state(
    state: dict[str, torch.Tensor], forced: tuple[str, str | None] | None, name: str
) -> _Built:
    state = to_float32(state)
    check_finite(state, name)
    if forced is None:
        kind = detect_arch(state)
        if kind == V1:
            return _build_v1(state, name, hint="")
        return _build_torchvision(state, name, kind.split(":", 1)[1], auto=True)
    if forced[0] == V1:
        return _build_v1(state, name, hint=_arch_hint(state, V1))
    if forced[1] is None:
        kind = detect_arch(state)
        if not kind.startswith("torchvision:"):
            raise CheckpointError(f"{name} is not a torchvision checkpoint; it looks like {kind}")
        return _build_torchvision(state, name, kind.split(":", 1)[1], auto=True)
    return _build_torchvision(state, name, forced[1], auto=False)


def _build_v1(state: dict[str, torch.Tensor], name: str, hint: str) -> _Built:
    head = state.get("classifier.0.weight")
    num_classes = int(head.shape[0]) if head is not None and head.ndim == 2 else 139
    first = state.get("base.0.conv.weight")
    in_ch = int(first.shape[1]) if first is not None and first.ndim == 4 and first.shape[1] in (1, 3) else 1
    with torch.device("meta"):
        net = GestaltMatcherV1(num_classes=num_classes, in_channels=in_ch)
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    missing, unexpected, mismatched = fit_problems(state, expected)
    if missing or unexpected or mismatched:
        raise CheckpointError(fit_message(name, V1, missing, unexpected, mismatched, hint))
    load_into(net, state, name, V1)
    return _Built(
        arch=V1,
        net=net,
        num_classes=num_classes,
        input_size=V1_INPUT_SIZE,
        channels=in_ch,
        mean=(0.0,) * in_ch,
        std=(1.0,) * in_ch,
        template="gm-v1",
        cam_layer=V1_CAM_LAYER,
        logits_index=0,
        has_embedding=True,
        embedding_index=1,
        embedding_is_spatial_mean=True,
    )


def _build_torchvision(state: dict[str, torch.Tensor], name: str, arch: str, auto: bool) -> _Built:
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
            hint = "" if auto else _arch_hint(state, label)
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
    return _Built(
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
    )


# --------------------------------------------------------------------------------------------------
# generic modules: TorchScript archives and trusted pickled models


def _build_torchscript(path: Path, dev: torch.device) -> _Built:
    files = {"gmxai.json": ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated": not for users
            net = torch.jit.load(str(path), map_location=dev, _extra_files=files)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path.name} cannot be loaded as TorchScript ({first})") from None
    meta: dict[str, Any] = {}
    if files.get("gmxai.json"):
        try:
            meta = json.loads(files["gmxai.json"])
        except (ValueError, TypeError):
            raise CheckpointError(f"{path.name}: its gmxai.json metadata is not valid JSON") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"{path.name}: its gmxai.json metadata must be a JSON object")
    built = _describe_generic(net, dev, path.name, "torchscript", meta)
    # PyTorch cannot hook a layer inside compiled code ("register_forward_hook is not supported on
    # ScriptModules"), so no layer can serve the CAM family; gradient and perturbation methods work.
    built.extra["last_conv_layer"] = built.cam_layer
    built.extra["layer_hooks"] = False
    built.cam_layer = ""
    notes = [n for n in built.extra.get("notes", []) if not n.startswith("no Conv2d")]
    built.extra["notes"] = [
        *notes,
        "TorchScript model: layers cannot be hooked, so CAM methods are unavailable",
    ]
    return built


def _build_from_module(
    module: nn.Module, forced: tuple[str, str | None] | None, name: str, dev: torch.device
) -> _Built:
    """A trusted, fully unpickled model: native adapter if its weights are recognised, else as is."""
    full = module.state_dict()
    state = with_metadata({k: v for k, v in full.items() if isinstance(v, torch.Tensor)}, metadata_of(full))
    if forced is not None or _recognised(state):
        return _build_from_state(state, forced, name)
    return _describe_generic(module, dev, name, f"pickled:{type(module).__name__}", {})


def _recognised(state: dict[str, torch.Tensor]) -> bool:
    try:
        detect_arch(state)
    except CheckpointError:
        return False
    return True


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


def _describe_generic(
    net: nn.Module, dev: torch.device, name: str, arch: str, meta: dict[str, Any]
) -> _Built:
    net = net.to(dev).eval()
    size_attr = _attr(net, meta, "input_size")
    chan_attr = _attr(net, meta, "channels")
    mean_attr = _attr(net, meta, "mean")
    std_attr = _attr(net, meta, "std")
    names_attr = _attr(net, meta, "class_names")
    template_attr = _attr(net, meta, "template")

    if size_attr is None and chan_attr is None:
        probes = list(_PROBES)
    else:
        size = _parse_size(size_attr, name) if size_attr is not None else (224, 224)
        channels = _parse_channels(chan_attr, name) if chan_attr is not None else 3
        default = next((p for p in _PROBES if p[1] == channels and p[0] == size), None)
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
        if template_attr not in _TEMPLATES:
            raise CheckpointError(
                f"{name}: template must be one of {', '.join(_TEMPLATES)}, got {template_attr!r}"
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
    return _Built(
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


# --------------------------------------------------------------------------------------------------
# class names


def _class_names(
    built: _Built, ckpt: Path, classes: str | Path | None
) -> tuple[list[str], str | None, list[str]]:
    """(names, where they came from, notes); see the module docstring for the order."""
    n = built.num_classes
    if classes is not None:
        path = Path(classes).expanduser()
        names = read_class_names(path)
        check_count(names, n, path.name)
        return names, path.name, []
    sibling = ckpt.with_name(f"{ckpt.stem}.classes.txt")
    if sibling.is_file():
        names = read_class_names(sibling)
        check_count(names, n, sibling.name)
        return names, sibling.name, []
    if built.class_names is not None:
        check_count(built.class_names, n, f"the class_names stored in {ckpt.name}")
        return built.class_names, "model", []
    table = ckpt.with_name("lookup_table.txt")
    if table.is_file():
        try:
            names = read_class_names(table)
            check_count(names, n, table.name)
        except CheckpointError as exc:
            return default_class_names(n), None, [f"ignored lookup_table.txt next to the checkpoint: {exc}"]
        return names, table.name, []
    return default_class_names(n), None, []
