"""Contract for attribution methods: one small class per method, registered by name.

Adding a method means writing one file with one :class:`AttributionMethod` subclass decorated with
:func:`register`, and importing it in ``methods/__init__.py``. The engine, CLI (`gmxai methods`),
GUI parameter editors and manifests all read the class attributes, so nothing else changes.

Output convention (documented for users in the README): every method returns the *raw signed* map
at model input resolution, float32, shape (H, W). Per-channel input attributions are reduced by a
signed **sum over input channels**, which keeps completeness (Integrated Gradients and DeepLIFT
maps still sum to the logit difference to the baseline). CAM maps are upsampled bilinearly from
the layer resolution. No display normalisation is applied here.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ...base.errors import ParameterError
from ...base.jobs import JobControl
from ...models.base import ModelAdapter


@dataclass(frozen=True)
class Param:
    """One user-settable parameter of a method, with a default and a help line for the GUI/CLI."""

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, value: Any) -> Any:
        """Convert (from CLI text or GUI value) and validate; raise :class:`ParameterError`."""
        try:
            if self.kind is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                out: Any = low in {"1", "true", "yes", "on"}
            elif self.kind is str and value is None:
                out = None
            else:
                out = self.kind(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"parameter {self.name}: cannot read {value!r} as {self.kind.__name__}"
            ) from exc
        if isinstance(out, float) and not math.isfinite(out):
            raise ParameterError(f"parameter {self.name}: {value!r} is not a finite number")
        if self.choices is not None and out not in self.choices:
            raise ParameterError(f"parameter {self.name}: {out!r} is not one of {list(self.choices)}")
        if self.minimum is not None and out is not None and out < self.minimum:
            raise ParameterError(f"parameter {self.name}: {out!r} is below the minimum {self.minimum}")
        if self.maximum is not None and out is not None and out > self.maximum:
            raise ParameterError(f"parameter {self.name}: {out!r} is above the maximum {self.maximum}")
        return out


@dataclass
class MethodContext:
    """What a method gets for one image and one target.

    ``shared`` is a per-(image, model) scratch dict the engine keeps across methods, so methods
    that need the same work (the CAM family's activations and gradients at one layer, the
    prediction) compute it once. Keys are namespaced by the method family, e.g. ``"cam:base.13:t5"``.
    """

    adapter: ModelAdapter
    x: torch.Tensor
    target: int
    job: JobControl
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> nn.Module:
        return self.adapter.logits_module


@dataclass
class AttributionResult:
    """One raw map plus the metadata that makes it reproducible and honest to display."""

    method: str
    map: np.ndarray
    params: dict[str, Any]
    target: int
    target_name: str
    model_id: str
    logit: float
    probability: float
    reduction: str
    elapsed_s: float

    def metadata(self) -> dict[str, Any]:
        meta = asdict(self)
        meta.pop("map")
        meta["shape"] = list(self.map.shape)
        meta["min"] = float(np.min(self.map))
        meta["max"] = float(np.max(self.map))
        return meta


@dataclass(frozen=True)
class PassNeeds:
    """What a method reads from the shared gradient pass: CAM layers, FullGrad's bias term, and the
    input gradient (without it the backward pass stops at the earliest CAM layer)."""

    layers: frozenset[str] = frozenset()
    fullgrad: bool = False
    input: bool = False

    def __or__(self, other: PassNeeds) -> PassNeeds:
        return PassNeeds(
            self.layers | other.layers, self.fullgrad or other.fullgrad, self.input or other.input
        )

    def __bool__(self) -> bool:
        return bool(self.layers) or self.fullgrad or self.input

    def covers(self, other: PassNeeds) -> bool:
        return other.layers <= self.layers and (self.fullgrad or not other.fullgrad) and (
            self.input or not other.input
        )


class AttributionMethod(ABC):
    """Base class; subclasses set the class attributes and implement :meth:`attribute`.

    The engine calls only the hooks declared here (never a method's name): :meth:`resolve_params`
    and :meth:`bind_params` before any work, :meth:`pass_needs` to plan the one shared gradient
    pass, :meth:`cost` to weight the progress bar, then :meth:`attribute` once per target. The
    defaults suit a method that needs nothing from the model in advance and costs about one
    forward and backward pass.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    reduction: ClassVar[str] = "signed sum over input channels"
    family: ClassVar[str] = "gradient"  # "gradient" | "perturbation" | "cam"

    @classmethod
    def resolve_params(cls, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with validated overrides; unknown names are a user error."""
        known = {p.name: p for p in cls.params}
        out = {p.name: p.default for p in cls.params}
        for key, value in (overrides or {}).items():
            if key not in known:
                names = ", ".join(known) or "none"
                raise ParameterError(f"{cls.name} has no parameter {key!r} (it has: {names})")
            out[key] = known[key].parse(value)
        return out

    @classmethod
    def bind_params(cls, adapter: ModelAdapter, params: dict[str, Any]) -> dict[str, Any]:
        """Check resolved parameters against the model (and fill model-dependent defaults) before
        any computation, so a bad layer or window fails fast with a user error."""
        return params

    @classmethod
    def pass_needs(cls, params: dict[str, Any]) -> PassNeeds:
        """What this method reads from the shared forward+backward pass (nothing by default)."""
        return PassNeeds()

    @classmethod
    def cost(cls, params: dict[str, Any], input_hw: tuple[int, int]) -> float:
        """Rough cost in forward-pass units (a backward pass counts about two), for the overall
        progress bar of a multi-method run."""
        return 3.0

    @abstractmethod
    def attribute(self, ctx: MethodContext, params: dict[str, Any]) -> torch.Tensor | np.ndarray:
        """Return the raw map, (H, W) or (C, H, W) at input resolution; (C, H, W) is summed."""


REGISTRY: dict[str, type[AttributionMethod]] = {}


def register(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    if cls.name in REGISTRY:
        raise RuntimeError(f"attribution method {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls


def get_method(name: str) -> type[AttributionMethod]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ParameterError(
            f"unknown method {name!r}; available: {', '.join(sorted(REGISTRY))}"
        ) from None


@contextmanager
def watch_forwards(model: nn.Module, job: JobControl, expected: int, label: str) -> Iterator[None]:
    """Check for cancellation and report progress on every forward pass of ``model``.

    Wrapping a library call (captum, our batched loops) in this makes it cancellable within one
    forward pass without the library knowing: the pre-hook raises :class:`Cancelled` mid-call.
    ``expected`` is the number of forward calls the method will make (for the progress bar).
    """
    count = [0]

    def hook(_module: nn.Module, _inputs: Any) -> None:
        job.check()
        count[0] += 1
        job.report(min(count[0] / max(expected, 1), 0.999), label)

    handle = model.register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()
