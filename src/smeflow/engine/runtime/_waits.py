"""Durable ``wait`` steps: the timers of ``duration`` and ``until`` waits, and of the ``timeout`` of
``until`` and ``event`` waits (the events themselves: :mod:`._event_waits`).

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
  The periodic sweeper queues every ``waiting`` run that has no job and waits for nothing but a
  time (not for a pending approval, an event without a timeout or a child run): a wake-up lost
  before it was deferred, so no run is stranded.
* Resumed, the step's output is ``{"due": <due time>, "woke_at": <when it resumed>}``.
* A ``timeout`` (``until`` and ``event`` waits) is a due time too: the first time the step is
  reached plus the timeout. The interrupt then carries ``"gives_up": true`` when its ``wake_at`` is
  that deadline (an ``until`` time later than the deadline, or an event wait); woken then, the
  step fails ("Step 'pay' waited 2 hours for payment.succeeded and gave up"), so its
  ``on_error`` way can be taken.
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
            gave_up = bool(pending.value.get("gives_up"))
            answers[pending.id] = {"due": due.isoformat(), "woke_at": now.isoformat(), "gave_up": gave_up}
    return answers


def next_wake(interrupts: Iterable[Interrupt]) -> datetime | None:
    """The earliest due time among the waits interrupted (``None``: no wait)."""
    times = [due for pending in interrupts if (due := _wake_at(pending.value)) is not None]
    return min(times) if times else None


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def spoken_duration(seconds: float) -> str:
    """A duration as a person says it: ``"2 hours"``, ``"1 hour 30 minutes"``, ``"45 seconds"``
    (the largest unit and the next one, if that is not zero)."""
    if seconds < 60:
        whole = round(seconds, 1)
        text = f"{whole:g}"
        return f"{text} second" if text == "1" else f"{text} seconds"
    parts: list[str] = []
    left = round(seconds)
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}" if count == 1 else f"{count} {unit}s")
        if len(parts) == 2:
            break
        if parts and not count:
            break  # "1 day 5 minutes" reads oddly: "1 day" then
    return " ".join(parts)


__all__ = ["WAKE_PRIORITY", "next_wake", "parse_due", "spoken_duration", "wake_answers", "wake_lock"]
