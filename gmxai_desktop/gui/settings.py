"""Persistent settings: window layout, overlay choices, methods, parameters, recent models.

Stored as an ini file in ``platformdirs.user_config_dir("gmxai-desktop")``; ``GMXAI_CONFIG_DIR``
overrides the folder (tests use a temporary one so they never touch a user's settings). Only
settings are stored here: no image, no patient file name except the last folder and the recent
model paths the user opened, which the app needs to offer them again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from .state import OverlaySettings

MAX_RECENT = 8


def config_dir() -> Path:
    env = os.environ.get("GMXAI_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("gmxai-desktop", appauthor=False))


class Settings:
    """Typed access over a QSettings ini file; every getter tolerates missing or corrupt values."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or (config_dir() / "gmxai-desktop.ini")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.q = QSettings(str(self.path), QSettings.Format.IniFormat)

    def sync(self) -> None:
        self.q.sync()

    # ---- generic JSON values ------------------------------------------------------------------
    def value(self, key: str, default: Any = None) -> Any:
        """A feature's own setting (use a ``feature/name`` key), as QSettings stores it."""
        return self.q.value(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self.q.setValue(key, value)

    def _get_json(self, key: str, default: Any) -> Any:
        raw = self.q.value(key)
        if raw is None:
            return default
        try:
            return json.loads(str(raw))
        except (TypeError, ValueError):
            return default

    def _set_json(self, key: str, value: Any) -> None:
        self.q.setValue(key, json.dumps(value))

    # ---- window -------------------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geo, state = self.q.value("window/geometry"), self.q.value("window/state")
        return (
            geo if isinstance(geo, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    # ---- analysis choices ---------------------------------------------------------------------
    def overlay(self) -> OverlaySettings:
        data = self._get_json("view/overlay", {})
        if not isinstance(data, dict):
            return OverlaySettings()
        known = {f.name for f in fields(OverlaySettings)}
        defaults = OverlaySettings()
        clean: dict[str, Any] = {}
        for k, v in data.items():
            if k in known and isinstance(v, type(getattr(defaults, k))):
                clean[k] = v
        try:
            return OverlaySettings(**clean)
        except TypeError:
            return OverlaySettings()

    def save_overlay(self, overlay: OverlaySettings) -> None:
        self._set_json("view/overlay", asdict(overlay))

    def methods(self) -> list[str] | None:
        value = self._get_json("analysis/methods", None)
        return [str(m) for m in value] if isinstance(value, list) else None

    def save_methods(self, methods: list[str]) -> None:
        self._set_json("analysis/methods", list(methods))

    def params(self) -> dict[str, dict[str, Any]]:
        value = self._get_json("analysis/params", {})
        if not isinstance(value, dict):
            return {}
        return {str(k): dict(v) for k, v in value.items() if isinstance(v, dict)}

    def save_params(self, params: dict[str, dict[str, Any]]) -> None:
        self._set_json("analysis/params", params)

    def target(self) -> str:
        return str(self.q.value("analysis/target", "predicted"))

    def save_target(self, target: str) -> None:
        self.q.setValue("analysis/target", target)

    def align(self) -> str:
        return str(self.q.value("analysis/align", "auto"))

    def save_align(self, align: str) -> None:
        self.q.setValue("analysis/align", align)

    # ---- recent models and folders ------------------------------------------------------------
    def recent_models(self) -> list[dict[str, Any]]:
        value = self._get_json("recent/models", [])
        if not isinstance(value, list):
            return []
        return [v for v in value if isinstance(v, dict) and isinstance(v.get("spec"), str)]

    def add_recent_model(self, entry: dict[str, Any]) -> None:
        items = [e for e in self.recent_models() if e.get("spec") != entry.get("spec")]
        self._set_json("recent/models", [entry, *items][:MAX_RECENT])

    def clear_recent_models(self) -> None:
        self._set_json("recent/models", [])

    def last_folder(self) -> str:
        return str(self.q.value("recent/folder", ""))

    def save_last_folder(self, folder: str) -> None:
        self.q.setValue("recent/folder", folder)
