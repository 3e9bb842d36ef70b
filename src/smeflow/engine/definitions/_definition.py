"""The workflow definition: triggers, typed nodes (one class per kind) and edges.

These models check shape only. :func:`~smeflow.engine.definitions.parse_definition` also checks
the graph (ids, edges, reachability, loops) and every expression; use it, not ``model_validate``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue

from smeflow.engine.definitions._common import (
    MAX_EDGES,
    MAX_NODES,
    CronText,
    EventName,
    NodeId,
    RetryPolicy,
    Strict,
    TimeZoneName,
)
from smeflow.engine.definitions._expressions import Expression
from smeflow.engine.definitions._nodes import (
    ActionConfig,
    AgentConfig,
    ApprovalConfig,
    ConditionConfig,
    EndConfig,
    FormConfig,
    SendMessageConfig,
    SubworkflowConfig,
    TriggerConfig,
    WaitConfig,
)

SCHEMA_VERSION = 1


class WebhookTrigger(Strict):
    """A run starts when the workflow's webhook URL is called."""

    kind: Literal["webhook"] = Field(description="the trigger kind")
    secret_required: bool = Field(True, description="callers must sign the request with the webhook secret")


class ScheduleTrigger(Strict):
    """A run starts on a cron schedule, with an empty input (see
    :mod:`smeflow.engine.definitions._cron` for daylight-saving changes)."""

    kind: Literal["schedule"] = Field(description="the trigger kind")
    cron: CronText = Field(description="five-field cron: minute hour day-of-month month day-of-week")
    timezone: TimeZoneName | None = Field(
        None,
        description="the IANA time zone the schedule is read in; none: the tenant's time zone "
        "(as it is when each fire time is computed)",
    )


class EventTrigger(Strict):
    """A run starts when an event happens in the tenant (such as booking.created)."""

    kind: Literal["event"] = Field(description="the trigger kind")
    event: EventName = Field(description="the event's name")


class ManualTrigger(Strict):
    """A run starts when someone starts it from the dashboard or the API."""

    kind: Literal["manual"] = Field(description="the trigger kind")


Trigger = Annotated[
    WebhookTrigger | ScheduleTrigger | EventTrigger | ManualTrigger, Field(discriminator="kind")
]
TRIGGER_KINDS = ("webhook", "schedule", "event", "manual")


class _NodeBase(Strict):
    id: NodeId = Field(description="unique in the workflow; edges refer to the node by it")
    label: str | None = Field(None, max_length=200, description="the name shown in the builder")
    retry: RetryPolicy | None = Field(None, description="how the node is retried when it fails")
    on_error: NodeId | None = Field(None, description="the node to go to when this node fails for good")


class TriggerNode(_NodeBase):
    kind: Literal["trigger"] = Field(description="the node kind")
    config: TriggerConfig = Field(default_factory=TriggerConfig, description="the trigger node's settings")


class ActionNode(_NodeBase):
    kind: Literal["action"] = Field(description="the node kind")
    config: ActionConfig = Field(description="the action node's settings")


class ConditionNode(_NodeBase):
    kind: Literal["condition"] = Field(description="the node kind")
    config: ConditionConfig = Field(default_factory=ConditionConfig, description="the router's settings")


class ApprovalNode(_NodeBase):
    kind: Literal["approval"] = Field(description="the node kind")
    config: ApprovalConfig = Field(description="the approval's settings")


class FormNode(_NodeBase):
    kind: Literal["form"] = Field(description="the node kind")
    config: FormConfig = Field(description="the form's settings")


class WaitNode(_NodeBase):
    kind: Literal["wait"] = Field(description="the node kind")
    config: WaitConfig = Field(description="the wait's settings")


class AgentNode(_NodeBase):
    kind: Literal["agent"] = Field(description="the node kind")
    config: AgentConfig = Field(description="the agent step's settings")


class SendMessageNode(_NodeBase):
    kind: Literal["send_message"] = Field(description="the node kind")
    config: SendMessageConfig = Field(description="the message's settings")


class SubworkflowNode(_NodeBase):
    kind: Literal["subworkflow"] = Field(description="the node kind")
    config: SubworkflowConfig = Field(description="the sub-workflow's settings")


class EndNode(_NodeBase):
    kind: Literal["end"] = Field(description="the node kind")
    config: EndConfig = Field(default_factory=EndConfig, description="the end's settings")


Node = Annotated[
    TriggerNode
    | ActionNode
    | ConditionNode
    | ApprovalNode
    | FormNode
    | WaitNode
    | AgentNode
    | SendMessageNode
    | SubworkflowNode
    | EndNode,
    Field(discriminator="kind"),
]


class Edge(Strict):
    """A way from one node to another, taken when its condition (if any) is true."""

    model_config = ConfigDict(serialize_by_alias=True)  # "from" in JSON; "from_" only in Python

    from_: NodeId = Field(alias="from", description="the node the edge leaves")
    to: NodeId = Field(description="the node the edge enters")
    condition: Expression | None = Field(
        None, description="CEL expression; the edge is taken only when it is true"
    )
    label: str | None = Field(None, max_length=200, description="the name shown on the edge in the builder")


Durability = Literal["exit", "async", "sync"]


def _default_input_schema() -> dict[str, JsonValue]:
    return {"type": "object", "properties": {}}


class WorkflowDefinition(Strict):
    """A workflow version's definition, as the builder, the API and templates exchange it."""

    schema_version: Literal[1] = Field(description="the definition format's version")
    name: str = Field(min_length=1, max_length=200, description="the workflow's name")
    input_schema: dict[str, JsonValue] = Field(
        default_factory=_default_input_schema,
        description='JSON Schema (of "type": "object") that a run\'s input must match',
    )
    triggers: list[Trigger] = Field(min_length=1, max_length=20, description="how runs of the workflow start")
    durability: Durability = Field(
        "exit",
        description=(
            "when the run's progress is checkpointed: exit (at pauses and at the end; a run whose "
            "worker dies starts again from its last pause, replaying journaled side effects — the "
            "fastest), async (after every step, in the background) or sync (after every step, "
            "before the next one)"
        ),
    )
    nodes: list[Node] = Field(max_length=MAX_NODES, description="the steps")
    edges: list[Edge] = Field(max_length=MAX_EDGES, description="the ways between steps")

    @cached_property
    def nodes_by_id(self) -> dict[str, Node]:
        """The nodes, by id."""
        return {node.id: node for node in self.nodes}

    @property
    def trigger_node(self) -> TriggerNode:
        """The entry node."""
        return next(node for node in self.nodes if isinstance(node, TriggerNode))

    def outgoing(self, node_id: str) -> list[Edge]:
        """The edges leaving ``node_id``, in definition order (a router's order of evaluation)."""
        return [edge for edge in self.edges if edge.from_ == node_id]
