"""The booking state machine as an explicit table: which status may follow which.

``pending_payment`` → ``confirmed`` (its deposit was paid) | ``cancelled`` | ``expired`` (the hold
ran out); ``confirmed`` → ``completed`` | ``cancelled`` | ``no_show``. The other statuses are
final. Anything else is refused with a :class:`~smeflow.errors.Conflict` naming both statuses.
"""

from __future__ import annotations

from smeflow.errors import Conflict, FieldProblem

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"confirmed", "cancelled", "expired"}),
    "confirmed": frozenset({"completed", "cancelled", "no_show"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "no_show": frozenset(),
    "expired": frozenset(),
}


class TransitionRefused(Conflict):
    code = "booking_transition_refused"
    title = "A booking cannot move to that status from its current one"


def check_transition(before: str, after: str, field: str = "status") -> None:
    """Refuse ``before`` → ``after`` unless :data:`TRANSITIONS` allows it."""
    if after not in TRANSITIONS.get(before, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(before, frozenset()))) or "none: it is final"
        message = f"a {before} booking cannot become {after} (allowed: {allowed})"
        raise TransitionRefused(message, fields=[FieldProblem(field, message, "transition")])


__all__ = ["TRANSITIONS", "TransitionRefused", "check_transition"]
