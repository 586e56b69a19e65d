"""Family ``torchscript``: a ``torch.jit.save`` archive.

Loading it runs TorchScript, PyTorch's restricted deployment language, not Python pickle code,
so it is allowed by default. Input conventions are probed as for any generic module
(:mod:`.generic`).
"""

from __future__ import annotations

import torch

from ..built import Built
from ..content import TORCHSCRIPT, Content
from .generic import describe_generic

KIND = "torchscript"
LABEL = "torchscript"
FORMATS = (TORCHSCRIPT,)


def detect(content: Content) -> float:
    return 1.0 if content.format == TORCHSCRIPT else 0.0


def build(content: Content, variant: str | None = None, forced: bool = False) -> Built:
    built = describe_generic(content.payload, torch.device("cpu"), content.name, "torchscript", content.meta)
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
