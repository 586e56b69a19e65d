"""Attribution methods. Importing this package fills :data:`REGISTRY` with every method."""

from __future__ import annotations

from . import (  # noqa: F401  (imported to register the methods)
    deconvolution,
    deeplift,
    fullgrad,
    gradcam,
    guided_backprop,
    guided_gradcam,
    hirescam,
    integrated_gradients,
    occlusion,
    saliency,
    smoothgrad,
)
from .base import (
    REGISTRY,
    AttributionMethod,
    AttributionResult,
    MethodContext,
    Param,
    get_method,
    register,
    watch_forwards,
)

# The order of the thesis (and of the GUI's method list).
METHOD_ORDER: tuple[str, ...] = (
    "occlusion",
    "deconvolution",
    "saliency",
    "guided_backprop",
    "deeplift",
    "integrated_gradients",
    "smoothgrad",
    "gradcam",
    "guided_gradcam",
    "hirescam",
    "fullgrad",
)


def list_methods() -> list[type[AttributionMethod]]:
    """Every registered method: the thesis order first, then any others by name."""
    known = [REGISTRY[name] for name in METHOD_ORDER if name in REGISTRY]
    extra = [REGISTRY[name] for name in sorted(REGISTRY) if name not in METHOD_ORDER]
    return known + extra


__all__ = [
    "METHOD_ORDER",
    "REGISTRY",
    "AttributionMethod",
    "AttributionResult",
    "MethodContext",
    "Param",
    "get_method",
    "list_methods",
    "register",
    "watch_forwards",
]
