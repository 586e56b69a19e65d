"""What the window shows, as plain data: the single source of truth the views render.

Views never hold the truth: they read :class:`ViewState` / :class:`OverlaySettings` and send
intents to the controller, which updates the state and tells the views to re-render (napari's
model/view split). Nothing here imports Qt, so the rules that decide whether a result is still
wanted (:class:`JobKey`) are unit-testable without a display.

A result belongs to exactly one :class:`JobKey` = (image, model, method, resolved parameters,
target, alignment). The controller drops any result whose key is not one the current state
asks for, so a slow job for the previous image can never paint over the current one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Sign modes: (mode, label), in menu order.
SIGN_MODE_LABELS: dict[str, str] = dict((
    ("signed", "Signed (both directions)"),
    ("positive", "Positive only (evidence for the class)"),
    ("negative", "Negative only (evidence against)"),
    ("absolute", "Absolute (magnitude, either sign)"),
))
SIGN_MODES: tuple[str, ...] = tuple(SIGN_MODE_LABELS)
# Alignment modes: (mode, menu label, tooltip), in menu order.
_ALIGN_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("auto", "Automatic",
     "Detect and align faces in photos; small images (up to 128 px) are taken as aligned crops"),
    ("detect", "Always detect the face",
     "Always run the face detector and align to the model's template, even on small images"),
    ("aligned", "Images are aligned crops",
     "Trust that every image already is an aligned face crop; only resize"),
    ("none", "Off (resize only)", "Use the whole image, resized to the model's input; no face detection"),
)
ALIGN_MODES: tuple[str, ...] = tuple(mode for mode, _label, _tip in _ALIGN_CHOICES)
ALIGN_LABELS: dict[str, str] = {mode: label for mode, label, _tip in _ALIGN_CHOICES}
ALIGN_TIPS: dict[str, str] = {mode: tip for mode, _label, tip in _ALIGN_CHOICES}
DEFAULT_METHODS: tuple[str, ...] = ("gradcam", "integrated_gradients", "occlusion", "guided_backprop")

ParamItems = tuple[tuple[str, Any], ...]


def freeze_params(params: dict[str, Any]) -> ParamItems:
    """A hashable, order-independent form of a resolved parameter dict."""
    return tuple(sorted((str(k), v) for k, v in params.items()))


@dataclass(frozen=True)
class PrepareKey:
    """Identifies one image prepared (loaded, aligned, preprocessed, predicted) for one model."""

    image: str
    model_id: str
    align: str


@dataclass(frozen=True)
class JobKey:
    """Identifies one attribution job; equal keys mean interchangeable results."""

    image: str
    model_id: str
    method: str
    params: ParamItems
    target: str
    align: str

    @property
    def prepare_key(self) -> PrepareKey:
        return PrepareKey(self.image, self.model_id, self.align)


@dataclass(frozen=True)
class PanelSpec:
    """One map panel: a method and, for a top-K target, which rank (0 = most probable)."""

    panel_id: str
    method: str
    rank: int


def target_count(target: str) -> int:
    """How many maps one method yields for ``target`` ("top:K" yields K, anything else one)."""
    if target.startswith("top:"):
        try:
            return max(1, int(target[4:]))
        except ValueError:
            return 1
    return 1


def panel_specs(methods: list[str] | tuple[str, ...], target: str) -> list[PanelSpec]:
    k = target_count(target)
    if k == 1:
        return [PanelSpec(m, m, 0) for m in methods]
    return [PanelSpec(f"{m}#{r + 1}", m, r) for m in methods for r in range(k)]


@dataclass(frozen=True)
class OverlaySettings:
    """How raw maps are turned into colours. Raw maps themselves are never changed."""

    sign_mode: str = "signed"
    diverging_cmap: str = "RdBu_r"
    sequential_cmap: str = "inferno"
    opacity: float = 0.7
    fade_weak: bool = True
    shared_scale: bool = False
    clip_percentile: float = 99.5

    @property
    def colormap(self) -> str:
        from .display import colormap_for

        return colormap_for(self.sign_mode, self.diverging_cmap, self.sequential_cmap)


@dataclass
class ViewState:
    """The current selection: which image, which methods with which parameters, which target."""

    image: Path | None = None
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    param_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    target: str = "predicted"
    align: str = "auto"
    overlay: OverlaySettings = field(default_factory=OverlaySettings)

    def resolved_params(self, method: str) -> dict[str, Any]:
        from ..core.attribution.methods import get_method

        return get_method(method).resolve_params(self.param_overrides.get(method))

    def job_key(self, model_id: str, method: str, image: Path | None = None) -> JobKey:
        img = image if image is not None else self.image
        if img is None:
            raise ValueError("no image selected")
        return JobKey(
            image=str(img),
            model_id=model_id,
            method=method,
            params=freeze_params(self.resolved_params(method)),
            target=self.target,
            align=self.align,
        )

    def prepare_key(self, model_id: str, image: Path | None = None) -> PrepareKey:
        img = image if image is not None else self.image
        if img is None:
            raise ValueError("no image selected")
        return PrepareKey(str(img), model_id, self.align)

    def panels(self) -> list[PanelSpec]:
        return panel_specs(self.methods, self.target)


@dataclass(frozen=True)
class ImageStatus:
    """What the browser shows for one image under the current model."""

    predicted: str | None = None
    score: float | None = None
    alignment: str | None = None  # the face pipeline's status word, e.g. "aligned"
    alignment_message: str = ""
    aligned: bool | None = None
    error: str | None = None

    @property
    def known(self) -> bool:
        return self.predicted is not None or self.error is not None
