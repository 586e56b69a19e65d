"""What medicine expects a syndrome's face to show, as a weight per atlas region.

Terms per syndrome come from one of three sources (:class:`SyndromeTerms` records which):

* disease ids (OMIM / ORPHA / DECIPHER) -> the bundled ``phenotype.hpoa`` annotations;
* a user's list of HPO ids (frequency optional, missing = 0.5);
* a model's own class description (the demo model's ``demo.json`` ``classes[].hpo``): the demo
  generator applies its change to every affected face, so those terms are obligate (1.0).

Expected weight of a region = sum of the frequencies of the syndrome's facial terms mapped to it
(a term under two anchors counts for both), then normalised to sum 1. Terms about the whole face
(facial shape) say nothing about *where*, so their frequency is spread over the regions in
proportion to area, i.e. at chance level.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..base.errors import ParameterError
from .atlas import REGIONS
from .diseases import (
    MISSING_FREQUENCY,
    Frequency,
    combine_frequencies,
    is_disease_id,
    normalize_disease_id,
    parse_frequency,
    read_diseases,
)
from .hpo import normalize_id
from .mapping import WHOLE_FACE, RegionMapping, default_mapping


@dataclass(frozen=True)
class TermInfo:
    """One HPO term of a syndrome: its frequency and the regions it maps to (empty = not facial)."""

    id: str
    name: str
    frequency: Frequency
    regions: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "frequency": round(self.frequency.value, 4),
                "frequency_text": self.frequency.text, "regions": list(self.regions)}


@dataclass
class SyndromeTerms:
    """A syndrome's HPO terms and where they came from."""

    name: str
    source: str  # e.g. "OMIM:122470 (Cornelia de Lange syndrome 1)", "model class description"
    terms: list[TermInfo] = field(default_factory=list)

    @property
    def facial_terms(self) -> list[TermInfo]:
        return [t for t in self.terms if t.regions]


def _term_infos(freqs: Mapping[str, list[Frequency]], mapping: RegionMapping) -> list[TermInfo]:
    out = []
    for hid, fl in freqs.items():
        tid = mapping.index.resolve_id(hid)
        out.append(TermInfo(tid, mapping.term_name(tid), combine_frequencies(fl), mapping.regions_of(tid)))
    out.sort(key=lambda t: (not t.regions, -t.frequency.value, t.name.casefold()))
    return out


def terms_from_sources(name: str, sources: Sequence[str], mapping: RegionMapping | None = None,
                       hpoa: Path | None = None) -> SyndromeTerms:
    """Terms from disease ids and/or HPO ids (``HP:0000316`` or ``HP:0000316=37/46``)."""
    mapping = mapping or default_mapping()
    diseases = [normalize_disease_id(s) for s in sources if is_disease_id(s)]
    freqs: dict[str, list[Frequency]] = {}
    described: list[str] = []
    if diseases:
        for d in read_diseases(diseases, hpoa).values():
            described.append(f"{d.id} ({d.name})" if d.name else d.id)
            for a in d.annotations:
                freqs.setdefault(a.hpo_id, []).append(a.frequency)
    hpo_given = 0
    for s in sources:
        if is_disease_id(s):
            continue
        term, _, freq = s.partition("=")
        tid = normalize_id(term)
        if tid is None or mapping.index.lookup_any(tid) is None:
            raise ParameterError(f"{s!r} is neither a disease id (OMIM:, ORPHA:, DECIPHER:) nor an HPO term "
                                 f"of release {mapping.hpo_release}")
        freqs.setdefault(tid, []).append(parse_frequency(freq) if freq else Frequency(MISSING_FREQUENCY, ""))
        hpo_given += 1
    if hpo_given:
        described.append(f"{hpo_given} HPO term(s) given")
    return SyndromeTerms(name, "; ".join(described), _term_infos(freqs, mapping))


def terms_from_class_description(name: str, hpo: Sequence[Mapping[str, str]],
                                 mapping: RegionMapping | None = None) -> SyndromeTerms:
    """A model class's own HPO list (``[{"id", "name"}]``), each obligate (frequency 1.0)."""
    mapping = mapping or default_mapping()
    freqs = {str(h["id"]): [parse_frequency("HP:0040280")] for h in hpo}
    return SyndromeTerms(name, "model class description", _term_infos(freqs, mapping))


def expected_weights(terms: SyndromeTerms, area_shares: Mapping[str, float]) -> dict[str, float]:
    """Normalised expected weight per region (sums to 1), or all zeros without facial terms."""
    raw = dict.fromkeys(REGIONS, 0.0)
    for t in terms.facial_terms:
        for r in t.regions:
            if r == WHOLE_FACE:
                for rr in REGIONS:
                    raw[rr] += t.frequency.value * float(area_shares.get(rr, 0.0))
            else:
                raw[r] += t.frequency.value
    total = sum(raw.values())
    return {r: (v / total if total > 0 else 0.0) for r, v in raw.items()}


def model_sidecar(checkpoint: str | Path | None) -> dict:
    """The model's sidecar ``<checkpoint stem>.json`` (the demo models have one), or {}."""
    if not checkpoint:
        return {}
    side = Path(checkpoint).with_suffix(".json")
    try:
        data = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def class_descriptions_for(checkpoint: str | Path | None) -> dict[str, list[dict[str, str]]]:
    """``classes[].hpo`` from the model's sidecar, if there is one."""
    out: dict[str, list[dict[str, str]]] = {}
    for c in model_sidecar(checkpoint).get("classes", []):
        if isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("hpo"), list):
            out[c["name"]] = [h for h in c["hpo"] if isinstance(h, dict) and "id" in h]
    return out


def atlas_template_for(template: str, checkpoint: str | Path | None) -> str:
    """The layout the model's faces are in: the sidecar's ``template`` if it names one, else the
    adapter's. The demo model is a GestaltMatcher v1 network (adapter template ``gm-v1``) trained
    on crops drawn on the ArcFace-112 layout, and its sidecar says so."""
    from ..inputs.face.align import TEMPLATES

    side = model_sidecar(checkpoint).get("template")
    return side if isinstance(side, str) and side in TEMPLATES else template


def read_syndrome_map(path: Path) -> dict[str, list[str]]:
    """A CSV ``class,syndrome``: each class's disease and/or HPO ids, separated by ';'.

    Lets GMDB-style class names (which are not OMIM ids) find their annotations, e.g.
    ``Cornelia de Lange syndrome,OMIM:122470;OMIM:300590``.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ParameterError(f"syndrome map not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read syndrome map {Path(path).name}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "class" not in header or "syndrome" not in header:
        raise ParameterError(f"{Path(path).name} needs the columns class,syndrome "
                             "(e.g. 'Cornelia de Lange syndrome,OMIM:122470')")
    reader.fieldnames = header
    out: dict[str, list[str]] = {}
    for line, row in enumerate(reader, start=2):
        cls = (row.get("class") or "").strip()
        ids = [s.strip() for s in (row.get("syndrome") or "").replace(",", ";").split(";") if s.strip()]
        if not cls or not ids:
            raise ParameterError(f"{Path(path).name}, line {line}: a class name and at least one id "
                                 "are needed")
        if cls in out:
            raise ParameterError(f"{Path(path).name}, line {line}: class {cls!r} appears twice")
        out[cls] = ids
    return out


def terms_for_classes(classes: Sequence[str], syndrome_map: Mapping[str, list[str]] | None = None,
                      descriptions: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
                      mapping: RegionMapping | None = None) -> dict[str, SyndromeTerms]:
    """Terms for each model class: the map file first, then the model's own description, then
    the class name itself if it is a disease id. Classes with no source get an empty term list."""
    mapping = mapping or default_mapping()
    out: dict[str, SyndromeTerms] = {}
    for c in classes:
        if syndrome_map and c in syndrome_map:
            out[c] = terms_from_sources(c, syndrome_map[c], mapping)
        elif descriptions and c in descriptions:
            out[c] = terms_from_class_description(c, descriptions[c], mapping)
        elif is_disease_id(c):
            out[c] = terms_from_sources(c, [c], mapping)
        else:
            out[c] = SyndromeTerms(c, "no HPO source (add it to a --syndromes map)")
    return out
