"""Small networks and adapters for the method, engine and target tests (random init, no files)."""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

from gmxai_desktop.core.models.base import LogitsOnly, ModelAdapter
from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _randomise_bn(model: nn.Module, seed: int, shape: tuple[int, ...]) -> None:
    """BatchNorm statistics measured on random images and random affine parameters.

    A randomly initialised deep net squashes its signal layer by layer, so the logits hardly
    depend on the input and every map is ~0. Calibrated BN keeps each layer's activations at unit
    scale like a trained network; the random bias makes FullGrad's BN terms non-trivial.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
        m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    model.train()
    with torch.no_grad():
        model(torch.rand(8, *shape, generator=g))
    model.eval()


def v1_adapter(num_classes: int = 5, seed: int = 0) -> ModelAdapter:
    torch.manual_seed(seed)
    net = GestaltMatcherV1(num_classes=num_classes).eval()
    _randomise_bn(net, seed, (1, 100, 100))
    return wrap_v1(net, f"test-v1-{seed}", [f"syndrome {chr(65 + i)}" for i in range(num_classes)])


def wrap_v1(net: GestaltMatcherV1, model_id: str, class_names: list[str]) -> ModelAdapter:
    """A GestaltMatcher v1 network as the loader would wrap it (grey 100x100, CAM layer base.13)."""
    return ModelAdapter(
        arch="gestaltmatcher-v1",
        model_id=model_id,
        net=net,
        logits_module=LogitsOnly(net).eval(),
        input_size=(100, 100),
        channels=1,
        mean=(0.0,),
        std=(1.0,),
        template="gm-v1",
        default_cam_layer="base.13",
        class_names=class_names,
        device=torch.device("cpu"),
        has_embedding=True,
        embedding_index=1,
        embedding_is_spatial_mean=True,
    )


def resnet_adapter(
    num_classes: int = 5, size: int = 112, seed: int = 0, arch: str = "resnet18"
) -> ModelAdapter:
    torch.manual_seed(seed)
    net = getattr(torchvision.models, arch)(num_classes=num_classes).eval()
    _randomise_bn(net, seed, (3, size, size))
    return ModelAdapter(
        arch=f"torchvision:{arch}",
        model_id=f"test-{arch}-{seed}",
        net=net,
        logits_module=net,
        input_size=(size, size),
        channels=3,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        template="arcface112",
        default_cam_layer="layer4",
        class_names=[f"class{i}" for i in range(num_classes)],
        device=torch.device("cpu"),
    )


def generic_adapter(net: nn.Module, size: tuple[int, int], channels: int, num_classes: int,
                    cam_layer: str = "") -> ModelAdapter:
    return ModelAdapter(
        arch="test",
        model_id=f"test-{type(net).__name__}",
        net=net,
        logits_module=net,
        input_size=size,
        channels=channels,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        template="none",
        default_cam_layer=cam_layer,
        class_names=[f"c{i}" for i in range(num_classes)],
        device=torch.device("cpu"),
    )


class SmallCnn(nn.Module):
    """A few-millisecond CNN (conv-BN-ReLU, max-pool, GAP head) for the many-forward comparisons."""

    def __init__(self, channels: int = 3, num_classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1),
        )
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def small_adapter(seed: int = 0, size: int = 32) -> ModelAdapter:
    torch.manual_seed(seed)
    net = SmallCnn().eval()
    _randomise_bn(net, seed, (3, size, size))
    adapter = generic_adapter(net, (size, size), 3, 4, cam_layer="features.7")
    adapter.mean, adapter.std = IMAGENET_MEAN, IMAGENET_STD
    return adapter


class LinearNet(nn.Module):
    """f(x) = W·vec(x) + b: every method has a closed form."""

    def __init__(self, channels: int, size: int, num_classes: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.linear = nn.Linear(channels * size * size, num_classes)
        self.linear.weight.data = torch.randn(num_classes, channels * size * size, generator=g)
        self.linear.bias.data = torch.randn(num_classes, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class ConvReluNet(nn.Module):
    """Conv/ReLU/linear only (no max-pool): DeepLIFT's rescale rule is exactly summation-to-delta.

    The ReLU after each conv is one reused, in-place module and the last activation is
    functional, so this also exercises the model surgery.
    """

    def __init__(self, channels: int = 3, num_classes: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = torch.nn.functional.relu(self.conv3(x))
        return self.head(x.mean(dim=(2, 3)))


class DistinctReluNet(nn.Module):
    """:class:`ConvReluNet` written the way captum needs it: one non-inplace ReLU module per call."""

    def __init__(self, source: ConvReluNet) -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3, self.head = source.conv1, source.conv2, source.conv3, source.head
        self.r1, self.r2, self.r3 = nn.ReLU(), nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.r1(self.conv1(x))
        x = self.r2(self.conv2(x))
        x = self.r3(self.conv3(x))
        return self.head(x.mean(dim=(2, 3)))


class _DistinctBasicBlock(nn.Module):
    """torchvision's BasicBlock with its own ReLU per call, none in place (hand-written reference)."""

    def __init__(self, block: BasicBlock) -> None:
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2 = block.conv1, block.bn1, block.conv2, block.bn2
        self.downsample = block.downsample
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu_a(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu_b(out + identity)


class DistinctResNet(nn.Module):
    """A torchvision ResNet-18/34 rebuilt with distinct, non-inplace ReLUs, sharing its weights."""

    def __init__(self, net: torchvision.models.ResNet) -> None:
        super().__init__()
        self.stem = nn.Sequential(net.conv1, net.bn1, nn.ReLU(), net.maxpool)
        self.layers = nn.Sequential(
            *[_DistinctBasicBlock(b) for stage in (net.layer1, net.layer2, net.layer3, net.layer4)
              for b in stage]
        )
        self.fc = net.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class EarlyHeavyNet(nn.Module):
    """Most compute in full-resolution layers, a residual add and a ceil-mode pool before a global
    head: the network shape where windowed occlusion recomputation pays off."""

    def __init__(self, channels: int = 3, num_classes: int = 3) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(channels, 12, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(12)
        self.conv_b = nn.Conv2d(12, 12, 3, padding=1)
        self.relu_a = nn.ReLU()
        self.relu_b = nn.ReLU()
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.conv_c = nn.Conv2d(12, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu_a(self.bn_a(self.conv_a(x)))
        y = self.relu_b(self.conv_b(y) + y)
        y = self.conv_c(self.pool(y))
        return self.fc(y.mean(dim=(2, 3)))
