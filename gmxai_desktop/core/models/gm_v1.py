"""GestaltMatcher v1 / DeepGestalt network (CASIA-WebFace layout), state_dict-compatible upstream.

The module names (``base.N.conv/norm/act``, ``base.13``, ``classifier.0``) reproduce the upstream
checkpoint keys exactly, so real GMDB checkpoints load with ``strict=True``. Upstream reuses one
MaxPool object four times; separate instances keep the state_dict identical and let hooks tell the
four pools apart, which the attribution methods need.
"""

from __future__ import annotations

import torch
from torch import nn

# (index in ``base``, in_channels, out_channels) for the conv-BN-ReLU blocks.
_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (0, 1, 32),
    (1, 32, 64),
    (3, 64, 64),
    (4, 64, 128),
    (6, 128, 96),
    (7, 96, 192),
    (9, 192, 128),
    (10, 128, 256),
    (12, 256, 160),
)
_POOLS = (2, 5, 8, 11)
INPUT_SIZE = (100, 100)
EMBEDDING_DIM = 320
DEFAULT_CAM_LAYER = "base.13"


class ConvBlock(nn.Module):
    """conv3x3 -> BatchNorm -> ReLU, with the submodule names upstream uses."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class GestaltMatcherV1(nn.Module):
    """``forward`` returns ``(logits, representation)`` like upstream; representation is 320-d."""

    def __init__(self, num_classes: int = 139, in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Identity()] * 15
        blocks = {i: (cin, cout) for i, cin, cout in _BLOCKS}
        for i in range(15):
            if i in blocks:
                cin, cout = blocks[i]
                layers[i] = ConvBlock(in_channels if i == 0 else cin, cout)
            elif i in _POOLS:
                layers[i] = nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)
        layers[13] = nn.Conv2d(160, 320, kernel_size=3, padding=1)
        layers[14] = nn.AvgPool2d(7)
        self.base = nn.ModuleList(layers)
        self.dropout = nn.Dropout(0.5)
        self.classifier = nn.ModuleList([nn.Linear(EMBEDDING_DIM, num_classes)])

    @property
    def num_classes(self) -> int:
        return self.classifier[0].out_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.base:
            x = layer(x)
        rep = torch.flatten(x, 1)
        logits = self.classifier[0](self.dropout(rep))
        return logits, rep


def num_classes_from_state_dict(state: dict[str, torch.Tensor]) -> int:
    return int(state["classifier.0.weight"].shape[0])


def looks_like_v1(state: dict[str, torch.Tensor]) -> bool:
    """True if the key set is the upstream v1 layout (used for automatic adapter choice)."""
    return "base.0.conv.weight" in state and "base.13.weight" in state and "classifier.0.weight" in state
