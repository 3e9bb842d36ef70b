"""Compiling a :class:`WorkflowDefinition` into a LangGraph ``StateGraph``.

The state is JSON: ``{"input": …, "vars": …, "nodes": {node_id: output}, "failed": {node_id:
reason (None once it succeeds again)}, "end": {...}}``; ``vars``, ``nodes`` and ``failed`` merge
key by key. Each definition node
becomes a graph node named ``node_<id>`` (so no id collides with a state key) that records one
run event. Routing: a ``condition`` node stores the edge it chose (``{"route": target}``) and the
graph follows it; other nodes follow every outgoing edge whose condition holds (unconditional
edges always); a node that failed for good goes to its ``on_error``. Supported kinds: trigger,
action, condition, approval, form, wait, agent, send_message, subworkflow, end; an action or agent
that is not installed and a channel with no sender are refused at compile time
(:class:`UnsupportedNode`).
An ``approval`` node opens its approval (once per visit) and interrupts the graph (LangGraph
``interrupt()``); resumed with the decision, its output is ``{"outcome": "approved"|"rejected",
"comment", "decided_by"}``. A ``wait`` node interrupts until its due time (see :mod:`._waits`)
or until an event it matches is emitted (:mod:`._event_waits`); a ``subworkflow`` node until its
child run ends (:mod:`._subworkflows`). The ``form``, ``agent`` and ``send_message`` executors
are in :mod:`._executors`.

Before each step the run's stop signal is checked: a run asked to cancel or pause stops there
(see :mod:`._stops`). An ``on_error`` branch reads why a step failed as ``failed.<id>`` in CEL.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Annotated, Any, TypedDict, cast

import httpx
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from smeflow.core import utcnow
from smeflow.db import Database
from smeflow.engine.definitions import (
    ActionNode,
    AgentNode,
    ApprovalNode,
    ConditionNode,
    EndNode,
    Node,
    RetryPolicy,
    SendMessageNode,
    SubworkflowNode,
    WaitNode,
    WorkflowDefinition,
    duration_seconds,
)
from smeflow.engine.runtime._actions import JOURNALED_EFFECTS, ActionContext, ActionRegistry
from smeflow.engine.runtime._agents import AgentRegistry, default_agents
from smeflow.engine.runtime._approvals import open_approval
from smeflow.engine.runtime._cel import evaluate, is_true, resolve
from smeflow.engine.runtime._errors import StepFailed, TransientStepError, UnsupportedNode
from smeflow.engine.runtime._event_waits import wait_for_event
from smeflow.engine.runtime._executors import agent_step, form_step, send_message_step
from smeflow.engine.runtime._messages import SenderRegistry
from smeflow.engine.runtime._money_guard import money_problems
from smeflow.engine.runtime._records import record_event, write_journal
from smeflow.engine.runtime._stops import StopSignals
from smeflow.engine.runtime._subworkflows import run_subworkflow
from smeflow.engine.runtime._visits import journaled_result, record_waiting, step_key, visit_of
from smeflow.engine.runtime._waits import parse_due, spoken_duration
from smeflow.errors import FieldProblem, SMEFlowError

logger = logging.getLogger(__name__)

SUPPORTED_KINDS = (
    "trigger",
    "action",
    "condition",
    "approval",
    "form",
    "wait",
    "agent",
    "send_message",
    "subworkflow",
    "end",
)


def _merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


class RunState(TypedDict, total=False):
    """A run's state: JSON only, so it checkpoints as it is."""

    input: dict[str, Any]
    vars: Annotated[dict[str, Any], _merge]
    nodes: Annotated[dict[str, Any], _merge]
    failed: Annotated[dict[str, str | None], _merge]  # None: the node's last try succeeded
    visits: Annotated[dict[str, int], _merge]  # how many times each node has been executed
    end: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StepContext:
    """What the graph's nodes need from the run executing them (LangGraph's run context)."""

    db: Database
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    actions: ActionRegistry
    http: httpx.AsyncClient
    event_seq: Iterator[int]  # numbers this execution's step events (see _records.record_event)
    resumed: frozenset[str] = frozenset()  # nodes whose interrupt this execution answers
    #: collected step events, written with the run's outcome (``exit`` durability); ``None``:
    #: each event is written as it happens
    events: list[dict[str, Any]] | None = None
    #: the run's first execution: no side effect of it can have been journaled yet
    fresh: bool = False
    stops: StopSignals | None = None  # whether the run was asked to stop (cancel, pause)

    async def boundary(self) -> None:
        """A step is about to start: :class:`RunStopped` here if the run was asked to stop."""
        if self.stops is not None:
            await self.stops.check(self.db, self.tenant_id, self.run_id)

    async def record(
        self,
        node: Node,
        status: str,
        *,
        input: Any = None,
        output: Any = None,
        error: str | None = None,
        duration_ms: int = 0,
        kind: str | None = None,
    ) -> None:
        """Record one step event of ``node`` (the only way node code writes to the timeline);
        ``kind``: the node's kind unless given (an agent's tool calls are ``tool`` events)."""
        if self.events is not None:
            self.events.append(
                {
                    "seq": next(self.event_seq),
                    "node_id": node.id,
                    "kind": kind or node.kind,
                    "status": status,
                    "input": input,
                    "output": output,
                    "error": error,
                    "duration_ms": duration_ms,
                    "at": utcnow(),
                }
            )
            return
        await record_event(
            self.db,
            self.tenant_id,
            self.run_id,
            seq=next(self.event_seq),
            node_id=node.id,
            kind=kind or node.kind,
            status=status,
            input=input,
            output=output,
            error=error,
            duration_ms=duration_ms,
        )


Update = dict[str, Any]
Execute = Callable[[Node, RunState, StepContext], Awaitable[tuple[Any, Any, Update]]]


def graph_node_name(node_id: str) -> str:
    """The graph node of a definition node."""
    return f"node_{node_id}"


def _delay(policy: RetryPolicy, attempt: int) -> float:
    wait = min(policy.initial_interval * policy.backoff ** (attempt - 1), policy.max_interval)
    return wait * (0.5 + random.random()) if policy.jitter else wait  # noqa: S311  (spreading, not secrecy)


async def _trigger(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
    data = state.get("input") or {}
    return None, data, {"nodes": {node.id: data}}


async def _action(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
    assert isinstance(node, ActionNode)
    action = ctx.actions.get(node.config.action)
    if action is None:  # the registry changed since compiling
        raise StepFailed(f"Step {node.id!r} calls {node.config.action!r}, which is not installed")
    given = resolve(node.config.input, state, f"step {node.id!r}")
    try:
        data = action.input_model.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        raise StepFailed(
            f"Step {node.id!r}: the input {where!r} of {action.name} is not valid: {first['msg']}"
        ) from None
    key = step_key(node, state, ctx)
    journaled = action.effect_for(data) in JOURNALED_EFFECTS
    if journaled and (done := await journaled_result(ctx, key)) is not None:
        result = done.result
    else:
        call = ActionContext(ctx.tenant_id, ctx.run_id, node.id, key, ctx.http)
        try:
            result = await action.run(call, data)
        except StepFailed as exc:  # name the step: "POST … answered 503" alone does not say where
            if exc.message.startswith(f"Step {node.id!r}"):
                raise
            named = TransientStepError if exc.retryable else StepFailed
            raise named(f"Step {node.id!r}: {exc.message}") from None
        if journaled:
            await write_journal(ctx.db, ctx.tenant_id, ctx.run_id, key, result)
    update: Update = {"nodes": {node.id: result}}
    if action.sets_vars and isinstance(result, dict):
        update["vars"] = result
    return given, result, update


def _condition(definition: WorkflowDefinition) -> Execute:
    async def run(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
        assert isinstance(node, ConditionNode)
        default = node.config.default
        for edge in definition.outgoing(node.id):
            if edge.to == default and edge.condition is None:
                continue
            if edge.condition is None or is_true(
                edge.condition, state, f"the way from {node.id!r} to {edge.to!r}"
            ):
                return None, {"route": edge.to}, {"nodes": {node.id: {"route": edge.to}}}
        if default is None:
            raise StepFailed(f"Step {node.id!r}: no condition held and there is no default way on")
        return None, {"route": default}, {"nodes": {node.id: {"route": default}}}

    return run


async def _approval(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
    assert isinstance(node, ApprovalNode)
    config = node.config
    title = resolve(config.title, state, f"step {node.id!r}", "title")
    details = {
        label: evaluate(source, state, f"the detail {label!r} of {node.id!r}")
        for label, source in config.details.items()
    }
    opened = await open_approval(
        ctx.db,
        ctx.tenant_id,
        ctx.run_id,
        node.id,
        visit=visit_of(node, state),
        title=title if isinstance(title, str) else str(title),
        details=details,
        role=config.role,
        timeout_seconds=None if config.timeout is None else duration_seconds(config.timeout),
        default_outcome=config.default_outcome,
    )
    given = {"approval_id": str(opened.id)}
    if record_waiting(opened.created, node, ctx):
        await ctx.record(node, "waiting", input=given)
    answer = interrupt(given | {"node_id": node.id})  # the first time: the run stops here
    output = {key: answer.get(key) for key in ("outcome", "comment", "decided_by")}
    return given, output, {"nodes": {node.id: output}}


async def _wait(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
    assert isinstance(node, WaitNode)
    config = node.config
    if config.event is not None:
        return await wait_for_event(node, state, ctx)
    now = utcnow()
    if config.duration is not None:
        due = now + timedelta(seconds=duration_seconds(config.duration))
    else:
        assert config.until is not None
        value = evaluate(config.until, state, f"the time of {node.id!r}")
        due = parse_due(value, node.id, config.until)
    given = {"due": due.astimezone(UTC).isoformat()}
    if due <= now:
        output = given | {"woke_at": now.isoformat()}
        return given, output, {"nodes": {node.id: output}}
    wake: dict[str, Any] = {"node_id": node.id, "wake_at": given["due"]}
    timeout = None if config.timeout is None else duration_seconds(config.timeout)
    if timeout is not None and (deadline := now + timedelta(seconds=timeout)) < due:
        wake |= {"wake_at": deadline.astimezone(UTC).isoformat(), "gives_up": True}
    if node.id not in ctx.resumed:
        await ctx.record(node, "waiting", input=given)
    # The first time the run stops here; the due time kept is this interrupt's (see _waits).
    answer = interrupt(wake)
    if answer.get("gave_up"):
        raise StepFailed(
            f"Step {node.id!r} waited {spoken_duration(timeout or 0)} for {given['due']} and gave up"
        )
    output = {"due": answer.get("due"), "woke_at": answer.get("woke_at")}
    return {"due": answer.get("due")}, output, {"nodes": {node.id: output}}


async def _subworkflow(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
    assert isinstance(node, SubworkflowNode)
    return await run_subworkflow(node, cast(dict[str, Any], state), ctx)


async def _end(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
    assert isinstance(node, EndNode)
    output = {
        key: evaluate(source, state, f"the output {key!r} of {node.id!r}")
        for key, source in node.config.output.items()
    }
    end = {"node": node.id, "outcome": node.config.outcome, "output": output}
    return None, output, {"nodes": {node.id: output}, "end": end}


def _step(node: Node, execute: Execute) -> Callable[[RunState, Runtime[StepContext]], Awaitable[Update]]:
    """The graph node: run the step (with its retry policy), record its event, return the update."""

    async def step(state: RunState, runtime: Runtime[StepContext]) -> Update:
        ctx = runtime.context
        await ctx.boundary()
        policy = node.retry
        attempts = policy.max_attempts if policy else 1
        started = time.perf_counter()

        async def record(status: str, given: Any, *, output: Any = None, error: str | None = None) -> None:
            await ctx.record(
                node,
                status,
                input=given,
                output=output,
                error=error,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )

        visits = {node.id: visit_of(node, state)}
        attempt = 0
        while True:
            attempt += 1
            given: Any = None
            try:
                given, output, update = await execute(node, state, ctx)
            except SMEFlowError as exc:
                if exc.retryable and attempt < attempts and policy is not None:
                    await asyncio.sleep(_delay(policy, attempt))
                    continue
                message = exc.message if attempt == 1 else f"{exc.message} (tried {attempt} times)"
                await record("failed", given, error=message)
                if node.on_error is not None:
                    return {"failed": {node.id: message}, "visits": visits}
                raise StepFailed(message) from None
            await record("succeeded", given, output=output)
            if node.on_error is not None and (state.get("failed") or {}).get(node.id):
                # It failed on an earlier pass of a loop: this pass must not route to on_error.
                update = {**update, "failed": {node.id: None}}
            return {**update, "visits": visits}

    return step


def _router(definition: WorkflowDefinition, node: Node) -> Callable[[RunState], list[str]]:
    edges = definition.outgoing(node.id)

    def route(state: RunState) -> list[str]:
        if (state.get("failed") or {}).get(node.id) and node.on_error is not None:
            return [graph_node_name(node.on_error)]
        if isinstance(node, ConditionNode):
            return [graph_node_name(state["nodes"][node.id]["route"])]
        targets = [
            graph_node_name(edge.to)
            for edge in edges
            if edge.condition is None
            or is_true(edge.condition, state, f"the way from {node.id!r} to {edge.to!r}")
        ]
        if not targets:
            raise StepFailed(f"None of the ways on from step {node.id!r} applies")
        return targets

    return route


def _refuse(
    definition: WorkflowDefinition, actions: ActionRegistry, agents: AgentRegistry, senders: SenderRegistry
) -> None:
    problems: list[FieldProblem] = []
    for index, node in enumerate(definition.nodes):
        if node.kind not in SUPPORTED_KINDS:
            problems.append(
                FieldProblem(
                    f"definition.nodes[{index}].kind",
                    f"{node.kind} steps are not supported by the runtime yet (step {node.id!r})",
                    "not_supported",
                )
            )
        elif isinstance(node, SubworkflowNode) and node.config.workflow == definition.name:
            problems.append(
                FieldProblem(
                    f"definition.nodes[{index}].config.workflow",
                    f"step {node.id!r} runs its own workflow {definition.name!r}; a workflow cannot be "
                    "its own sub-workflow",
                    "self_subworkflow",
                )
            )
        elif isinstance(node, ActionNode) and actions.get(node.config.action) is None:
            problems.append(
                FieldProblem(
                    f"definition.nodes[{index}].config.action",
                    f"no action named {node.config.action!r} is installed",
                    "unknown_action",
                )
            )
        elif isinstance(node, AgentNode) and agents.get(node.config.agent) is None:
            problems.append(
                FieldProblem(
                    f"definition.nodes[{index}].config.agent",
                    f"no agent named {node.config.agent!r} is installed (step {node.id!r})",
                    "unknown_agent",
                )
            )
        elif isinstance(node, SendMessageNode):
            problems.extend(_sender_problems(index, node, senders))
    problems.extend(money_problems(definition, actions))
    if problems:
        raise UnsupportedNode("; ".join(p.message for p in problems), fields=problems)


def _sender_problems(index: int, node: SendMessageNode, senders: SenderRegistry) -> list[FieldProblem]:
    channel = node.config.channel
    sender = senders.get(channel)
    if sender is None:
        return [
            FieldProblem(
                f"definition.nodes[{index}].config.channel",
                f"no sender for the {channel} channel is installed (step {node.id!r})",
                "unknown_channel",
            )
        ]
    if node.config.template is not None and not sender.renders_templates:
        return [
            FieldProblem(
                f"definition.nodes[{index}].config.template",
                f"the {channel} sender cannot send templates; give step {node.id!r} a text instead",
                "not_supported",
            )
        ]
    return []


def build_graph(
    definition: WorkflowDefinition,
    actions: ActionRegistry,
    *,
    agents: AgentRegistry | None = None,
    senders: SenderRegistry | None = None,
) -> StateGraph[Any, Any, Any, Any]:
    """The (uncompiled) graph of ``definition``; :class:`UnsupportedNode` if it uses a node kind
    the runtime cannot run yet, an action or agent that is not installed, or a channel with no
    sender (every such step is named). ``agents``: the built-in ones if not given; ``senders``:
    none if not given."""
    agents = default_agents() if agents is None else agents
    senders = SenderRegistry() if senders is None else senders
    _refuse(definition, actions, agents, senders)
    executors: dict[str, Execute] = {
        "trigger": _trigger,
        "action": _action,
        "condition": _condition(definition),
        "approval": _approval,
        "form": form_step,
        "wait": _wait,
        "agent": agent_step(agents),
        "send_message": send_message_step(senders),
        "subworkflow": _subworkflow,
        "end": _end,
    }
    graph: StateGraph[Any, Any, Any, Any] = StateGraph(RunState, context_schema=StepContext)
    for node in definition.nodes:
        graph.add_node(graph_node_name(node.id), cast(Any, _step(node, executors[node.kind])))
    graph.add_edge(START, graph_node_name(definition.trigger_node.id))
    for node in definition.nodes:
        name = graph_node_name(node.id)
        if isinstance(node, EndNode):
            graph.add_edge(name, END)
            continue
        edges = definition.outgoing(node.id)
        simple = not isinstance(node, ConditionNode) and node.on_error is None
        if simple and len(edges) == 1 and edges[0].condition is None:
            graph.add_edge(name, graph_node_name(edges[0].to))
            continue
        targets = {edge.to for edge in edges}
        if node.on_error is not None:
            targets.add(node.on_error)
        if isinstance(node, ConditionNode) and node.config.default is not None:
            targets.add(node.config.default)
        graph.add_conditional_edges(
            name, _router(definition, node), sorted(graph_node_name(t) for t in targets)
        )
    return graph


__all__ = [
    "SUPPORTED_KINDS",
    "Execute",
    "RunState",
    "StepContext",
    "Update",
    "build_graph",
    "graph_node_name",
]
