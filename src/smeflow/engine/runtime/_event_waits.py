"""Event waits: a ``wait`` step with ``event`` registers what it waits for (:func:`open_wait`: one
``event_waits`` row per run and step, with the event's name, its ``match`` and when it gives up),
records ``waiting`` and interrupts the run. :func:`~._events.emit_event` delivers each event of
that name to every open wait (an ``event_deliveries`` row) and queues the run. Executed again, the
run looks at its deliveries in the order the events were emitted (:func:`event_answers`): the
first whose ``match`` holds resumes the step; the ones before it are consumed and ignored; if none
holds, the run goes back to waiting.

Key contracts:

* A wait sees the events emitted while it is open **and those emitted since the step before it
  began** (:func:`take_early`): a payment confirmed while its ``payments.request`` step was still
  finishing is not missed. Such an event is taken at once, the step does not pause, and what it
  took is journaled (step key) in the same transaction, so a crash never loses or changes it.
  An event emitted earlier than that (or after the step went on) is not delivered to it, and a
  loop that reaches the step again waits for a new event (an event is delivered to a step at
  most once).
* ``match`` is CEL with ``event`` bound to the event's payload, over the run's state. A ``match``
  that cannot be evaluated over an event (a field it lacks, a type mismatch) or gives something
  other than true or false counts as not matching (logged as a warning): one odd event does not
  end a run that waits for the right one.
* The event taken is written on the wait (``event_id``) before the step resumes, in the same
  transaction as the deliveries it consumed; a step executed again (a crashed worker) resumes with
  the same event. The step then closes its wait (deliveries still pending are ignored). (A worker
  dying between that close and the step's checkpoint leaves one more ``waiting`` event in the
  timeline when the step is executed again; the outcome is the same.)
* Resumed, the step's output is ``{"event": {"name", "payload", "at"}}`` (``at``: when it was
  emitted). With a ``timeout``, the wait gives up at the time it was first reached plus the
  timeout and the step fails (see :mod:`._waits`).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from langgraph.types import StateSnapshot, interrupt
from sqlalchemy import and_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.engine.definitions import WaitNode, duration_seconds
from smeflow.engine.event_models import Event, EventDelivery, EventWait
from smeflow.engine.runtime._cel import is_true
from smeflow.engine.runtime._errors import StepFailed
from smeflow.engine.runtime._visits import journaled_result, step_key
from smeflow.engine.runtime._waits import spoken_duration

if TYPE_CHECKING:
    from smeflow.engine.runtime._compiler import RunState, StepContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenedWait:
    """The wait a step has open, and whether this execution of the step opened it."""

    due_at: datetime | None
    created: bool


async def open_wait(
    db: Database,
    tenant_id: uuid.UUID,
    run_id: uuid.UUID,
    node_id: str,
    *,
    event_name: str,
    match: str | None,
    timeout_seconds: float | None,
) -> OpenedWait:
    """Register (committed on return) that the step waits for ``event_name``; a wait already open
    is kept as it is (with its first due time), a closed one (an earlier pass of a loop) is
    opened again."""
    now = utcnow()
    due = None if timeout_seconds is None else now + timedelta(seconds=timeout_seconds)
    statement = insert(EventWait).values(
        tenant_id=tenant_id,
        run_id=run_id,
        node_id=node_id,
        event_name=event_name,
        match=match,
        status="open",
        opened_at=now,
        due_at=due,
        event_id=None,
        closed_at=None,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[EventWait.tenant_id, EventWait.run_id, EventWait.node_id],
        set_={
            "event_name": statement.excluded.event_name,
            "match": statement.excluded.match,
            "status": "open",
            "opened_at": statement.excluded.opened_at,
            "due_at": statement.excluded.due_at,
            "event_id": None,
            "closed_at": None,
        },
        where=EventWait.status == "closed",
    )
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        opened = (await session.execute(statement.returning(EventWait.due_at))).one_or_none()
        if opened is not None:
            return OpenedWait(opened[0], True)
        existing = (
            await session.execute(
                select(EventWait.due_at).where(
                    EventWait.tenant_id == tenant_id, EventWait.run_id == run_id, EventWait.node_id == node_id
                )
            )
        ).scalar_one()
        return OpenedWait(existing, False)


async def close_wait(db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, node_id: str) -> None:
    """The step no longer waits (it took an event or gave up): no more deliveries to it, and those
    still pending are ignored (committed on return)."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        await session.execute(
            update(EventWait)
            .where(
                EventWait.tenant_id == tenant_id,
                EventWait.run_id == run_id,
                EventWait.node_id == node_id,
                EventWait.status == "open",
            )
            .values(status="closed", closed_at=utcnow())
        )
        await session.execute(
            update(EventDelivery)
            .where(
                EventDelivery.tenant_id == tenant_id,
                EventDelivery.run_id == run_id,
                EventDelivery.node_id == node_id,
                EventDelivery.status == "pending",
            )
            .values(status="ignored")
        )


def _matches(wait: EventWait, event: Event, state: dict[str, Any]) -> bool:
    if wait.match is None:
        return True
    try:
        return is_true(wait.match, state, f"the match of step {wait.node_id!r}", event=event.payload)
    except StepFailed as exc:
        logger.warning(
            "event %s (%s) does not match step %s of run %s: %s",
            event.id,
            event.name,
            wait.node_id,
            wait.run_id,
            exc.message,
        )
        return False


async def _take(session: AsyncSession, wait: EventWait, state: dict[str, Any]) -> Event | None:
    """The event the wait takes: the one taken already, else the first pending delivery whose
    ``match`` holds (those before it are ignored); ``None`` if none holds."""
    if wait.event_id is not None:
        return await session.get(Event, (wait.tenant_id, wait.event_id))
    if wait.status != "open":
        return None
    rows = await session.execute(
        select(EventDelivery, Event)
        .join(Event, and_(Event.tenant_id == EventDelivery.tenant_id, Event.id == EventDelivery.event_id))
        .where(
            EventDelivery.tenant_id == wait.tenant_id,
            EventDelivery.run_id == wait.run_id,
            EventDelivery.node_id == wait.node_id,
            EventDelivery.status == "pending",
        )
        .order_by(Event.created_at, Event.id)
    )
    for delivery, event in rows:
        if _matches(wait, event, state):
            delivery.status, wait.event_id = "taken", event.id
            return event
        delivery.status = "ignored"
    return None


def event_of(event: Event) -> dict[str, Any]:
    """What an event wait's step gives on: ``{"name", "payload", "at"}``."""
    return {"name": event.name, "payload": event.payload, "at": event.created_at.astimezone(UTC).isoformat()}


async def event_answers(
    db: Database, tenant_id: uuid.UUID, run_id: uuid.UUID, snapshot: StateSnapshot
) -> dict[str, Any]:
    """The resume value (``{"event": …}``) of every event wait of ``snapshot`` that has an event to
    take, by interrupt id; deliveries looked at and not taken are consumed (committed on return)."""
    waiting: dict[str, str] = {}
    for pending in snapshot.interrupts:
        value = pending.value
        if isinstance(value, dict) and "event" in value and "node_id" in value:
            waiting[pending.id] = str(value["node_id"])
    if not waiting:
        return {}
    state: dict[str, Any] = dict(snapshot.values)
    taken: dict[str, dict[str, Any]] = {}
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        waits = await session.execute(
            select(EventWait)
            .where(
                EventWait.tenant_id == tenant_id,
                EventWait.run_id == run_id,
                EventWait.node_id.in_(sorted(set(waiting.values()))),
            )
            .order_by(EventWait.node_id)
            .with_for_update()
        )
        for wait in waits.scalars():
            event = await _take(session, wait, state)
            if event is not None:
                taken[wait.node_id] = {"event": event_of(event)}
    return {key: taken[node] for key, node in waiting.items() if node in taken}


def _previous_step_began(ctx: StepContext) -> datetime | None:
    """When the step before this one began, if this execution recorded it (events collected)."""
    if not ctx.events:
        return None
    last = ctx.events[-1]
    return last["at"] - timedelta(milliseconds=int(last.get("duration_ms") or 0))  # type: ignore[no-any-return]


_SINCE = text(
    """SELECT COALESCE(
        CAST(:since AS timestamptz),
        (SELECT at - duration_ms * interval '1 millisecond' FROM run_events
          WHERE tenant_id = :tenant AND run_id = :run ORDER BY seq DESC LIMIT 1),
        (SELECT created_at FROM runs WHERE tenant_id = :tenant AND id = :run))"""
)
_BACKFILL = text(
    """INSERT INTO event_deliveries (tenant_id, run_id, node_id, event_id, status, delivered_at)
    SELECT :tenant, :run, :node, e.id, 'pending', :now FROM events e
     WHERE e.tenant_id = :tenant AND e.name = :name AND e.created_at >= :since
    ON CONFLICT DO NOTHING"""
)
_JOURNAL = text(
    """INSERT INTO step_journal (tenant_id, run_id, idempotency_key, result, completed_at)
    VALUES (:tenant, :run, :key, CAST(:result AS jsonb), :now) ON CONFLICT DO NOTHING"""
)


async def take_early(
    ctx: StepContext, node: WaitNode, state: dict[str, Any], key: str, since: datetime | None
) -> dict[str, Any] | None:
    """Deliver to the step's (just opened) wait the events of its name emitted since ``since``
    (else since the run's last recorded step began, else since the run was accepted) and take the
    first that matches: its output, journaled under ``key`` with the wait closed, in one
    transaction; ``None`` if none matches (the step pauses as usual)."""
    wanted = node.config.event
    assert wanted is not None
    now = utcnow()
    ids = {"tenant": ctx.tenant_id, "run": ctx.run_id}
    async with ctx.db.transaction(DbScope.tenant(ctx.tenant_id)) as session:
        begun = (await session.execute(_SINCE, ids | {"since": since})).scalar_one()
        await session.execute(
            _BACKFILL, ids | {"node": node.id, "name": wanted.name, "since": begun, "now": now}
        )
        wait = (
            await session.execute(
                select(EventWait)
                .where(
                    EventWait.tenant_id == ctx.tenant_id,
                    EventWait.run_id == ctx.run_id,
                    EventWait.node_id == node.id,
                )
                .with_for_update()
            )
        ).scalar_one()
        event = await _take(session, wait, state)
        if event is None:
            return None
        output = {"event": event_of(event)}
        wait.status, wait.closed_at = "closed", now
        await session.execute(
            update(EventDelivery)
            .where(
                EventDelivery.tenant_id == ctx.tenant_id,
                EventDelivery.run_id == ctx.run_id,
                EventDelivery.node_id == node.id,
                EventDelivery.status == "pending",
            )
            .values(status="ignored")
        )
        await session.execute(_JOURNAL, ids | {"key": key, "result": json.dumps(output), "now": now})
        return output


async def wait_for_event(
    node: WaitNode, state: RunState, ctx: StepContext
) -> tuple[Any, Any, dict[str, Any]]:
    """The ``wait`` step with ``event``: open the wait (once) and take an event emitted since the
    step before began, or interrupt; resumed, give the event on or, woken at its timeout, fail."""
    config = node.config
    wanted = config.event
    assert wanted is not None
    timeout = None if config.timeout is None else duration_seconds(config.timeout)
    given: dict[str, Any] = {"event": wanted.name}
    value: dict[str, Any] = {"node_id": node.id, "event": wanted.name}
    key = step_key(node, state, ctx)
    if (done := await journaled_result(ctx, key)) is not None:  # taken early by an earlier execution
        return given, done.result, {"nodes": {node.id: done.result}}
    # Opened on every execution of the step, resumed or not: a wait already open is kept as it is,
    # and a loop that comes back to the step (in the execution that resumed it) opens it again.
    opened = await open_wait(
        ctx.db,
        ctx.tenant_id,
        ctx.run_id,
        node.id,
        event_name=wanted.name,
        match=wanted.match,
        timeout_seconds=timeout,
    )
    if opened.due_at is not None:
        due = opened.due_at.astimezone(UTC).isoformat()
        given["gives_up_at"] = due
        value |= {"wake_at": due, "gives_up": True}
    if opened.created and node.id not in ctx.resumed:
        early = await take_early(ctx, node, dict(state), key, _previous_step_began(ctx))
        if early is not None:
            return given, early, {"nodes": {node.id: early}}
    if opened.created:
        await ctx.record(node, "waiting", input=given)
    answer = interrupt(value)  # the first time: the run stops here
    await close_wait(ctx.db, ctx.tenant_id, ctx.run_id, node.id)
    taken = answer.get("event") if isinstance(answer, dict) else None
    if isinstance(taken, dict):
        output = {"event": taken}
        return given, output, {"nodes": {node.id: output}}
    # woken at its timeout with no event taken (see _waits.wake_answers)
    raise StepFailed(f"Step {node.id!r} waited {spoken_duration(timeout or 0)} for {wanted.name} and gave up")


__all__ = [
    "OpenedWait",
    "close_wait",
    "event_answers",
    "event_of",
    "open_wait",
    "take_early",
    "wait_for_event",
]
