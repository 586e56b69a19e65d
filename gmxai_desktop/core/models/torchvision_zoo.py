"""torchvision classification architectures: recognise them from a state_dict and build them.

Recognition compares the checkpoint's exact key set and tensor shapes with every torchvision
classification architecture, the classifier head's output size excepted (that is the class
count). Building all ~80 architectures takes several seconds, so a table of signature hashes
generated from the installed torchvision ships in :mod:`._tv_signatures`; when torchvision's
version differs from the table's, signatures are computed on the fly instead (slower, same
answer). A match is only a candidate: the model is then built and loaded with strict key and
shape checks.

Models are built with parameters on PyTorch's ``meta`` device and then take the checkpoint's
tensors (``load_state_dict(assign=True)``), which skips random initialisation: loading a large
network costs its file read, not its init.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch
import torchvision
from torch import nn
from torch.overrides import TorchFunctionMode
from torchvision import models as tvm

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = (224, 224)

_SENTINEL_CLASSES = 9973
"""A prime no architecture uses as a layer width: the keys whose first dimension equals it are the
classifier head (usually ``<head>.weight`` and ``<head>.bias``)."""

# torchvision builder module -> default CAM layer. The last block whose output is a spatial
# (N, C, H, W) feature map before global pooling; "" where the network has none (ViT tokens).
_CAM_LAYER_BY_FAMILY: dict[str, str] = {
    "resnet": "layer4",
    "densenet": "features",
    "mobilenetv2": "features",
    "mobilenetv3": "features",
    "efficientnet": "features",
    "convnext": "features",
    "regnet": "trunk_output",
    "mnasnet": "layers",
    "shufflenetv2": "conv5",
    "squeezenet": "features",
    "googlenet": "inception5b",
    "inception": "Mixed_7c",
    "swin_transformer": "permute",  # "features" is channels-last; "permute" gives (N, C, H, W)
    "vision_transformer": "",
}


@dataclass(frozen=True)
class Variant:
    """One way to build an architecture; some torchvision builders have options that change keys."""

    arch: str
    kwargs: tuple[tuple[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    def build_kwargs(self) -> dict[str, Any]:
        return dict(self.kwargs)

    @property
    def label(self) -> str:
        if not self.kwargs:
            return self.arch
        return self.arch + "(" + ", ".join(f"{k}={v}" for k, v in self.kwargs) + ")"


@lru_cache(maxsize=1)
def classification_archs() -> tuple[str, ...]:
    """All classification architecture names torchvision offers (``--arch torchvision:<name>``)."""
    return tuple(sorted(tvm.list_models(module=tvm)))


def variants(arch: str) -> list[Variant]:
    """Build options for ``arch``. GoogLeNet and Inception v3 come with or without auxiliary heads.

    Their ``transform_input`` flag is not stored in a state_dict. torchvision turns it on when a
    model is built from its ImageNet weights, which is how fine-tuned models usually start, so it
    is on here too (the input is ImageNet-normalised either way; see torchvision's docs).
    """
    if arch in ("googlenet", "inception_v3"):
        note = (
            "transform_input=True (as torchvision sets it for models fine-tuned from its ImageNet "
            "weights; not recorded in a state_dict)",
        )
        base = (("init_weights", False), ("transform_input", True))
        return [
            Variant(arch, (("aux_logits", True), *base), note),
            Variant(arch, (("aux_logits", False), *base), note),
        ]
    return [Variant(arch)]


class _EmptyOnMeta(TorchFunctionMode):
    """Create ``torch.empty`` tensors (the storage of every parameter) on the meta device.

    Used for builders that compute with tensors while constructing (RegNet derives its widths
    with ``torch.pow``), which the plain ``torch.device('meta')`` context cannot run.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = dict(kwargs or {})
        if func is torch.empty:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def _build_lazy(variant: Variant, num_classes: int) -> nn.Module:
    """The architecture with (most) parameters on the meta device: shapes only, no memory, no init."""
    kwargs = variant.build_kwargs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GoogLeNet/Inception init warnings; irrelevant here
        try:
            with torch.device("meta"):
                return tvm.get_model(variant.arch, weights=None, num_classes=num_classes, **kwargs)
        except (NotImplementedError, RuntimeError):
            with _EmptyOnMeta():
                return tvm.get_model(variant.arch, weights=None, num_classes=num_classes, **kwargs)


def signature_of(shapes: Mapping[str, tuple[int, ...]], head_keys: tuple[str, ...]) -> str:
    """Hash of the key set and shapes with the head's first dimension left out."""
    head = set(head_keys)
    parts = []
    for key in sorted(shapes):
        shape = tuple(shapes[key])
        if key in head and shape:
            shape = (-1, *shape[1:])
        parts.append(f"{key}:{shape}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def compute_signature(variant: Variant) -> tuple[int, tuple[str, ...], str]:
    """(number of state_dict entries, head keys, signature hash) of one variant."""
    model = _build_lazy(variant, _SENTINEL_CLASSES)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    head = tuple(k for k, s in shapes.items() if s and s[0] == _SENTINEL_CLASSES)
    return len(shapes), head, signature_of(shapes, head)


def generate_signature_table() -> dict[str, Any]:
    """Recompute the shipped table (``python -m gmxai_desktop.core.models.torchvision_zoo``)."""
    entries = []
    for arch in classification_archs():
        for v in variants(arch):
            n, head, sig = compute_signature(v)
            entries.append((v.arch, v.kwargs, n, head, sig))
    return {"torchvision_version": torchvision.__version__.split("+")[0], "entries": entries}


_table_lock = threading.Lock()
_live_table: list[tuple[Variant, int, tuple[str, ...], str]] | None = None


def _signature_table() -> list[tuple[Variant, int, tuple[str, ...], str]]:
    global _live_table
    with _table_lock:
        if _live_table is None:
            from . import _tv_signatures as shipped

            if torchvision.__version__.split("+")[0] == shipped.TORCHVISION_VERSION:
                table = [
                    (Variant(a, tuple(kw), next(iter(variants(a))).notes), n, tuple(h), s)
                    for a, kw, n, h, s in shipped.ENTRIES
                ]
            else:
                table = []
                for arch in classification_archs():
                    for v in variants(arch):
                        try:
                            n, head, sig = compute_signature(v)
                        except Exception:  # an architecture this torchvision cannot build lazily
                            continue
                        table.append((v, n, head, sig))
            _live_table = table
        return _live_table


def detect(shapes: Mapping[str, tuple[int, ...]]) -> list[tuple[Variant, int]]:
    """Variants whose signature equals the checkpoint's, each with the class count it implies."""
    found: list[tuple[Variant, int]] = []
    for variant, n, head, sig in _signature_table():
        if n != len(shapes) or not all(k in shapes for k in head):
            continue
        heads = {shapes[k][0] for k in head if len(shapes[k]) > 0}
        if len(heads) != 1:
            continue
        if signature_of(shapes, head) == sig:
            found.append((variant, heads.pop()))
    return found


def head_keys(variant: Variant) -> tuple[str, ...]:
    for v, _n, head, _sig in _signature_table():
        if v == variant:
            return head
    return compute_signature(variant)[1]


def build(variant: Variant, num_classes: int) -> nn.Module:
    """An architecture ready to receive a full state_dict via ``load_state_dict(assign=True)``."""
    return _build_lazy(variant, num_classes)


def has_meta_tensors(model: nn.Module) -> bool:
    return any(t.is_meta for t in _tensors(model))


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


def default_cam_layer(arch: str, model: nn.Module) -> str:
    """The layer Grad-CAM and friends use unless the user picks another."""
    family = tvm.get_model_builder(arch).__module__.rsplit(".", 1)[-1]
    if family in ("vgg", "alexnet"):
        # The rectified output of the last conv layer, the layer Selvaraju et al. used for VGG.
        features = model.features  # type: ignore[attr-defined]
        relus = [name for name, m in features.named_children() if isinstance(m, nn.ReLU)]
        return f"features.{relus[-1]}"
    if family == "maxvit":
        # ``blocks`` is a ModuleList (never called itself, so it cannot be hooked): take its last stage.
        return f"blocks.{len(model.blocks) - 1}"  # type: ignore[attr-defined]
    if family in _CAM_LAYER_BY_FAMILY:
        return _CAM_LAYER_BY_FAMILY[family]
    return last_conv_layer(model)


def last_conv_layer(model: nn.Module) -> str:
    """Name of the last Conv2d in registration order ("" if none); works for scripted modules."""
    last = ""
    for name, module in model.named_modules():
        kind = getattr(module, "original_name", type(module).__name__)
        if name and (isinstance(module, nn.Conv2d) or kind == "Conv2d"):
            last = name
    return last


def input_size_for(model: nn.Module) -> tuple[int, int]:
    """224x224 (the size torchvision's classifiers are trained at), or the size a ViT is built for."""
    size = getattr(model, "image_size", None)
    if isinstance(size, int) and size > 0:
        return (size, size)
    return DEFAULT_INPUT_SIZE


def _write_table(path: str) -> None:
    import pprint

    table = generate_signature_table()
    header = (
        '"""Generated by ``python -m gmxai_desktop.core.models.torchvision_zoo``; do not edit.\n\n'
        "(arch, build kwargs, number of state_dict entries, head keys, signature hash) for every\n"
        "torchvision classification architecture, used to recognise checkpoints without building\n"
        'all of them.\n"""\n\n'
    )
    body = f"TORCHVISION_VERSION = {table['torchvision_version']!r}\n\nENTRIES = " + pprint.pformat(
        table["entries"], width=100
    )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + body + "\n")


if __name__ == "__main__":
    import pathlib

    _write_table(str(pathlib.Path(__file__).with_name("_tv_signatures.py")))
