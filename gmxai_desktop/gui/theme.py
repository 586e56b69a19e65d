"""Status colours that stay readable on light and dark palettes.

Rich-text labels say "aligned" in green and "cannot be used" in red. The dark shades that read
well on a light window (#2e7d32, #c62828) nearly vanish on a dark one, so a dark palette (window
colour lightness under one half) gets the light shades of the same hues.
"""

from __future__ import annotations

from PySide6.QtGui import QPalette

_SHADES = {  # name: (on a light window, on a dark window)
    "ok": ("#2e7d32", "#81c784"),
    "warn": ("#e65100", "#ffb74d"),
    "error": ("#c62828", "#ef9a9a"),
}


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5


def status_color(name: str, palette: QPalette) -> str:
    """Hex colour for ``name`` ("ok", "warn", "error") with contrast against ``palette``'s window."""
    light, dark = _SHADES[name]
    return dark if is_dark(palette) else light
