"""Durable ``wait`` steps (``duration`` and ``until``; ``event`` waits are refused at compile time).

Key contracts:

* A wait step computes its due time once, the first time the run reaches it (UTC; ``until`` must
  give an ISO-8601 time with an offset, a naive time fails the step with a readable reason), and
  interrupts the run with ``{"node_id", "wake_at"}``: the due time is kept in the run's checkpoint
  (the interrupt's payload) and the run becomes ``waiting``. A due time already past does not
  interrupt: the run goes straight on.
* The wake-up is an ``execute_run`` job scheduled at the due time (``schedule_at``; queueing lock
  :func:`wake_lock`, priority below the run's other jobs so it never holds them back). A job that
  arrives early (a stray job, a clock ahead) leaves the run waiting as it was and schedules the
  wake-up again: only :func:`wake_answers` resumes a wait, and only once its due time has passed.
  The periodic sweeper queues every ``waiting`` run that has neither a job nor a pending approval
  (a wake-up lost before it was deferred), so no run is stranded.
* Resumed, the step's output is ``{"due": <due time>, "woke_at": <when it resumed>}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from langgraph.types import Interrupt, StateSnapshot

from smeflow.engine.runtime._errors import StepFailed

WAKE_PRIORITY = -1


def wake_lock(run_id: uuid.UUID) -> str:
    """The queueing lock of a run's wake-up job (one waiting at a time)."""
    return f"wake:{run_id}"


def parse_due(value: Any, node_id: str, source: str) -> datetime:
    """The time an ``until`` expression gave, timezone-aware; :class:`StepFailed` otherwise."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise StepFailed(
                f"Step {node_id!r}: {source!r} gave {value!r}, which is not an ISO-8601 time "
                "such as 2025-06-01T09:00:00+03:00"
            ) from None
    else:
        raise StepFailed(f"Step {node_id!r}: {source!r} gave {value!r}, not a time")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StepFailed(
            f"Step {node_id!r}: the time {value!s} from {source!r} has no UTC offset; "
            "give one, such as 2025-06-01T09:00:00+03:00 or ...Z"
        )
    return moment


def _wake_at(value: Any) -> datetime | None:
    if isinstance(value, dict) and isinstance(value.get("wake_at"), str):
        return datetime.fromisoformat(value["wake_at"])
    return None


def wake_answers(snapshot: StateSnapshot, now: datetime) -> dict[str, Any]:
    """The resume value of every wait of ``snapshot`` whose due time has passed, by interrupt id."""
    answers: dict[str, Any] = {}
    for pending in snapshot.interrupts:
        due = _wake_at(pending.value)
        if due is not None and due <= now:
            answers[pending.id] = {"due": due.isoformat(), "woke_at": now.isoformat()}
    return answers


def next_wake(interrupts: Iterable[Interrupt]) -> datetime | None:
    """The earliest due time among the waits interrupted (``None``: no wait)."""
    times = [due for pending in interrupts if (due := _wake_at(pending.value)) is not None]
    return min(times) if times else None


__all__ = ["WAKE_PRIORITY", "next_wake", "parse_due", "wake_answers", "wake_lock"]
