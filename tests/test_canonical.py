"""Canonical JSON: stable bytes, refusing what PostgreSQL or other JSON readers would change."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.core import canonical_json

texts = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
)


@given(values)
def test_round_trips_and_is_stable_under_key_order(value: object) -> None:
    encoded = canonical_json(value)
    decoded = json.loads(encoded)
    assert decoded == value
    if isinstance(value, dict):
        assert canonical_json(dict(reversed(list(value.items())))) == encoded


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"amount": 1.5}, "amount"),
        ({"a": [1, {"b": 2.0}]}, "a[1].b"),
        ({"note": "x\x00y"}, "note"),
        ({"note": "\ud800"}, "note"),
        ({1: "x"}, "value"),
        ({"when": object()}, "when"),
    ],
)
def test_refuses_what_would_not_survive(value: object, where: str) -> None:
    with pytest.raises(TypeError, match="^" + re.escape(where)):
        canonical_json(value)
