"""The payment state machine, as an explicit table (pure code).

::

    created ──► pending ──► succeeded ──► reversed
       │           │
       └───────────┴──► failed

A provider's word (a callback or a status query) is an *observation*; :func:`next_status` says
what it changes. Anything not in the table changes nothing: a duplicate callback (same state), a
late one (``failed`` after ``succeeded``), a success for another amount or currency (refused: it
is treated as a failure to pay what was asked, never as a payment).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["created", "pending", "succeeded", "failed", "reversed"]
Observable = Literal["pending", "succeeded", "failed", "reversed"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "created": frozenset({"pending", "succeeded", "failed"}),
    "pending": frozenset({"succeeded", "failed"}),
    "succeeded": frozenset({"reversed"}),
    "failed": frozenset(),
    "reversed": frozenset(),
}
FINAL = frozenset({"failed", "reversed"})
SETTLED = frozenset({"succeeded", "failed", "reversed"})


@dataclass(frozen=True, slots=True)
class Observed:
    """What the provider says about a payment."""

    status: Observable
    amount_minor: int | None = None
    currency: str | None = None
    provider_ref: str | None = None
    reason: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What an observation does to a payment: the new status (None: nothing changes) and why."""

    to: str | None
    reason: str | None = None
    code: str | None = None


def next_status(current: str, amount_minor: int, currency: str, observed: Observed) -> Decision:
    """The change ``observed`` makes to a payment in ``current`` for ``amount_minor`` ``currency``."""
    target: str = observed.status
    reason, code = observed.reason, observed.code
    if target == "succeeded" and (
        (observed.amount_minor is not None and observed.amount_minor != amount_minor)
        or (observed.currency is not None and observed.currency != currency)
    ):
        target = "failed"
        code = "amount_mismatch"
        reason = (
            f"the provider reported {observed.amount_minor} {observed.currency} "
            f"for a payment of {amount_minor} {currency}"
        )
    if target == current or target not in TRANSITIONS[current]:
        return Decision(None)
    return Decision(target, reason, code)


__all__ = ["FINAL", "SETTLED", "TRANSITIONS", "Decision", "Observable", "Observed", "Status", "next_status"]
