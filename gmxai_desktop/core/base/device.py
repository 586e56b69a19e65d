"""Choosing the compute device, with messages that say what to do when the choice is impossible.

``--device cuda`` on a machine without a usable GPU is a common user error (a CPU-only PyTorch
wheel, a missing driver); it must fail at once with a one-line reason, not deep inside a forward
pass.
"""

from __future__ import annotations

import re

import torch

from .errors import GmxaiError

_DEVICE_RE = re.compile(r"^(cpu|cuda|mps)(?::(\d+))?$")


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: the first CUDA GPU if there is one, else the CPU.

    Explicit values: ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` (Apple GPUs; never chosen
    automatically because some operations the attribution methods use fall back or fail there).
    """
    if isinstance(requested, torch.device):
        text = str(requested)
    elif requested is None:
        text = "auto"
    else:
        text = str(requested).strip().lower()
    if text in ("", "auto"):
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")

    match = _DEVICE_RE.match(text)
    if not match:
        raise GmxaiError(f"unknown device {requested!r}; use cpu, cuda, cuda:N (e.g. cuda:1) or mps")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        if index not in (None, "0"):
            raise GmxaiError(f"unknown device {requested!r}; the CPU has no index, use cpu")
        return torch.device("cpu")
    if kind == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise GmxaiError(
                "device mps was requested but Apple's Metal GPU backend is not available; use --device cpu"
            )
        return torch.device("mps")

    if not torch.cuda.is_available():
        if torch.version.cuda is None:
            why = f"this PyTorch build ({torch.__version__}) has no CUDA support"
        else:
            why = f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) found no usable GPU or driver"
        raise GmxaiError(f"device {text} was requested but CUDA is not available: {why}; use --device cpu")
    count = torch.cuda.device_count()
    idx = int(index) if index is not None else 0
    if idx >= count:
        raise GmxaiError(
            f"device {text} was requested but this machine has {count} CUDA GPU"
            f"{'' if count == 1 else 's'} (cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})"
        )
    return torch.device("cuda", idx)


def describe_device(device: torch.device) -> str:
    """Short label for the status bar and reports, e.g. ``CUDA:0 NVIDIA H100 (80 GB)``."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        gib = props.total_memory / 2**30
        return f"CUDA:{idx} {props.name} ({gib:.0f} GB)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"CPU ({threads} thread{'' if threads == 1 else 's'})"
    return str(device)
