"""The hash chain's pure functions: any chain built with ``chain_hash`` verifies, and changing
any one field of any one event is detected at exactly that event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from smeflow.audit import (
    GENESIS,
    ActorType,
    ChainState,
    chain_hash,
    check_head,
    check_links,
    event_fields,
    first_broken,
)
from smeflow.core import canonical_json

# No example database (tests leave no files behind) and no wall-clock deadline (no timing asserts).
quick = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# PostgreSQL text cannot hold NUL, so canonical JSON refuses it (tested in test_canonical.py).
texts = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
data_dicts = st.dictionaries(texts, json_values, max_size=4)
aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))),
)
hashes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
contents = st.fixed_dictionaries(
    {
        "id": st.uuids(),
        "occurred_at": aware_datetimes,
        "actor_type": st.sampled_from(get_args(ActorType)),
        "actor_id": texts,
        "action": texts,
        "target_type": texts,
        "target_id": texts,
        "data": data_dicts,
        "request_id": st.none() | texts,
    }
)
# A replacement value for each column, drawn from the same kind of values.
replacements: dict[str, st.SearchStrategy[Any]] = {
    "tenant_id": st.uuids(),
    "seq": st.integers(min_value=-5, max_value=100),
    "id": st.uuids(),
    "occurred_at": aware_datetimes,
    "actor_type": st.sampled_from(get_args(ActorType)),
    "actor_id": texts,
    "action": texts,
    "target_type": texts,
    "target_id": texts,
    "data": data_dicts,
    "request_id": st.none() | texts,
    "prev_hash": hashes,
    "hash": hashes,
}


def build_chain(tenant_id: uuid.UUID, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as the database returns them (column name → value), linked from GENESIS."""
    chain: list[dict[str, Any]] = []
    prev = GENESIS
    for seq, item in enumerate(items, start=1):
        fields = event_fields(
            tenant_id=tenant_id,
            seq=seq,
            event_id=item["id"],
            occurred_at=item["occurred_at"],
            actor_type=item["actor_type"],
            actor_id=item["actor_id"],
            action=item["action"],
            target_type=item["target_type"],
            target_id=item["target_id"],
            data=item["data"],
            request_id=item["request_id"],
        )
        digest = chain_hash(fields, prev)
        chain.append({"tenant_id": tenant_id, "seq": seq, **item, "prev_hash": prev, "hash": digest})
        prev = digest
    return chain


def differs(column: str, old: Any, new: Any) -> bool:
    if column == "data":
        return canonical_json(old) != canonical_json(new)
    return bool(old != new)  # aware datetimes compare as instants, whatever their offset


@quick
@given(tenant_id=st.uuids(), items=st.lists(contents, max_size=8))
def test_a_built_chain_verifies(tenant_id: uuid.UUID, items: list[dict[str, Any]]) -> None:
    chain = build_chain(tenant_id, items)
    state, broken = check_links(chain)
    assert broken is None
    assert first_broken(chain) is None
    assert state.seq == state.checked == len(chain)
    assert state.hash == (chain[-1]["hash"] if chain else GENESIS)
    assert check_head(state, len(chain) or None, state.hash if chain else None) is None


@quick
@given(tenant_id=st.uuids(), items=st.lists(contents, max_size=6), split=st.integers(0, 6))
def test_checking_in_batches_equals_checking_at_once(
    tenant_id: uuid.UUID, items: list[dict[str, Any]], split: int
) -> None:
    chain = build_chain(tenant_id, items)
    state, broken = check_links(chain[:split])
    assert broken is None
    assert check_links(chain[split:], state) == check_links(chain)


@quick
@given(tenant_id=st.uuids(), items=st.lists(contents, min_size=1, max_size=6), data=st.data())
def test_changing_any_field_of_any_event_is_detected_at_that_event(
    tenant_id: uuid.UUID, items: list[dict[str, Any]], data: st.DataObject
) -> None:
    chain = build_chain(tenant_id, items)
    index = data.draw(st.integers(0, len(chain) - 1), label="index")
    column = data.draw(st.sampled_from(sorted(replacements)), label="column")
    new = data.draw(replacements[column], label="new value")
    assume(differs(column, chain[index][column], new))
    chain[index] = {**chain[index], column: new}

    broken = first_broken(chain)

    assert broken is not None
    assert broken.seq == index + 1
    assert str(index + 1) in broken.reason


def _chain(n: int) -> list[dict[str, Any]]:
    item = {
        "id": uuid.UUID(int=1),
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "actor_type": "system",
        "actor_id": "smeflow",
        "action": "a",
        "target_type": "t",
        "target_id": "1",
        "data": {},
        "request_id": None,
    }
    return build_chain(uuid.UUID(int=7), [dict(item) for _ in range(n)])


@pytest.mark.parametrize(
    ("drop", "seq", "words"),
    [
        ([0], 1, "event 1 is missing"),
        ([3], 4, "event 4 is missing"),
        ([3, 4, 5], 4, "events 4 to 6 are missing"),
    ],
)
def test_a_gap_names_the_missing_seq(drop: list[int], seq: int, words: str) -> None:
    chain = [e for i, e in enumerate(_chain(8)) if i not in drop]
    broken = first_broken(chain)
    assert broken is not None
    assert broken.seq == seq
    assert words in broken.reason


def test_a_repeated_event_is_reported_at_the_seq_expected() -> None:
    chain = _chain(4)
    broken = first_broken([*chain[:3], chain[2], chain[3]])
    assert broken is not None
    assert broken.seq == 4
    assert "out of order" in broken.reason


def test_data_that_cannot_be_canonical_json_is_reported_as_altered() -> None:
    chain = _chain(3)
    chain[1] = {**chain[1], "data": {"amount": 1.5}}
    broken = first_broken(chain)
    assert broken is not None
    assert broken.seq == 2
    assert "altered" in broken.reason
    assert "float" in broken.reason


def test_check_links_counts_the_event_where_it_stopped() -> None:
    chain = _chain(5)
    chain[2] = {**chain[2], "action": "changed"}
    state, broken = check_links(chain)
    assert broken is not None
    assert (state.seq, state.hash, state.checked) == (2, chain[1]["hash"], 3)


@pytest.mark.parametrize(
    ("head_seq", "head_hash", "seq", "words"),
    [
        (5, "last", None, None),
        (6, "last", 6, "event 6 is missing"),
        (8, "last", 6, "events 6 to 8 are missing"),
        (3, "last", 4, "head is at seq 3 but events run to seq 5"),
        (5, "0" * 64, 5, "head's hash does not match the hash of event 5"),
        (None, None, 5, "head is missing"),
    ],
)
def test_check_head(head_seq: int | None, head_hash: str | None, seq: int | None, words: str | None) -> None:
    state = ChainState(5, "f" * 64, 5)
    broken = check_head(state, head_seq, state.hash if head_hash == "last" else head_hash)
    assert (broken.seq if broken else None) == seq
    if words is not None:
        assert broken is not None
        assert words in broken.reason


def test_an_empty_chain_without_head_is_intact_and_a_head_without_events_is_not() -> None:
    assert check_head(ChainState(), None, None) is None
    broken = check_head(ChainState(), 2, "f" * 64)
    assert broken is not None
    assert broken.seq == 1
    assert "events 1 to 2 are missing" in broken.reason
