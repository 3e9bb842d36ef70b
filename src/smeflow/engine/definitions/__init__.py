"""Workflow definitions: the JSON format of a workflow (triggers, nodes, edges), its validation
and the diff of two versions. Pure code: no LangGraph, web framework or database here.

Key contracts:

* :func:`validate_definition` reports *every* problem, each with a JSON path
  (``nodes[3].config.timeout``) and a stable code (:data:`PROBLEM_CODES`); it never raises.
  :func:`parse_definition` returns a :class:`WorkflowDefinition` only when there are none.
* Expressions are CEL. Expression fields (edge conditions, ``end.output``, ``wait.until``,
  ``approval.details``, ``send_message.to``/``language``) hold CEL text; in value fields
  (``input`` mappings, ``send_message.text``/``variables``, ``approval.title``) a string
  starting with ``=`` is CEL and anything else a literal (``==`` escapes a leading ``=``).
* Durations are seconds (a positive number) or ISO-8601 (``PT15M``, ``P1DT2H``; no years or
  months). Schedules are five-field cron in an IANA time zone (the tenant's when the trigger
  names none); :func:`next_fire` / :func:`latest_fire` compute their fire times, DST-correct.
* :func:`check_answers` checks a person's answers to a form against its fields (every problem,
  at ``answers.<name>``) and normalises them; the rules per field type are in ``_answers``.
* No implicit end: every node but ``end`` needs an outgoing edge; every cycle must pass through
  a ``wait``, ``form`` or ``approval`` node.
"""

from smeflow.engine.definitions._answers import NATIONAL_ID_KINDS, check_answers
from smeflow.engine.definitions._common import (
    EVENT_PATTERN,
    ID_PATTERN,
    MAX_EDGES,
    MAX_NODES,
    RetryPolicy,
)
from smeflow.engine.definitions._cron import (
    CronSchedule,
    is_timezone,
    latest_fire,
    next_fire,
    parse_cron,
    time_zone,
)
from smeflow.engine.definitions._definition import (
    SCHEMA_VERSION,
    TRIGGER_KINDS,
    ActionNode,
    AgentNode,
    ApprovalNode,
    ConditionNode,
    Edge,
    EndNode,
    EventTrigger,
    FormNode,
    ManualTrigger,
    Node,
    ScheduleTrigger,
    SendMessageNode,
    SubworkflowNode,
    Trigger,
    TriggerNode,
    WaitNode,
    WebhookTrigger,
    WorkflowDefinition,
)
from smeflow.engine.definitions._diff import definition_diff
from smeflow.engine.definitions._durations import duration_seconds, parse_iso_duration
from smeflow.engine.definitions._expressions import expression_error, value_expression, value_literal
from smeflow.engine.definitions._nodes import (
    FORM_FIELD_TYPES,
    NODE_KINDS,
    PAUSE_KINDS,
    ActionConfig,
    AgentConfig,
    ApprovalConfig,
    ConditionConfig,
    EndConfig,
    FormConfig,
    FormField,
    NodeKind,
    SendMessageConfig,
    SubworkflowConfig,
    TriggerConfig,
    WaitConfig,
    WaitEvent,
    node_kind_schemas,
)
from smeflow.engine.definitions._validate import (
    PROBLEM_CODES,
    DefinitionProblem,
    format_path,
    parse_definition,
    validate_definition,
)

__all__ = [
    "EVENT_PATTERN",
    "FORM_FIELD_TYPES",
    "ID_PATTERN",
    "MAX_EDGES",
    "MAX_NODES",
    "NATIONAL_ID_KINDS",
    "NODE_KINDS",
    "PAUSE_KINDS",
    "PROBLEM_CODES",
    "SCHEMA_VERSION",
    "TRIGGER_KINDS",
    "ActionConfig",
    "ActionNode",
    "AgentConfig",
    "AgentNode",
    "ApprovalConfig",
    "ApprovalNode",
    "ConditionConfig",
    "ConditionNode",
    "CronSchedule",
    "DefinitionProblem",
    "Edge",
    "EndConfig",
    "EndNode",
    "EventTrigger",
    "FormConfig",
    "FormField",
    "FormNode",
    "ManualTrigger",
    "Node",
    "NodeKind",
    "RetryPolicy",
    "ScheduleTrigger",
    "SendMessageConfig",
    "SendMessageNode",
    "SubworkflowConfig",
    "SubworkflowNode",
    "Trigger",
    "TriggerConfig",
    "TriggerNode",
    "WaitConfig",
    "WaitEvent",
    "WaitNode",
    "WebhookTrigger",
    "WorkflowDefinition",
    "check_answers",
    "definition_diff",
    "duration_seconds",
    "expression_error",
    "format_path",
    "is_timezone",
    "latest_fire",
    "next_fire",
    "node_kind_schemas",
    "parse_cron",
    "parse_definition",
    "parse_iso_duration",
    "time_zone",
    "validate_definition",
    "value_expression",
    "value_literal",
]
