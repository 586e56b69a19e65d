"""Target specifications: predicted, index, top-K, class names, and the errors users see."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gmxai_desktop.core.attribution.targets import resolve_targets
from gmxai_desktop.core.base.errors import ParameterError

NAMES = ["Cornelia de Lange", "Kabuki", "Noonan", "Williams-Beuren", "KBG", "Angelman"]
LOGITS = np.array([0.1, 2.0, -1.0, 3.5, 0.7, 2.0], dtype=np.float32)


@pytest.mark.parametrize("spec", [None, "predicted", "  Predicted "])
def test_predicted_is_argmax(spec):
    assert resolve_targets(spec, LOGITS, NAMES) == [3]


def test_accepts_torch_logits_with_batch_dimension():
    assert resolve_targets(None, torch.tensor(LOGITS).unsqueeze(0), NAMES) == [3]


@pytest.mark.parametrize("spec,expected", [(2, [2]), ("2", [2]), (" 0 ", [0]), ("index:5", [5]),
                                           (np.int64(4), [4])])
def test_indices(spec, expected):
    assert resolve_targets(spec, LOGITS, NAMES) == expected


@pytest.mark.parametrize("spec", [6, -1, "17", "index:9"])
def test_index_out_of_range(spec):
    with pytest.raises(ParameterError, match="out of range"):
        resolve_targets(spec, LOGITS, NAMES)


@pytest.mark.parametrize("spec,expected", [
    ("top:1", [3]),
    ("top:3", [3, 1, 5]),  # ties keep class order (stable)
    ("TOP-2", [3, 1]),
    ("top: 4", [3, 1, 5, 4]),
    ("top:99", [3, 1, 5, 4, 0, 2]),  # at most the number of classes
])
def test_top_k(spec, expected):
    assert resolve_targets(spec, LOGITS, NAMES) == expected


def test_top_zero_is_an_error():
    with pytest.raises(ParameterError, match="at least 1"):
        resolve_targets("top:0", LOGITS, NAMES)


@pytest.mark.parametrize("spec,expected", [
    ("Kabuki", 1),
    ("kabuki", 1),  # case-insensitive
    ("noon", 2),  # unique prefix
    ("williams", 3),
    ("name:KBG", 4),
    ("Cornelia de Lange", 0),
])
def test_names(spec, expected):
    assert resolve_targets(spec, LOGITS, NAMES) == [expected]


def test_exact_match_wins_over_prefix():
    names = ["KBG", "KBG syndrome"]
    assert resolve_targets("KBG", np.zeros(2), names) == [0]


def test_ambiguous_prefix_lists_candidates():
    with pytest.raises(ParameterError, match=r"Kabuki.*KBG|KBG.*Kabuki"):
        resolve_targets("K", LOGITS, NAMES)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ParameterError, match="did you mean 'Kabuki'"):
        resolve_targets("Kabuky", LOGITS, NAMES)
    with pytest.raises(ParameterError, match="unknown target 'zzz'") as err:
        resolve_targets("zzz", LOGITS, NAMES)
    assert "did you mean" not in str(err.value)


def test_digit_class_names_are_disorder_ids():
    ids = ["363527", "7", "147920"]  # GestaltMatcher lookup tables hold disorder ids
    z = np.array([0.0, 1.0, 2.0])
    assert resolve_targets("147920", z, ids) == [2]  # not a valid index: the name
    assert resolve_targets("1", z, ids) == [1]  # a valid index and no class is named "1"
    with pytest.raises(ParameterError, match=r"ambiguous: class index 7 .*'index:7' or 'name:7'"):
        resolve_targets("7", np.zeros(8), [*ids, "a", "b", "c", "d", "e"])
    assert resolve_targets("name:7", np.zeros(8), [*ids, "a", "b", "c", "d", "e"]) == [1]
    assert resolve_targets("index:7", np.zeros(8), [*ids, "a", "b", "c", "d", "e"]) == [7]


@pytest.mark.parametrize("spec", [True, 2.5, ["Kabuki"], "index:x"])
def test_malformed_specs(spec):
    with pytest.raises(ParameterError):
        resolve_targets(spec, LOGITS, NAMES)
