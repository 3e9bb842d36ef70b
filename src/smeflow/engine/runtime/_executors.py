"""The executors of ``form``, ``agent`` and ``send_message`` nodes (the other kinds' are in
:mod:`._compiler`, which wraps each in ``_step``: retries, the step's event, ``on_error``).

* ``form``: opens the run's form for the node (once) and interrupts (``waiting``) until it is
  answered; output ``{"answers": {...}, "answered_by"}``.
* ``agent``: asks the named agent with the resolved input; the reply is journaled (key run +
  node, its cost added to the run's in the same transaction), so a re-executed step reuses it and
  never pays twice. Below the step's ``confidence_threshold`` it opens an approval (role
  ``review_role``) and interrupts: approved, the proposal is the output; rejected, the step fails
  (its ``on_error`` can route to a person). ``nodes.<id>`` (and ``vars.<output_key>``) hold the
  reply's output; the step's event shows the whole reply (confidence, model, cost, tokens).
* ``send_message``: sends through the channel's sender with the idempotency key run + node; the
  result is journaled, so a journaled message is never sent again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from langgraph.types import interrupt

from smeflow.engine.definitions import AgentNode, FormNode, Node, SendMessageNode
from smeflow.engine.runtime._agent_tools import agent_toolbox
from smeflow.engine.runtime._agents import AgentCall, AgentRegistry, AgentReply, AgentRequest
from smeflow.engine.runtime._approvals import open_approval
from smeflow.engine.runtime._cel import evaluate, resolve
from smeflow.engine.runtime._errors import StepFailed, TransientStepError
from smeflow.engine.runtime._forms import open_form
from smeflow.engine.runtime._messages import OutboundMessage, SendCall, SenderRegistry
from smeflow.engine.runtime._records import read_journal, write_journal
from smeflow.engine.runtime._visits import journaled_result, record_waiting, step_key, visit_of

if TYPE_CHECKING:
    from smeflow.engine.runtime._compiler import Execute, RunState, StepContext, Update

TITLE_MAX = 200
TEXT_MAX = 4096


def _named(exc: StepFailed, node_id: str) -> StepFailed:
    """``exc`` with the step named (a sender's "the provider refused" alone does not say where)."""
    if exc.message.startswith(f"Step {node_id!r}"):
        return exc
    named = TransientStepError if exc.retryable else StepFailed
    return named(f"Step {node_id!r}: {exc.message}")


async def form_step(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
    assert isinstance(node, FormNode)
    config = node.config
    opened = await open_form(
        ctx.db,
        ctx.tenant_id,
        ctx.run_id,
        node.id,
        visit=visit_of(node, state),
        title=config.title,
        fields=[field.model_dump(mode="json", exclude_none=True) for field in config.fields],
    )
    given = {"form_id": str(opened.id)}
    if opened.answer is not None:  # answered already (resumed, or re-executed from an older checkpoint)
        output = opened.answer
    else:
        if record_waiting(opened.created, node, ctx):
            await ctx.record(node, "waiting", input=given)
        answer = interrupt(given | {"node_id": node.id})  # the first time: the run stops here
        output = {"answers": answer.get("answers"), "answered_by": answer.get("answered_by")}
    return given, output, {"nodes": {node.id: output}}


def _language(given: dict[str, Any], state: RunState) -> str | None:
    for source in (given, state.get("input") or {}):
        language = source.get("language")
        if isinstance(language, str) and language:
            return language
    return None


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def _ask(
    agent_name: str,
    agents: AgentRegistry,
    node: AgentNode,
    given: dict[str, Any],
    state: RunState,
    ctx: StepContext,
) -> AgentReply:
    """The agent's reply: the journaled one, or a new one (journaled, its cost counted, on return)."""
    key = step_key(node, state, ctx)
    done = await journaled_result(ctx, key)
    if done is not None:
        return AgentReply.from_json(done.result)
    agent = agents.get(agent_name)
    if agent is None:  # the registry changed since compiling
        raise StepFailed(f"Step {node.id!r} asks the agent {agent_name!r}, which is not installed")
    request = AgentRequest(
        node.config.instructions, given, ctx.tenant_id, ctx.run_id, _language(given, state), agent_name
    )
    try:
        call = AgentCall(
            ctx.tenant_id,
            ctx.run_id,
            node.id,
            key,
            ctx.http,
            journal=StepJournal(ctx),
            toolbox_for=lambda names, review: agent_toolbox(node, state, ctx, key, names, review),
        )
        reply = await agent.run(call, request)
    except StepFailed as exc:
        raise _named(exc, node.id) from None
    problem = reply.problem()
    if problem is None:
        try:
            json.dumps(reply.output, allow_nan=False)
        except (TypeError, ValueError):
            problem = "its output is not JSON"
    if problem is not None:
        raise StepFailed(
            f"Step {node.id!r}: the agent {agent_name!r} gave a reply that cannot be used: {problem}"
        )
    await write_journal(
        ctx.db, ctx.tenant_id, ctx.run_id, key, reply.to_json(), cost_micros=reply.cost_micros
    )
    return reply


class StepJournal:
    """The run's journal as an agent sees it: what it obtained in an earlier execution of the step."""

    def __init__(self, ctx: StepContext) -> None:
        self._ctx = ctx

    async def get(self, key: str) -> Any | None:
        if self._ctx.fresh:
            return None
        done = await read_journal(self._ctx.db, self._ctx.tenant_id, self._ctx.run_id, key)
        return None if done is None else done.result

    async def put(self, key: str, value: Any) -> None:
        await write_journal(self._ctx.db, self._ctx.tenant_id, self._ctx.run_id, key, value)


def agent_step(agents: AgentRegistry) -> Execute:
    async def run(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
        assert isinstance(node, AgentNode)
        config = node.config
        given = resolve(config.input, state, f"step {node.id!r}")
        reply = await _ask(config.agent, agents, node, given, state, ctx)
        shown: dict[str, Any] = reply.to_json()
        if reply.confidence < config.confidence_threshold:
            subject = node.label or config.instructions or f"step {node.id}"
            opened = await open_approval(
                ctx.db,
                ctx.tenant_id,
                ctx.run_id,
                node.id,
                visit=visit_of(node, state),
                title=_shorten(f"The agent {config.agent} is not sure: {subject}", TITLE_MAX),
                details={"Proposed answer": reply.output, "Confidence": reply.confidence, "Input": given},
                role=config.review_role,
                timeout_seconds=None,
                default_outcome="reject",
            )
            if record_waiting(opened.created, node, ctx):
                await ctx.record(node, "waiting", input=given | {"approval_id": str(opened.id)}, output=shown)
            decision = interrupt({"approval_id": str(opened.id), "node_id": node.id})
            if decision.get("outcome") != "approved":
                raise StepFailed(
                    f"Step {node.id!r}: the agent {config.agent!r} was not sure of its answer "
                    f"(confidence {reply.confidence:.0%}, below {config.confidence_threshold:.0%}) "
                    "and the answer was rejected"
                )
            shown["approved_by"] = decision.get("decided_by")
        update: Update = {"nodes": {node.id: reply.output}}
        if config.output_key is not None:
            update["vars"] = {config.output_key: reply.output}
        return given, shown, update

    return run


def _recipient(value: Any, node_id: str, source: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise StepFailed(
            f"Step {node_id!r}: the recipient {source!r} gave {value!r}; a recipient is a phone "
            "number, an email address or a chat id"
        )
    return value.strip()


def _text(value: Any, node_id: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise StepFailed(f"Step {node_id!r}: the message's text came out as {value!r}, not a text to send")
    if len(value) > TEXT_MAX:
        raise StepFailed(
            f"Step {node_id!r}: the message's text is {len(value):,} characters long; at most "
            f"{TEXT_MAX:,} can be sent"
        )
    return value


def _language_code(value: Any, node_id: str, source: str) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return value.strip() if isinstance(value, str) else None
    raise StepFailed(
        f"Step {node_id!r}: the language {source!r} gave {value!r}, not a language code such as sw"
    )


def send_message_step(senders: SenderRegistry) -> Execute:
    async def run(node: Node, state: RunState, ctx: StepContext) -> tuple[Any, Any, Update]:
        assert isinstance(node, SendMessageNode)
        config = node.config
        where = f"step {node.id!r}"
        to = _recipient(evaluate(config.to, state, f"the recipient of {node.id!r}"), node.id, config.to)
        text = None if config.text is None else _text(resolve(config.text, state, where, "text"), node.id)
        variables: dict[str, Any] = resolve(config.variables, state, where, "variables")
        language = None
        if config.language is not None:
            found = evaluate(config.language, state, f"the language of {node.id!r}")
            language = _language_code(found, node.id, config.language)
        given: dict[str, Any] = {"channel": config.channel, "to": to, "language": language}
        given |= {"text": text} if text is not None else {"template": config.template, "variables": variables}
        key = step_key(node, state, ctx)
        if (done := await journaled_result(ctx, key)) is not None:
            result = done.result
        else:
            sender = senders.get(config.channel)
            if sender is None:  # the registry changed since compiling
                raise StepFailed(f"Step {node.id!r} sends on {config.channel}, which has no sender installed")
            message = OutboundMessage(
                channel=config.channel,
                to=to,
                idempotency_key=key,
                text=text,
                template=config.template,
                variables=variables if text is None else {},
                language=language,
            )
            try:
                sent = await sender.send(SendCall(ctx.tenant_id, ctx.run_id, node.id, ctx.http), message)
            except StepFailed as exc:
                raise _named(exc, node.id) from None
            result = {
                "channel": config.channel,
                "to": to,
                "message_id": sent.message_id,
                "status": sent.status,
            }
            await write_journal(ctx.db, ctx.tenant_id, ctx.run_id, key, result)
        return given, result, {"nodes": {node.id: result}}

    return run


__all__ = ["agent_step", "form_step", "send_message_step"]
