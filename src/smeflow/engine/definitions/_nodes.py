"""Node kinds: one pydantic config model per kind, and the :data:`NODE_KINDS` registry.

Every field carries a description: the builder renders its forms from these JSON Schemas.
Fields marked ``"x-expression": "cel"`` hold CEL source; fields marked ``"x-expression": "value"``
hold JSON values in which strings starting with ``=`` are CEL expressions (see ``_expressions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Self, get_args

from pydantic import Field, JsonValue, model_validator

from smeflow.engine.definitions._common import (
    KEY_PATTERN,
    ActionName,
    EventName,
    NodeId,
    StateKey,
    Strict,
    VersionRef,
    config_error,
)
from smeflow.engine.definitions._durations import Duration
from smeflow.engine.definitions._expressions import VALUE_FIELD, Expression

FormFieldType = Literal[
    "short_text",
    "long_text",
    "email",
    "phone",
    "number",
    "money",
    "date",
    "time",
    "datetime",
    "single_choice",
    "multiple_choice",
    "consent",
    "rating",
    "file",
    "address",
    "national_id",
    "url",
]
FORM_FIELD_TYPES: tuple[str, ...] = get_args(FormFieldType)
_CHOICE_TYPES = ("single_choice", "multiple_choice")
_RANGE_TYPES = ("number", "money", "rating")
Channel = Literal["whatsapp", "sms", "ussd", "web", "voice", "email"]
Role = Literal["owner", "admin", "staff"]
_VALUES = 'literals, or strings starting with "=" that are CEL expressions'


class TriggerConfig(Strict):
    """The run's entry point. How runs start (webhook, schedule, event, by hand) is the
    definition's ``triggers`` list; the run's input is checked against ``input_schema``."""


class EndConfig(Strict):
    """The run ends here."""

    outcome: Literal["succeeded", "failed"] = Field(
        "succeeded", description="how the run ends: an error branch may end it as failed"
    )
    output: dict[str, Expression] = Field(
        default_factory=dict, description="the run's output: key → CEL expression computing its value"
    )


class ActionConfig(Strict):
    """Calls a registered action (a connector operation); the action declares its own effect."""

    action: ActionName = Field(description="the registered action's name, such as core.set or mpesa.stk_push")
    input: dict[str, JsonValue] = Field(
        default_factory=dict,
        description=f"the action's input: {_VALUES}",
        json_schema_extra=VALUE_FIELD,
    )
    unattended: bool = Field(
        False,
        description="let an action that moves money run without an approval step before it (for "
        "example a payment request the customer confirms with their own PIN)",
    )


class ConditionConfig(Strict):
    """A router: takes the first outgoing edge (in list order) whose condition is true, else the
    edge to ``default``. Every outgoing edge except the one to ``default`` carries a condition."""

    default: NodeId | None = Field(None, description="the node to go to when no condition is true")


class ApprovalConfig(Strict):
    """Pauses the run until a person with ``role`` (or above) approves or rejects."""

    title: str = Field(
        min_length=1,
        max_length=200,
        description='what is to be approved; may be a CEL expression starting with "="',
        json_schema_extra=VALUE_FIELD,
    )
    details: dict[str, Expression] = Field(
        default_factory=dict, description="what the approver sees: label → CEL expression giving the value"
    )
    role: Role = Field("admin", description="the least role that may decide (owner > admin > staff)")
    timeout: Duration | None = Field(
        None, description="decide by default after this long: seconds or an ISO-8601 duration such as P1D"
    )
    default_outcome: Literal["approve", "reject"] = Field(
        "reject", description="the decision taken when the timeout passes"
    )


class FormField(Strict):
    """One question of a form."""

    name: StateKey = Field(description="the key the answer is stored under")
    type: FormFieldType = Field(description="what kind of answer is asked for")
    label: str = Field(min_length=1, max_length=300, description="the question as shown to the person")
    required: bool = Field(True, description="whether an answer is needed to go on")
    help: str | None = Field(None, max_length=1000, description="a hint shown with the question")
    options: list[str] | None = Field(
        None, min_length=1, max_length=100, description="the choices, for single_choice and multiple_choice"
    )
    min: float | None = Field(None, description="the smallest number accepted, for number, money and rating")
    max: float | None = Field(None, description="the largest number accepted, for number, money and rating")
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of a money field, such as KES or NGN"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type in _CHOICE_TYPES and not self.options:
            raise config_error(f"a {self.type} field needs options")
        if self.type not in _CHOICE_TYPES and self.options is not None:
            raise config_error("only single_choice and multiple_choice fields have options")
        if self.type not in _RANGE_TYPES and (self.min is not None or self.max is not None):
            raise config_error("only number, money and rating fields have min and max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise config_error("min is larger than max")
        if self.currency is not None and self.type != "money":
            raise config_error("only money fields have a currency")
        return self


class FormConfig(Strict):
    """Asks a person for the fields (on the run's channel) and pauses until they answer."""

    title: str | None = Field(None, max_length=200, description="shown above the questions")
    fields: list[FormField] = Field(min_length=1, max_length=50, description="the questions, in order")

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [field.name for field in self.fields]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise config_error(f"field names must be unique; repeated: {', '.join(repeated)}")
        return self


class WaitEvent(Strict):
    """An event the run waits for."""

    name: EventName = Field(description="the event's name, such as payment.succeeded")
    match: Expression | None = Field(
        None, description="CEL over `event` (and the run's state): only a matching event resumes the run"
    )


class WaitConfig(Strict):
    """Pauses the run for a duration, until a time, or until an event arrives (exactly one)."""

    duration: Duration | None = Field(None, description="seconds, or an ISO-8601 duration such as PT2H")
    until: Expression | None = Field(None, description="CEL expression giving the time to resume at")
    event: WaitEvent | None = Field(None, description="the event to wait for")
    timeout: Duration | None = Field(
        None, description="for until and event waits: give up after this long (the node then fails)"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [name for name in ("duration", "until", "event") if getattr(self, name) is not None]
        if len(given) != 1:
            raise config_error("a wait needs exactly one of duration, until or event")
        if self.timeout is not None and self.duration is not None:
            raise config_error("a timeout applies to until and event waits, not to a duration")
        return self


class AgentConfig(Strict):
    """Asks an agent (an LLM, or the offline understanding layer) to do a task."""

    agent: str = Field(min_length=1, max_length=200, description="the agent's name or id")
    instructions: str | None = Field(
        None, max_length=8000, description="what the agent should do at this step"
    )
    input: dict[str, JsonValue] = Field(
        default_factory=dict,
        description=f"what the agent is given: {_VALUES}",
        json_schema_extra=VALUE_FIELD,
    )
    output_key: StateKey | None = Field(
        None, description="the state key the agent's answer is stored under; the node id if not given"
    )
    confidence_threshold: float = Field(
        0.7, ge=0, le=1, description="below this confidence the agent asks a person instead of answering"
    )
    review_role: Role = Field(
        "staff", description="the least role that may approve an answer the agent is not sure of"
    )


class SendMessageConfig(Strict):
    """Sends one message on a channel: a named template with variables, or a text."""

    channel: Channel = Field(description="the channel to send on")
    to: Expression = Field(description="CEL expression giving the recipient (phone number, email, chat id)")
    template: str | None = Field(
        None, pattern=KEY_PATTERN, description="the message template's name (translated per language)"
    )
    variables: dict[str, JsonValue] = Field(
        default_factory=dict,
        description=f"the template's variables: {_VALUES}",
        json_schema_extra=VALUE_FIELD,
    )
    text: str | None = Field(
        None,
        min_length=1,
        max_length=4096,
        description='the text to send when there is no template; may be a CEL expression starting with "="',
        json_schema_extra=VALUE_FIELD,
    )
    language: Expression | None = Field(
        None, description="CEL expression giving the language code; the contact's language if not given"
    )

    @model_validator(mode="after")
    def _template_or_text(self) -> Self:
        if (self.template is None) == (self.text is None):
            raise config_error("a message needs either a template or a text, not both")
        if self.variables and self.template is None:
            raise config_error("variables are for templates; a text has none")
        return self


class SubworkflowConfig(Strict):
    """Runs another workflow of the tenant and continues with its output."""

    workflow: str = Field(min_length=1, max_length=200, description="the other workflow's name or id")
    version: VersionRef = Field("latest", description='a published version number, or "latest"')
    input: dict[str, JsonValue] = Field(
        default_factory=dict,
        description=f"the other workflow's input: {_VALUES}",
        json_schema_extra=VALUE_FIELD,
    )


@dataclass(frozen=True, slots=True)
class NodeKind:
    """A kind of node: its config model, a one-line description, whether it pauses the run
    (waits for time or a person, so a loop through it is not a busy loop), and which config
    fields are value fields (``=`` expressions inside)."""

    name: str
    config: type[Strict]
    description: str
    pauses: bool = False
    value_fields: tuple[str, ...] = ()


NODE_KINDS: Mapping[str, NodeKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            NodeKind("trigger", TriggerConfig, "Where the run starts; exactly one per workflow."),
            NodeKind("action", ActionConfig, "Call a connector action.", value_fields=("input",)),
            NodeKind("condition", ConditionConfig, "Route to the first outgoing edge whose condition holds."),
            NodeKind("approval", ApprovalConfig, "Ask a person to approve or reject.", True, ("title",)),
            NodeKind("form", FormConfig, "Ask a person for answers to a few questions.", pauses=True),
            NodeKind("wait", WaitConfig, "Wait for a duration, until a time, or for an event.", pauses=True),
            NodeKind("agent", AgentConfig, "Let an agent do a task.", value_fields=("input",)),
            NodeKind(
                "send_message",
                SendMessageConfig,
                "Send a message on WhatsApp, SMS, USSD, web, voice or email.",
                value_fields=("text", "variables"),
            ),
            NodeKind("subworkflow", SubworkflowConfig, "Run another workflow.", value_fields=("input",)),
            NodeKind("end", EndConfig, "End the run, with its output."),
        )
    }
)
PAUSE_KINDS = frozenset(name for name, kind in NODE_KINDS.items() if kind.pauses)


def node_kind_schemas() -> dict[str, dict[str, Any]]:
    """Each node kind's config JSON Schema (for ``GET /api/v1/node-kinds`` and the builder),
    with the kind's one-line description and ``x-pauses`` (whether a loop through it may repeat)."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, kind in NODE_KINDS.items():
        schema = kind.config.model_json_schema()
        schema["title"] = name
        schema["description"] = kind.description
        schema["x-pauses"] = kind.pauses
        schemas[name] = schema
    return schemas
