"""HPO terms -> facial regions, by inheritance from a few anchor branches.

Why anchors and not a term-by-term table: HPO has thousands of facial terms and grows with every
release. A reviewed list of about 25 branch anchors (``resources/phenotype/hpo_region_anchors.json``,
versioned, with the HPO release it was checked against) maps every present and future descendant,
and a reader can audit the whole mapping on one screen.

Rule (nearest anchors): collect the anchors among a term and all its ``is_a`` ancestors, then drop
each anchor that is a proper ancestor of another collected one. "Long philtrum" sits under both
"Abnormality of the philtrum" and, higher up, "Abnormal lip morphology"; it maps to the philtrum
only. Anchors on separate paths all apply ("Abnormality of the frontal hairline" -> forehead and
hair). Terms under no anchor are not facial (for this purpose) and carry no region.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..base.errors import GmxaiError
from ..base.resources import resources_dir
from .atlas import REGIONS
from .hpo import HpoIndex, face_index

WHOLE_FACE = "whole_face"
"""Pseudo-region of terms about the face as a whole (facial shape); spread over the face by area."""

ANCHORS_FILE = "phenotype/hpo_region_anchors.json"
ANCHORS_FORMAT = "gmxai-hpo-region-anchors"


class MappingError(GmxaiError):
    """The region anchor table is missing, malformed or names terms the ontology lacks."""


@dataclass(frozen=True)
class Anchor:
    id: str
    name: str
    region: str


@dataclass
class RegionMapping:
    """Anchors plus the ontology they are resolved in; ``regions_of`` is memoised per term."""

    anchors: tuple[Anchor, ...]
    table_version: int
    table_release: str  # the HPO release the table was reviewed against
    index: HpoIndex
    _memo: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _ancestors: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @property
    def hpo_release(self) -> str:
        """The release of the ``hp.obo`` in use (its ``data-version``)."""
        return self.index.version

    def ancestors(self, term_id: str) -> frozenset[str]:
        """All ``is_a`` ancestors of a term, the term itself included."""
        tid = self.index.resolve_id(term_id)
        if tid in self._ancestors:
            return self._ancestors[tid]
        seen: set[str] = set()
        stack = [tid]
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            term = self.index.lookup_any(t)
            if term is not None:
                stack.extend(term.parents)
        result = frozenset(seen)
        self._ancestors[tid] = result
        return result

    def anchors_of(self, term_id: str) -> list[Anchor]:
        """The nearest anchors of a term (see the module docstring)."""
        anc = self.ancestors(term_id)
        found = [a for a in self.anchors if a.id in anc]
        return [a for a in found
                if not any(b.id != a.id and a.id in self.ancestors(b.id) for b in found)]

    def regions_of(self, term_id: str) -> tuple[str, ...]:
        """Regions (atlas keys and/or ``whole_face``) of a term, in atlas order; () if not facial."""
        tid = self.index.resolve_id(term_id)
        if tid not in self._memo:
            names = {a.region for a in self.anchors_of(tid)}
            order = (*REGIONS, WHOLE_FACE)
            self._memo[tid] = tuple(r for r in order if r in names)
        return self._memo[tid]

    def term_name(self, term_id: str) -> str:
        term = self.index.lookup_any(term_id)
        return term.name if term is not None else term_id


def read_anchors(path: Path) -> tuple[list[Anchor], int, str]:
    """Parse and check an anchor table file: (anchors, version, HPO release it was made for)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"the HPO region table is missing ({path.name}); reinstall gmxai-desktop"
                           ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MappingError(f"the HPO region table {path.name} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != ANCHORS_FORMAT:
        raise MappingError(f"{path.name} is not an HPO region table (format {ANCHORS_FORMAT!r})")
    allowed = set(REGIONS) | {WHOLE_FACE}
    anchors: list[Anchor] = []
    for i, row in enumerate(data.get("anchors") or []):
        ok = isinstance(row, dict) and isinstance(row.get("id"), str) and row.get("region") in allowed
        if not ok:
            raise MappingError(f"{path.name}: anchor {i + 1} needs an 'id' and a 'region' out of "
                               f"{', '.join(sorted(allowed))}")
        anchors.append(Anchor(row["id"], str(row.get("name", "")), row["region"]))
    if not anchors:
        raise MappingError(f"{path.name} lists no anchors")
    return anchors, int(data.get("version", 0)), str(data.get("hpo_release", "unknown"))


def load_mapping(path: Path | None = None, index: HpoIndex | None = None) -> RegionMapping:
    """The anchor table resolved against ``index`` (default: the bundled ``hp.obo``).

    An anchor id unknown to the ontology is an error, not a silent gap: a newer or older release
    that renamed a branch must be reviewed, not half-applied.
    """
    anchors, version, release = read_anchors(path or resources_dir() / ANCHORS_FILE)
    index = index or face_index()
    missing = [a.id for a in anchors if index.lookup_any(a.id) is None]
    if missing:
        raise MappingError(f"HPO release {index.version} lacks the region anchors {', '.join(missing)} "
                           f"(the table was made for {release}); review resources/{ANCHORS_FILE}")
    resolved = tuple(Anchor(index.resolve_id(a.id), a.name, a.region) for a in anchors)
    return RegionMapping(resolved, version, release, index)


@lru_cache(maxsize=1)
def default_mapping() -> RegionMapping:
    """The bundled table on the bundled ontology, built once per process."""
    return load_mapping()
