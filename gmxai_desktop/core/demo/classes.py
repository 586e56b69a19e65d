"""The synthetic "syndrome" classes: each one a named change of specific facial features.

Each class is modelled on a dysmorphology term of the Human Phenotype Ontology, so the demo
teaches the real vocabulary a clinical geneticist uses, and each has a ground-truth region: the
pixels where an affected face differs from the same person drawn unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoClass:
    name: str  # what the model reports and labels.csv holds
    label: str  # human-readable
    hpo: tuple[tuple[str, str], ...]  # (HPO id, HPO term name)
    change: str  # what the generator changes, for the README and demo.json

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "hpo": [{"id": i, "name": n} for i, n in self.hpo],
            "change": self.change,
        }


UNAFFECTED = "unaffected"

DEMO_CLASSES: tuple[DemoClass, ...] = (
    DemoClass(UNAFFECTED, "Unaffected", (), "no change; the identity variation only"),
    DemoClass(
        "hypertelorism", "Hypertelorism", (("HP:0000316", "Hypertelorism"),),
        "interpupillary distance +10 to +20 % (eyes and brows move apart)",
    ),
    DemoClass(
        "upslanted-palpebral-fissures", "Upslanted palpebral fissures",
        (("HP:0000582", "Upslanted palpebral fissure"),),
        "palpebral fissure axis tilted up laterally by 8-14 degrees more than usual",
    ),
    DemoClass(
        "micrognathia", "Micrognathia", (("HP:0000347", "Micrognathia"),),
        "chin 4-7 px higher at 112 px, narrower jaw and chin",
    ),
    DemoClass(
        "long-smooth-philtrum", "Long smooth philtrum",
        (("HP:0000343", "Long philtrum"), ("HP:0000319", "Smooth philtrum")),
        "nose-to-lip distance +3 to +5 px at 112 px, philtral ridges absent",
    ),
    DemoClass(
        "macrostomia", "Macrostomia", (("HP:0000154", "Wide mouth"),),
        "mouth width +20 to +35 %",
    ),
    DemoClass(
        "bulbous-nose", "Bulbous nose", (("HP:0000414", "Bulbous nose"),),
        "nasal tip radius x1.5-1.9, alae 15-30 % wider",
    ),
)

CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in DEMO_CLASSES)
CLASS_BY_NAME: dict[str, DemoClass] = {c.name: c for c in DEMO_CLASSES}


# The imbalance spec lives here, not in .dataset, so `gmxai --help` can show it without cv2.
ZIPF_EXPONENT = 1.8
ZIPF_MIN = 10
ZIPF_ORDER: tuple[str, ...] = (
    "unaffected",
    "hypertelorism",
    "macrostomia",
    "micrognathia",
    "bulbous-nose",
    "upslanted-palpebral-fissures",
    "long-smooth-philtrum",
)
"""Rank order for ``--imbalance zipf``: the first class is the most frequent. Like GMDB, a few
syndromes have hundreds of photos and most have a handful."""

IMBALANCE_HELP = (
    "class sizes: 'none' (every class gets --per-class faces, the default); 'zipf' or 'zipf:S' "
    f"(GMDB-like long tail: the k-th class in the order {', '.join(ZIPF_ORDER)} gets "
    f"--per-class / k^S faces, at least {ZIPF_MIN}; S defaults to {ZIPF_EXPONENT}); or explicit "
    "counts 'hypertelorism=10,micrognathia=200,...' (classes not named get --per-class)"
)
