"""Syndrome-level views wired into the main window: the "Composites" and "Similar patients" tabs.

Uses only the window's extension points (``add_tab``, ``menu``, ``controller``), so the window
needs to know nothing about composites or matching beyond one call in its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QAction

from .composites_view import CompositesView
from .similarity_view import SimilarityView

_ATTR = "_gmxai_syndrome_views"


@dataclass
class SyndromeViews:
    composites: CompositesView
    similarity: SimilarityView
    composites_tab: int
    similarity_tab: int


def install_syndrome_views(window: Any) -> SyndromeViews:
    """Add both tabs and an "Analysis" menu to ``window``; calling it again returns the same views."""
    existing = getattr(window, _ATTR, None)
    if existing is not None:
        return existing
    composites = CompositesView(window.controller)
    similarity = SimilarityView(window.controller)
    views = SyndromeViews(
        composites, similarity,
        window.add_tab(composites, "Composites"),
        window.add_tab(similarity, "Similar patients"),
    )
    menu = window.menu("Analysis")

    def show_composites() -> None:
        window.show_tab(composites)
        composites.compute()

    def show_similar() -> None:
        window.show_tab(similarity)

    act = QAction("Compute syndrome &composites", window)
    act.setToolTip("Average faces and syndrome-wise maps of the open labelled folder")
    act.triggered.connect(show_composites)
    menu.addAction(act)
    act2 = QAction("Find &similar patients", window)
    act2.setToolTip("Rank the open folder's faces by similarity to the current image")
    act2.triggered.connect(show_similar)
    menu.addAction(act2)
    setattr(window, _ATTR, views)
    return views
