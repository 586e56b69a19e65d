"""What an adapter family builds, and how that becomes the :class:`ModelAdapter` callers get.

Every family returns a :class:`Built`; :func:`to_adapter` is the single place that moves the net
to its device, checks its weights once more, attaches class names and fingerprints the file, so
that all families describe themselves the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .base import LogitsOnly, ModelAdapter, Template
from .checkpoint import check_finite
from .classes import check_count, default_class_names, read_class_names


@dataclass
class Built:
    """What a family found out about a network; see :class:`ModelAdapter` for the meanings."""

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
    weights_checked: bool = False  # True when the family already refused NaN/Inf weights


def to_adapter(
    built: Built, path: Path, digest: str, fmt_label: str, dev: torch.device, classes: str | Path | None
) -> ModelAdapter:
    """The finished adapter: net in eval mode on ``dev``, class names resolved, file fingerprinted."""
    name = path.name
    net = built.net.to(dev).eval()
    if not built.weights_checked:
        check_finite(list(net.named_parameters()) + list(net.named_buffers()), name)
    class_names, classes_source, notes = class_names_for(built, path, classes)
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


def class_names_for(
    built: Built, ckpt: Path, classes: str | Path | None
) -> tuple[list[str], str | None, list[str]]:
    """(names, where they came from, notes).

    Order: ``classes`` if given, else ``<checkpoint stem>.classes.txt`` beside the checkpoint,
    else names stored in the model, else a ``lookup_table.txt`` beside the checkpoint if its
    length matches the model, else ``class 0``, ``class 1``, ...
    """
    n = built.num_classes
    if classes is not None:
        path = Path(classes).expanduser()
        names = read_class_names(path)
        check_count(names, n, path.name)
        return names, path.name, []
    if n == 0:  # an embedding-only network: nothing to name
        return [], None, []
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
        except Exception as exc:  # CheckpointError: a table that belongs to another model
            return default_class_names(n), None, [f"ignored lookup_table.txt next to the checkpoint: {exc}"]
        return names, table.name, []
    return default_class_names(n), None, []
