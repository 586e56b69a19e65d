"""Recognising a state_dict by its keys and shapes, shared by the v1 and torchvision families."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...base.errors import CheckpointError
from .. import torchvision_zoo as tvz
from ..gm_v1 import looks_like_v1

V1 = "gestaltmatcher-v1"


def detect_arch(obj: Any) -> str:
    """``'gestaltmatcher-v1'`` or ``'torchvision:<arch>'`` for a state_dict or module.

    Raises :class:`CheckpointError` when the weights match no known architecture, or several (then
    the user chooses with ``--arch``).
    """
    state = obj.state_dict() if isinstance(obj, nn.Module) else obj
    if looks_like_v1(state):
        return V1
    archs = torchvision_matches(state)
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


def torchvision_matches(state: dict[str, torch.Tensor]) -> list[str]:
    matches = tvz.detect({k: tuple(v.shape) for k, v in state.items()})
    return sorted({v.arch for v, _ in matches})


def arch_hint(state: dict[str, torch.Tensor], forced: str) -> str:
    """A hint for a forced ``--arch`` that does not fit, when the weights fit something else."""
    try:
        found = detect_arch(state)
    except CheckpointError:
        return ""
    if found == forced:
        return ""
    return f"The weights look like {found}: leave out --arch to load them as that"
