"""The tools an agent step offers its agent: registered actions, called the way action steps call
them.

Key contracts:

* Each call gets the idempotency key ``<step key>:tool:<call id>``; write and money calls are
  journaled under it, so a step executed again returns their results instead of calling again.
* A **money** tool always waits for a person: the call opens an approval (its own, per tool call)
  and the run pauses; approved, the action runs; rejected, the model is told so
  (:class:`ToolRefused`) and may go on. With ``review_writes`` (a supervisor's), write tools wait
  the same way.
* Every call is a ``tool`` event on the run's timeline, with its arguments and result or error.
* Bad arguments, and errors the action reports, come back to the model as refusals it can read;
  a transient error is retried by the step's policy like any action step's.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from langgraph.types import interrupt
from pydantic import JsonValue, ValidationError

from smeflow.agents import Toolbox, ToolRefused, ToolSpec
from smeflow.engine.definitions import AgentNode
from smeflow.engine.runtime._actions import JOURNALED_EFFECTS, Action, ActionContext, ActionRegistry
from smeflow.engine.runtime._approvals import open_approval
from smeflow.engine.runtime._errors import StepFailed
from smeflow.engine.runtime._records import read_journal, write_journal
from smeflow.engine.runtime._visits import visit_of

if TYPE_CHECKING:
    from smeflow.engine.runtime._compiler import RunState, StepContext

TITLE_MAX = 200


def tool_spec(action: Action) -> ToolSpec:
    """An action as a tool: its name, docstring and input schema."""
    doc = (action.__doc__ or action.input_model.__doc__ or action.name).strip()
    schema = action.input_model.model_json_schema()
    return ToolSpec(action.name, " ".join(doc.split())[:1000], schema, action.effect)


def known_tools(actions: ActionRegistry) -> dict[str, str]:
    """Every action an agent may be given, with its declared effect."""
    found: dict[str, str] = {}
    for name in actions.names():
        action = actions.get(name)
        if action is not None:
            found[name] = action.effect
    return found


def agent_toolbox(
    node: AgentNode,
    state: RunState,
    ctx: StepContext,
    key: str,
    names: tuple[str, ...],
    review_writes: bool,
) -> Toolbox:
    """The toolbox of the agent step ``node`` for the tools ``names``."""
    actions = {name: action for name in names if (action := ctx.actions.get(name)) is not None}
    specs = [tool_spec(action) for action in actions.values()]

    async def call(name: str, arguments: dict[str, Any], call_id: str) -> JsonValue:
        action = actions.get(name)
        if action is None:
            raise ToolRefused(f"there is no tool named {name!r}")
        started = time.perf_counter()
        shown = {"tool": name, "call": call_id, "arguments": arguments}
        try:
            data = action.input_model.model_validate(arguments)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "arguments"
            message = f"the argument {where!r} of {name} is not valid: {first['msg']}"
            await ctx.record(node, "failed", input=shown, error=message, kind="tool")
            raise ToolRefused(message) from None
        effect = action.effect_for(data)
        tool_key = f"{key}:tool:{call_id}"
        if effect in JOURNALED_EFFECTS and not ctx.fresh:
            done = await read_journal(ctx.db, ctx.tenant_id, ctx.run_id, tool_key)
            if done is not None:
                return done.result  # type: ignore[no-any-return]
        if effect == "money" or (effect == "write" and review_writes):
            await _approved(node, state, ctx, name, call_id, arguments, effect)
        try:
            result = await action.run(
                ActionContext(ctx.tenant_id, ctx.run_id, node.id, tool_key, ctx.http), data
            )
        except StepFailed as exc:
            await ctx.record(node, "failed", input=shown, error=exc.message, kind="tool")
            if exc.retryable:
                raise
            raise ToolRefused(exc.message) from None
        if effect in JOURNALED_EFFECTS:
            await write_journal(ctx.db, ctx.tenant_id, ctx.run_id, tool_key, result)
        duration = int((time.perf_counter() - started) * 1000)
        await ctx.record(node, "succeeded", input=shown, output=result, duration_ms=duration, kind="tool")
        return result

    return Toolbox(tuple(specs), call)


async def _approved(
    node: AgentNode,
    state: RunState,
    ctx: StepContext,
    name: str,
    call_id: str,
    arguments: dict[str, Any],
    effect: str,
) -> None:
    """Wait for a person to approve the call (the run pauses); :class:`ToolRefused` if rejected."""
    what = "move money" if effect == "money" else "make a change"
    title = f"The agent {node.config.agent} wants to {what}: {name}"
    opened = await open_approval(
        ctx.db,
        ctx.tenant_id,
        ctx.run_id,
        f"{node.id}:tool:{call_id}",
        visit=visit_of(node, state),
        title=title[:TITLE_MAX],
        details={"Tool": name, "Arguments": arguments, "Effect": effect},
        role=node.config.review_role,
        timeout_seconds=None,
        default_outcome="reject",
    )
    if opened.created:
        await ctx.record(
            node, "waiting", input={"tool": name, "call": call_id, "approval_id": str(opened.id)}, kind="tool"
        )
    decision = interrupt({"approval_id": str(opened.id), "node_id": node.id, "tool": name})
    if decision.get("outcome") != "approved":
        comment = decision.get("comment")
        raise ToolRefused(
            f"a person of the business did not approve {name}" + (f": {comment}" if comment else "")
        )


__all__ = ["agent_toolbox", "known_tools", "tool_spec"]
