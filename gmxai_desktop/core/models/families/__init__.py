"""Step 3 of loading: a registry of adapter families, one module each.

Each family module has ``KIND`` (what ``--arch`` names), ``LABEL`` (shown in ``ARCHITECTURES``;
empty for a fallback), ``FORMATS`` (the :mod:`..content` formats it builds from),
``detect(content) -> score`` (0 = not mine, 1 = certainly mine) and
``build(content, variant, forced) -> Built``. A new family is one module plus one line here.
"""

from __future__ import annotations

from types import ModuleType

from ...base.errors import CheckpointError, ParameterError
from .. import torchvision_zoo as tvz
from ..built import Built
from ..content import MODULE, STATE_DICT, TORCHSCRIPT, Content
from . import arc, generic, torchscript, torchvision, v1
from .statedict import detect_arch

FAMILIES: tuple[ModuleType, ...] = (v1, torchvision, torchscript, arc, generic)
ARCHITECTURES: list[str] = [f.LABEL for f in FAMILIES if f.LABEL]
_ALIASES = {
    "gestaltmatcher_v1": v1.KIND,
    "deepgestalt": v1.KIND,
    "arc": arc.KIND,
    "gestaltmatcher_arc": arc.KIND,
}
_FORMAT_WORDS = {
    STATE_DICT: "a state_dict checkpoint",
    MODULE: "a pickled model",
    TORCHSCRIPT: "a TorchScript archive",
    "onnx": "an ONNX model",
    "arc-pickle": "a GestaltMatcher-Arc model",
}


def parse_arch(arch: str | None) -> tuple[str, str | None] | None:
    """Validate ``--arch``: None (detect), or (family kind, torchvision name or None)."""
    if arch is None or not str(arch).strip() or str(arch).strip().lower() == "auto":
        return None
    text = str(arch).strip()
    low = _ALIASES.get(text.lower(), text.lower())
    for family in FAMILIES:
        if family.LABEL and low == family.KIND:
            return (family.KIND, None)
    if low.startswith("torchvision:"):
        name = text.split(":", 1)[1].strip()
        if name not in tvz.classification_archs():
            raise ParameterError(
                f"unknown torchvision architecture {name!r}; choices: {', '.join(tvz.classification_archs())}"
            )
        return ("torchvision", name)
    raise ParameterError(
        f"unknown architecture {text!r}; choices: gestaltmatcher-v1, torchvision:<arch> "
        "(e.g. torchvision:resnet50), torchscript, gestaltmatcher-arc"
    )


def _best_family(content: Content) -> tuple[float, ModuleType]:
    """The highest-scoring family, asked in registry order; a certain answer (1.0) ends the search.

    Families are listed cheapest-exact first: the v1 check is a key comparison, while the
    torchvision one may build every torchvision architecture to compare signatures (seconds, when
    the installed torchvision differs from the shipped table), which a v1 checkpoint never needs.
    """
    best: tuple[float, ModuleType] | None = None
    for family in FAMILIES:
        score = family.detect(content)
        if best is None or score > best[0]:
            best = (score, family)
        if score >= 1.0:
            break
    assert best is not None
    return best


def build(content: Content, forced: tuple[str, str | None] | None) -> Built:
    """The best-scoring family builds ``content``; a forced one must accept its format."""
    if forced is not None:
        family = next(f for f in FAMILIES if forced[0] == f.KIND)
        if content.format not in family.FORMATS:
            what = _FORMAT_WORDS.get(content.format, content.format)
            if content.format == TORCHSCRIPT:
                raise CheckpointError(
                    f"{content.name} is a TorchScript archive, not a {forced[0]} state_dict; use --arch "
                    "torchscript or leave --arch out"
                )
            if family is torchscript:
                raise CheckpointError(
                    f"{content.name} is {what}, not a TorchScript archive; leave --arch out"
                )
            raise CheckpointError(f"{content.name} is {what}, not a {forced[0]} model; leave --arch out")
        return family.build(content, forced[1], True)
    score, family = _best_family(content)
    if score <= 0:
        state = content.state()
        if state is not None:
            detect_arch(state)  # raises the message listing what the weights look like
        raise CheckpointError(f"{content.name}: no supported model family recognises this file")
    return family.build(content, None, False)


__all__ = ["ARCHITECTURES", "FAMILIES", "build", "detect_arch", "parse_arch"]
