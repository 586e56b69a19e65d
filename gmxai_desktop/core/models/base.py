"""The model adapter contract: everything the rest of the app needs to know about a network.

An adapter wraps one loaded ``nn.Module`` and describes its input (size, channels,
normalisation), its alignment template, where to take CAMs, and how to get logits and, where the
network has one, an embedding. Attribution methods only ever see :attr:`ModelAdapter.logits_module`
(a module that maps a preprocessed batch to logits), so any network fits once wrapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

Template = Literal["gm-v1", "arcface112", "none"]


class LogitsOnly(nn.Module):
    """Expose a network that returns ``(logits, embedding)`` as one that returns logits."""

    def __init__(self, net: nn.Module, index: int | None = 0) -> None:
        super().__init__()
        self.net = net
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.index is None:
            return out
        return out[self.index]


@dataclass
class ModelAdapter:
    """A loaded model plus the facts the engine, face pipeline and GUI need about it.

    ``logits_module`` is the module every attribution method runs on. Its layer names (used for
    CAM layers) are the names inside ``net`` prefixed with ``net.`` when ``net`` is wrapped; use
    :meth:`layer` to resolve a user-facing layer name such as ``base.13``.
    """

    arch: str
    model_id: str
    net: nn.Module
    logits_module: nn.Module
    input_size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    template: Template
    default_cam_layer: str
    class_names: list[str]
    device: torch.device
    has_embedding: bool = False
    embedding_index: int | None = None
    embedding_is_spatial_mean: bool = False
    source: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_name(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else str(index)

    def layer(self, name: str) -> nn.Module:
        """Find a layer by its name in ``net`` (the name users and checkpoints know)."""
        modules = dict(self.net.named_modules())
        if name in modules:
            return modules[name]
        known = ", ".join(n for n, _ in self.net.named_modules() if n)[:400]
        from ..base.errors import ParameterError

        raise ParameterError(f"layer {name!r} not found in {self.arch}; known layers: {known}...")

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """uint8 RGB (H, W, 3) face image -> normalised (1, C, H, W) float tensor on the device.

        Resizing uses PIL bilinear like upstream ``transforms.Resize``; grayscale uses the ITU-R
        601-2 luma transform that PIL's ``convert('L')`` (upstream ``Grayscale``) applies.
        """
        from ..inputs.imageio import to_model_input

        arr = to_model_input(rgb, self.input_size, self.channels)
        x = torch.from_numpy(np.array(arr, copy=True)).float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        x = (x - mean) / std
        return x.unsqueeze(0).to(self.device)

    def display_image(self, x: torch.Tensor) -> np.ndarray:
        """Invert the normalisation of a (1, C, H, W) input: uint8 (H, W, 3) for overlays."""
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        img = (x[0].detach().cpu().float() * std + mean).clamp(0, 1)
        img = (img * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        return np.ascontiguousarray(img)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_module(x.to(self.device))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, embedding or None) for a batch, in one forward pass."""
        out = self.net(x.to(self.device))
        if isinstance(out, (tuple, list)):
            logits = out[0]
            emb = out[self.embedding_index] if self.embedding_index is not None else None
            return logits, emb
        return out, None

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor | None:
        return self.predict(x)[1]
