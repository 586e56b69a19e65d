"""The bundled demo: synthetic phenotype faces and GestaltMatcher-v1 models trained on them.

Everything here runs offline. ``resources/models/demo.pt`` (balanced training data) and
``resources/models/demo-imbalanced.pt`` (GMDB-like long tail) are plain upstream-format v1
state_dicts; ``<name>.classes.txt`` holds their class names and ``<name>.json`` how they were
made and how well they do. ``resources/demo/`` holds held-out faces with labels and
ground-truth masks, drawn with a seed used for neither training nor the accuracy in the json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..base.resources import DEMO_NAMES, demo_model_paths, resources_dir
from .classes import CLASS_BY_NAME, CLASS_NAMES, DEMO_CLASSES, UNAFFECTED, DemoClass

if TYPE_CHECKING:  # torch: loaded only when a demo model is
    from ..models.base import ModelAdapter

DEMO_IMAGES_SEED = 20240601
"""Seed of the bundled held-out faces in resources/demo (training uses 0, evaluation 1)."""

__all__ = [
    "CLASS_BY_NAME",
    "CLASS_NAMES",
    "DEMO_CLASSES",
    "DEMO_IMAGES_SEED",
    "DEMO_NAMES",
    "UNAFFECTED",
    "DemoBundle",
    "DemoClass",
    "demo_data_dir",
    "demo_model_paths",
    "load_demo",
]


def demo_data_dir() -> Path:
    return resources_dir() / "demo"


@dataclass
class DemoBundle:
    adapter: ModelAdapter
    class_names: list[str]
    images_dir: Path
    labels_csv: Path
    masks_dir: Path


def load_demo(name: str = "demo", device: str | None = None) -> DemoBundle:
    """The demo model ready for inference, with the bundled held-out faces, labels and masks."""
    from ..base.errors import CheckpointError
    from ..models import load_model

    if name not in DEMO_NAMES:
        raise CheckpointError(f"unknown demo model {name!r}; choose one of: {', '.join(DEMO_NAMES)}")
    adapter = load_model(name, device=device)
    data = demo_data_dir()
    return DemoBundle(
        adapter=adapter,
        class_names=list(adapter.class_names),
        images_dir=data / "images",
        labels_csv=data / "labels.csv",
        masks_dir=data / "masks",
    )
