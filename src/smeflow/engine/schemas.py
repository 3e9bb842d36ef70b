"""Workflows and their runs in and out of the API: drafts, published versions, their problems and
differences; runs and their step timelines; the approvals and forms runs wait for; webhook
calls and secrets; emitted events."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from smeflow.engine.definitions import EVENT_PATTERN, DefinitionProblem
from smeflow.engine.models import Workflow, WorkflowVersion

MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_NOTE_LENGTH = 1000
MAX_VERSION = 2**31 - 1  # a version number fits the database's integer
MAX_ORDER_KEY_LENGTH = 200

WorkflowStatus = Literal["draft", "active", "archived"]
RunStatus = Literal["queued", "running", "waiting", "paused", "succeeded", "failed", "cancelled"]
WorkflowName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME_LENGTH)
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH)]

_DEFINITION = (
    "the workflow definition (nodes and edges) as the builder edits it; may be invalid while a draft"
)


class WorkflowCreate(BaseModel):
    """A new workflow; its definition is saved as the draft even if it is not valid yet."""

    model_config = ConfigDict(extra="forbid")

    name: WorkflowName = Field(description="unique in the tenant")
    description: Description = ""
    definition: dict[str, Any] = Field(default_factory=dict, description=_DEFINITION)


class WorkflowUpdate(BaseModel):
    """Changes to a workflow's name, description or draft; absent (or null) fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: WorkflowName | None = None
    description: Description | None = None
    definition: dict[str, Any] | None = Field(default=None, description=_DEFINITION)


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = Field(default="", description="what changed, for the version history")


class ProblemOut(BaseModel):
    """One problem of a draft definition: where (a path inside the definition), a stable code, and
    a readable message."""

    path: str
    code: str
    message: str

    @classmethod
    def of(cls, problem: DefinitionProblem) -> ProblemOut:
        return cls(path=problem.path, code=problem.code, message=problem.message)


class WorkflowSummaryOut(BaseModel):
    """A workflow without its draft (what lists show)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    status: WorkflowStatus
    latest_version: int | None = Field(description="the newest published version; null until published")
    created_at: datetime
    created_by: str = Field(description='who created it: "user:<id>", "api_key:<id>" or "system:<name>"')
    updated_at: datetime
    updated_by: str


class WorkflowOut(WorkflowSummaryOut):
    """A workflow with its draft definition and the draft's problems (empty: it can be published)."""

    definition: dict[str, Any] = Field(description="the draft")
    problems: list[ProblemOut]

    @classmethod
    def of(cls, workflow: Workflow, problems: Iterable[DefinitionProblem]) -> WorkflowOut:
        summary = WorkflowSummaryOut.model_validate(workflow)
        return cls(
            **summary.model_dump(),
            definition=workflow.draft_definition,
            problems=[ProblemOut.of(p) for p in problems],
        )


class VersionSummaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    workflow_id: uuid.UUID
    version: int
    published_at: datetime
    published_by: str
    note: str


class VersionOut(VersionSummaryOut):
    """A published version: immutable, what runs of this version execute."""

    definition: dict[str, Any]

    @classmethod
    def of(cls, version: WorkflowVersion) -> VersionOut:
        return cls.model_validate(version)


class DiffOut(BaseModel):
    workflow_id: uuid.UUID
    from_version: int
    to_version: int
    changes: list[dict[str, Any]] = Field(description="what changed from one version to the other")


class NodeKindsOut(BaseModel):
    kinds: dict[str, dict[str, Any]] = Field(
        description="node kind → its JSON Schema (the builder renders its forms from them)"
    )


class RunCreate(BaseModel):
    """A manual run: the input the trigger hands the workflow, and which published version."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(default_factory=dict, description="what the trigger gives the run")
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)] | None = Field(
        default=None, description="a published version; null: the newest"
    )
    order_key: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ORDER_KEY_LENGTH)] | None = (
        Field(
            default=None,
            description="runs with the same key (such as conversation:<id>) execute one at a time, in "
            "the order they were accepted; a run waiting for a person or a time lets the next one go",
        )
    )


class RunSummaryOut(BaseModel):
    """A run without its input and output (what lists show)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    workflow_id: uuid.UUID
    version: int
    status: RunStatus
    error: str | None = Field(description="why the run failed, in words the tenant understands")
    cost_micros: int = Field(description="what the run cost, in millionths of the billing currency unit")
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    parent_run_id: uuid.UUID | None = Field(
        default=None, description="for a sub-workflow run: the run whose step started it"
    )
    parent_node_id: str | None = Field(default=None, description="and that step")
    order_key: str | None = Field(description="runs with the same key execute one at a time, in order")
    stop_request: Literal["cancel", "pause"] | None = Field(
        description="asked of the running run; it stops at its next step"
    )
    stopped_by: str | None = Field(description="who cancelled or paused the run (or asked to)")
    stopped_at: datetime | None = Field(description="when they did")


class RunOut(RunSummaryOut):
    """One run with what it was given and what it gave back."""

    input: dict[str, Any]
    output: dict[str, Any] | None = Field(description="the end step's output; null until it ends")


class RunEventOut(BaseModel):
    """One step of a run's timeline."""

    model_config = ConfigDict(from_attributes=True)

    seq: int
    node_id: str
    kind: str
    status: str
    input: Any | None
    output: Any | None
    error: str | None
    duration_ms: int
    at: datetime


class RunEventsOut(BaseModel):
    """A run's timeline: its steps in the order they ran."""

    run_id: uuid.UUID
    items: list[RunEventOut]


class HookAcceptedOut(BaseModel):
    """The run a webhook call started (202), or the first run of a repeated Idempotency-Key (200)."""

    run_id: uuid.UUID
    status: RunStatus = Field(description="queued when just started; the first run's status when repeated")


class WebhookSecretOut(BaseModel):
    """A workflow's new webhook secret: shown this once, never again."""

    workflow_id: uuid.UUID
    secret: str = Field(description="sign calls with it: sha256=<hex HMAC-SHA256(secret, timestamp.body)>")
    url: str = Field(description="where other systems send their calls (POST)")
    created_at: datetime


ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "cancelled"]
MAX_COMMENT_LENGTH = 2000


class ApprovalDecisionIn(BaseModel):
    """A person's decision on a pending approval."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approve", "reject"] = Field(description="approve or reject")
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT_LENGTH)] | None = Field(
        default=None, description="why, for the run and the audit log"
    )


class ApprovalOut(BaseModel):
    """A decision a waiting run asks of a person: what, who may decide, by when, and the decision."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID
    node_id: str
    title: str
    details: dict[str, Any] = Field(description="what the person deciding needs to see: label → value")
    role: Literal["owner", "admin", "staff"] = Field(description="the least role that may decide")
    status: ApprovalStatus = Field(
        description="expired: the due time passed and the default outcome applied; cancelled: its run "
        "was cancelled"
    )
    outcome: Literal["approved", "rejected"] | None = Field(description="the decision; null while pending")
    decided_by: str | None = Field(description="user:<id>, api_key:<id> or system:<name>")
    decided_at: datetime | None
    comment: str | None
    due_at: datetime | None = Field(description="when the default outcome applies; null: never")
    default_outcome: Literal["approve", "reject"]
    created_at: datetime


FormStatus = Literal["pending", "answered"]


class FormAnswersIn(BaseModel):
    """Answers to a pending form: question name → answer (see ``fields`` of the form for what
    each question accepts)."""

    model_config = ConfigDict(extra="forbid")

    answers: dict[str, JsonValue] = Field(description="question name → answer")


class FormOut(BaseModel):
    """Questions a waiting run asks, and their answers once given."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID
    node_id: str
    title: str | None
    fields: list[dict[str, Any]] = Field(
        description="the questions in order: name, type, label, required, and options, min, max, currency"
    )
    status: FormStatus
    answers: dict[str, Any] | None = Field(
        description="question name → answer (null for an optional one left unanswered); null while pending"
    )
    answered_by: str | None = Field(description="user:<id>, api_key:<id> or system:<name>")
    answered_at: datetime | None
    created_at: datetime


MAX_EVENT_NAME_LENGTH = 128
MAX_EVENT_KEY_LENGTH = 200


class EventIn(BaseModel):
    """An event to emit in the tenant."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=EVENT_PATTERN,
        max_length=MAX_EVENT_NAME_LENGTH,
        description="what happened, as dotted words: booking.created, payment.succeeded",
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="its details: the input of the runs it starts, the `event` of the waits it reaches",
    )
    key: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)] | None = Field(
        default=None, description="an event with a key already emitted is accepted once: the first counts"
    )


class EventOut(BaseModel):
    """An emitted event and what it did."""

    id: uuid.UUID
    name: str
    payload: dict[str, Any]
    key: str | None
    created_by: str = Field(description="user:<id>, api_key:<id> or system:<name>")
    created_at: datetime
    duplicate: bool = Field(
        description="its key was emitted before: this is that event, and nothing was done"
    )
    runs_started: list[uuid.UUID] = Field(description="the runs its event triggers started")
    runs_resumed: list[uuid.UUID] = Field(description="the waiting runs it was delivered to (queued again)")
    runs_skipped: dict[uuid.UUID, str] = Field(
        default_factory=dict,
        description="workflows it triggers whose input schema its payload does not match: workflow id → why",
    )


__all__ = [
    "MAX_COMMENT_LENGTH",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_EVENT_KEY_LENGTH",
    "MAX_EVENT_NAME_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_NOTE_LENGTH",
    "MAX_ORDER_KEY_LENGTH",
    "MAX_VERSION",
    "Description",
    "ApprovalDecisionIn",
    "ApprovalOut",
    "ApprovalStatus",
    "DiffOut",
    "FormAnswersIn",
    "FormOut",
    "FormStatus",
    "HookAcceptedOut",
    "EventIn",
    "EventOut",
    "NodeKindsOut",
    "Note",
    "ProblemOut",
    "PublishIn",
    "RunCreate",
    "RunEventOut",
    "RunEventsOut",
    "RunOut",
    "RunStatus",
    "RunSummaryOut",
    "VersionOut",
    "VersionSummaryOut",
    "WebhookSecretOut",
    "WorkflowCreate",
    "WorkflowName",
    "WorkflowOut",
    "WorkflowStatus",
    "WorkflowSummaryOut",
    "WorkflowUpdate",
]
