"""Which pass through a node a step is, and what follows from it: the side effect's idempotency
key and whether its result may already be journaled. A node passed again in a loop is a new side
effect (a new key, a new approval or form); the same pass executed again (a resumed or
re-executed run) is the same one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smeflow.engine.definitions import Node
from smeflow.engine.runtime._keys import idempotency_key
from smeflow.engine.runtime._records import Journaled, read_journal

if TYPE_CHECKING:
    from smeflow.engine.runtime._compiler import RunState, StepContext


def visit_of(node: Node, state: RunState) -> int:
    """Which visit of ``node`` the step executing now is (1 the first time; a loop passes again)."""
    return (state.get("visits") or {}).get(node.id, 0) + 1


def step_key(node: Node, state: RunState, ctx: StepContext) -> str:
    """The idempotency key of the side effect of the step executing ``node`` now."""
    return idempotency_key(ctx.run_id, node.id, visit_of(node, state))


async def journaled_result(ctx: StepContext, key: str) -> Journaled | None:
    """The journaled result of the side effect ``key``; ``None`` if it has not completed (no read
    on a run's first execution, when nothing can have been journaled)."""
    return None if ctx.fresh else await read_journal(ctx.db, ctx.tenant_id, ctx.run_id, key)


def record_waiting(opened_now: bool, node: Node, ctx: StepContext) -> bool:
    """Whether a step that pauses records its ``waiting`` event: when it opened what it waits for,
    or when events are collected and this execution does not answer it (an execution that died
    before its pause was saved never wrote the event)."""
    return opened_now or (ctx.events is not None and node.id not in ctx.resumed)


__all__ = ["journaled_result", "record_waiting", "step_key", "visit_of"]
