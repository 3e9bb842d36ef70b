"""The hash chain: pure functions, no I/O.

``hash = SHA-256(canonical_json(fields) || prev_hash)`` as lowercase hex, where ``fields`` is
every column of the event except the two hashes. The first event of a tenant links to
:data:`GENESIS`.

Verifying is a fold over the events in seq order (:func:`check_links`), so a long chain can be
checked batch by batch with constant memory; :func:`check_head` then compares the end of the
chain with the ``audit_heads`` row. The first broken link is reported as a :class:`ChainBreak`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smeflow.core import canonical_json

GENESIS = "0" * 64


def event_fields(
    *,
    tenant_id: uuid.UUID,
    seq: int,
    event_id: uuid.UUID,
    occurred_at: datetime,
    actor_type: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    data: dict[str, Any],
    request_id: str | None,
) -> dict[str, Any]:
    """The hashed content of one event, in the canonical form."""
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    return {
        "tenant_id": str(tenant_id),
        "seq": seq,
        "id": str(event_id),
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_type": actor_type,
        "actor_id": actor_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "data": data,
        "request_id": request_id,
    }


def chain_hash(fields: dict[str, Any], prev_hash: str) -> str:
    """The hash of an event given its fields and the previous event's hash."""
    digest = hashlib.sha256(canonical_json(fields))
    digest.update(prev_hash.encode("ascii"))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ChainState:
    """The end of the verified part of a chain: its last seq and hash, and how many events."""

    seq: int = 0
    hash: str = GENESIS
    checked: int = 0


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place a chain is not intact: the seq concerned and why, for a human."""

    seq: int
    reason: str


def _recomputed_hash(event: Mapping[str, Any]) -> str:
    fields = event_fields(
        tenant_id=event["tenant_id"],
        seq=event["seq"],
        event_id=event["id"],
        occurred_at=event["occurred_at"],
        actor_type=event["actor_type"],
        actor_id=event["actor_id"],
        action=event["action"],
        target_type=event["target_type"],
        target_id=event["target_id"],
        data=event["data"],
        request_id=event["request_id"],
    )
    return chain_hash(fields, event["prev_hash"])


def _seq_break(expected: int, seq: int) -> ChainBreak:
    if seq > expected:
        missing = f"event {expected} is" if seq == expected + 1 else f"events {expected} to {seq - 1} are"
        return ChainBreak(expected, f"{missing} missing: the chain jumps from seq {expected - 1} to {seq}")
    return ChainBreak(expected, f"expected event {expected} but found seq {seq} (out of order or repeated)")


def check_links(
    events: Iterable[Mapping[str, Any]], state: ChainState = ChainState()
) -> tuple[ChainState, ChainBreak | None]:
    """Verify ``events`` (column name → value, in seq order) as the continuation of ``state``.

    Returns the new end of the verified chain and the first break, if any (then the state is
    where the chain was still intact). ``checked`` counts every event read, including the one
    where a break was found.
    """
    for event in events:
        seq: int = event["seq"]
        checked = state.checked + 1
        expected = state.seq + 1
        if seq != expected:
            return ChainState(state.seq, state.hash, checked), _seq_break(expected, seq)
        if event["prev_hash"] != state.hash:
            previous = "the genesis hash" if state.seq == 0 else f"the hash of event {state.seq}"
            return ChainState(state.seq, state.hash, checked), ChainBreak(
                seq, f"event {seq} does not link to the chain: its prev_hash is not {previous}"
            )
        try:
            recomputed = _recomputed_hash(event)
        except (TypeError, ValueError) as exc:
            return ChainState(state.seq, state.hash, checked), ChainBreak(
                seq, f"event {seq} was altered: its content cannot be hashed ({exc})"
            )
        if recomputed != event["hash"]:
            return ChainState(state.seq, state.hash, checked), ChainBreak(
                seq, f"event {seq} was altered: its content does not match its hash"
            )
        state = ChainState(seq, event["hash"], checked)
    return state, None


def check_head(state: ChainState, head_seq: int | None, head_hash: str | None) -> ChainBreak | None:
    """Compare the end of a fully verified chain with the tenant's ``audit_heads`` row."""
    if head_seq is None or head_hash is None:
        if state.seq == 0:
            return None
        return ChainBreak(state.seq, f"the chain head is missing although events run to seq {state.seq}")
    if head_seq > state.seq:
        first = state.seq + 1
        missing = f"event {first} is" if head_seq == first else f"events {first} to {head_seq} are"
        return ChainBreak(
            first, f"{missing} missing: the chain head is at seq {head_seq} but the last event is {state.seq}"
        )
    if head_seq < state.seq:
        return ChainBreak(
            head_seq + 1, f"the chain head is at seq {head_seq} but events run to seq {state.seq}"
        )
    if head_hash != state.hash:
        return ChainBreak(state.seq, f"the chain head's hash does not match the hash of event {state.seq}")
    return None


def first_broken(events: Iterable[Mapping[str, Any]]) -> ChainBreak | None:
    """The first broken link of a whole chain given in memory (no head row to compare)."""
    return check_links(events)[1]


__all__ = [
    "GENESIS",
    "ChainBreak",
    "ChainState",
    "chain_hash",
    "check_head",
    "check_links",
    "event_fields",
    "first_broken",
]
