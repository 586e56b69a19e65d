"""Locate the bundled ``resources/`` folder (demo models, demo images, class names).

The folder sits at the repository root next to the package (the layout the quick start's
editable install uses). ``GMXAI_RESOURCES`` overrides it, e.g. for a packaged app.
"""

from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    env = os.environ.get("GMXAI_RESOURCES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "resources"


DEMO_NAMES: tuple[str, ...] = ("demo", "demo-imbalanced")
"""Names ``--model`` accepts for the bundled demo models."""


def demo_model_paths(name: str = "demo") -> tuple[Path, Path]:
    """(checkpoint, class-names file) of a bundled demo model; the files may be absent.

    Lives here, not in ``core.demo``, so that model loading can resolve ``--model demo`` without
    importing the demo package (which itself builds on ``core.models``).
    """
    if name not in DEMO_NAMES:
        raise ValueError(f"unknown demo model {name!r}; choose one of: {', '.join(DEMO_NAMES)}")
    models = resources_dir() / "models"
    return models / f"{name}.pt", models / f"{name}.classes.txt"
