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
    return Path(__file__).resolve().parents[2] / "resources"
