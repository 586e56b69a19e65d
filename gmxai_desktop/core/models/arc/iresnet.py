"""The insightface iResNet topology (ArcFace backbones), used to build fixtures and benchmarks.

GestaltMatcher-Arc ships its networks as ONNX exports and onnx2torch-converted pickles, never as
this class; gmxai rebuilds those files from their own graph (see :mod:`.graph`). This module
exists so that tests can create a faithful tiny network of the same layout (export it to ONNX,
convert it exactly as upstream does) and so that the benchmarks time the real r50/r100
topologies with random weights. Module names follow insightface's ``iresnet.py`` so that an
insightface state_dict would load.
"""

from __future__ import annotations

import torch
from torch import nn

DEPTHS: dict[str, tuple[int, int, int, int]] = {
    "r18": (2, 2, 2, 2),
    "r34": (3, 4, 6, 3),
    "r50": (3, 4, 14, 3),
    "r100": (3, 13, 30, 3),
}


class IBasicBlock(nn.Module):
    """Pre-activation block: BN -> conv3x3 -> BN -> PReLU -> conv3x3(stride) -> BN (+ shortcut)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-05)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-05)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-05)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


class IResNet(nn.Module):
    """112x112 RGB -> 512-d embedding (insightface layout; ``fp16`` and dropout>0 left out)."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = DEPTHS["r50"],
        num_features: int = 512,
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-05)
        self.prelu = nn.PReLU(64)
        self.layer1 = self._make_layer(widths[0], layers[0], 2)
        self.layer2 = self._make_layer(widths[1], layers[1], 2)
        self.layer3 = self._make_layer(widths[2], layers[2], 2)
        self.layer4 = self._make_layer(widths[3], layers[3], 2)
        self.bn2 = nn.BatchNorm2d(widths[3], eps=1e-05)
        self.dropout = nn.Dropout(p=0.0)
        self.fc = nn.Linear(widths[3] * 7 * 7, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-05)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes, eps=1e-05)
            )
        layers = [IBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.dropout(self.bn2(x)), 1)
        return self.features(self.fc(x))


def iresnet(name: str = "r50", **kwargs: object) -> IResNet:
    """``iresnet('r100')``: the topology by insightface's name."""
    return IResNet(DEPTHS[name], **kwargs)  # type: ignore[arg-type]
