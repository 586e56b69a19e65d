"""Shared tiny model and labelled image folder for the composite / similarity / comparison tests.

The model is a random-init GestaltMatcher v1 (the real architecture, so ``base.13`` and the
mean-pooled embedding are exercised) whose BatchNorm statistics are calibrated on images like the
test images, and whose classifier is centred on their mean embedding: without that, a random
network maps every input to nearly the same embedding and predicts one class for everything,
which would make the ranking and only-correct tests too weak to catch mistakes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from nets import wrap_v1
from PIL import Image

from gmxai_desktop.core.models.base import ModelAdapter
from gmxai_desktop.core.models.gm_v1 import GestaltMatcherV1

CLASSES = ["alpha", "beta", "gamma"]


def smooth_face(rng: np.random.Generator, cls: int, size: int = 100) -> np.ndarray:
    """A smooth random RGB image with a class-dependent bright patch (uint8, size x size x 3)."""
    low = torch.tensor(rng.random((3, 6, 6)), dtype=torch.float32)[None]
    img = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)[0]
    img = img.clamp(0, 1).permute(1, 2, 0).numpy() * 0.7
    r0 = 15 + 25 * cls
    img[r0:r0 + 20, 30:70, :] += 0.3
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def write_folder(root: Path, per_class: tuple[int, ...] = (4, 3, 5), seed: int = 0) -> dict[Path, str]:
    """root/<class>/img<i>.png; returns {path: label}."""
    rng = np.random.default_rng(seed)
    labels: dict[Path, str] = {}
    for c, n in enumerate(per_class):
        d = root / CLASSES[c]
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            p = d / f"img{i}.png"
            Image.fromarray(smooth_face(rng, c)).save(p)
            labels[p] = CLASSES[c]
    return labels


@functools.lru_cache(maxsize=4)
def make_net(seed: int = 0) -> GestaltMatcherV1:
    """Cached per seed: building one costs a calibration pass, and no test changes the weights."""
    torch.manual_seed(seed)
    net = GestaltMatcherV1(num_classes=len(CLASSES))
    rng = np.random.default_rng(1000 + seed)
    batch = np.stack([smooth_face(rng, i % 3) for i in range(24)])
    gray = torch.tensor(batch, dtype=torch.float32).mean(-1, keepdim=True).permute(0, 3, 1, 2) / 255
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batch
    net.train()
    with torch.no_grad():
        net(gray)
    net.eval()
    with torch.no_grad():
        _, emb = net(gray)
        centre = emb.mean(0)
        lin = net.classifier[0]
        lin.weight.mul_(20.0)
        lin.bias.copy_(-(lin.weight @ centre))
    return net


def make_adapter(net: GestaltMatcherV1 | None = None, model_id: str = "tiny-v1") -> ModelAdapter:
    return wrap_v1((net or make_net()).eval(), model_id, list(CLASSES))


def save_checkpoint(net: GestaltMatcherV1, directory: Path) -> tuple[Path, Path]:
    """state_dict checkpoint + class-name file, as a user would pass them to the CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    ckpt = directory / "tiny_v1.pt"
    torch.save(net.state_dict(), ckpt)
    classes = directory / "classes.txt"
    classes.write_text("\n".join(CLASSES) + "\n")
    return ckpt, classes
