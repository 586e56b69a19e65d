"""Loading a model from a file into a :class:`ModelAdapter`: the one door every model enters by.

One pass, three steps, one module each:

1. :mod:`.spec` resolves what the user named: a file, a model folder (an ensemble, see
   :mod:`.ensemble`) or a bundled demo name;
2. :mod:`.content` reads the file once, safely: a format sniff, then exactly one restricted
   reader (``torch.load(weights_only=True)``, TorchScript, ONNX, or the allow-listed Arc
   unpickler). Nothing stored in a file runs unless the user passes ``trust_pickle=True``;
3. :mod:`.families` asks each adapter family (v1, torchvision, TorchScript, GestaltMatcher-Arc,
   and the trusted-pickle fallback) to score the content, and the best one builds it.
   :func:`.built.to_adapter` then attaches class names and the file fingerprint.

Class names: ``classes`` if given, else the demo model's file, else ``<checkpoint stem>.classes.txt``
beside the checkpoint, else names stored in the model, else a ``lookup_table.txt`` beside the
checkpoint if its length matches the model, else ``class 0``, ``class 1``, ...
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..base.device import pick_device
from .base import ModelAdapter
from .built import to_adapter
from .checkpoint import file_sha256
from .classes import read_class_names
from .content import read_content
from .families import ARCHITECTURES, build, detect_arch, parse_arch
from .spec import DEMO_MODELS, resolve_spec

__all__ = ["ARCHITECTURES", "DEMO_MODELS", "detect_arch", "load_model", "parse_arch", "read_class_names"]


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
    (attribution methods need gradients with respect to the input, never to weights). A folder is
    an ensemble: this returns its first member; :func:`.ensemble.load_ensemble` returns them all.
    """
    dev = pick_device(device)
    forced = parse_arch(arch)
    resolved = resolve_spec(spec)
    path = resolved.path
    if path.is_dir():
        from .ensemble import load_ensemble

        ens = load_ensemble(path, classes=classes, device=dev, trust_pickle=trust_pickle)
        first = ens.members[0].adapter
        first.extra["ensemble"] = ens  # matching uses every member (analysis.variants.variants_for)
        first.extra["members"] = [m.id for m in ens.members]
        return first
    content = read_content(path, trust_pickle=trust_pickle)
    built = build(content, forced)
    return to_adapter(
        built,
        path,
        file_sha256(path),
        content.format,
        dev,
        classes if classes is not None else resolved.classes,
    )
