"""Validation: every problem of a definition at once, each with its JSON path and a stable code.

Paths read like ``nodes[3].config.timeout``, ``edges[1].to`` or ``triggers[0].cron``; a key that
is not a plain name is quoted (``nodes[2].config.input["first name"]``); the whole definition is
the empty path ``""``. At most :data:`MAX_PROBLEMS` problems are reported (then one
``too_many_problems``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from smeflow.engine.definitions._common import MAX_EDGES, MAX_NODES
from smeflow.engine.definitions._definition import TRIGGER_KINDS, WorkflowDefinition
from smeflow.engine.definitions._expressions import expression_error, value_expressions
from smeflow.engine.definitions._graph import Issue, graph_problems
from smeflow.engine.definitions._nodes import NODE_KINDS
from smeflow.engine.definitions._schema_check import input_schema_problems
from smeflow.errors import FieldProblem, ValidationFailed

MAX_PROBLEMS = 1000

#: Every code a problem may carry (stable: clients match on them).
PROBLEM_CODES = frozenset(
    {
        # shape (from the models)
        "not_an_object",
        "missing_field",
        "unknown_field",
        "invalid_value",
        "invalid_id",
        "unknown_kind",
        "invalid_config",
        "invalid_schema",
        "invalid_cron",
        "invalid_timezone",
        "invalid_duration",
        "bad_expression",
        "too_many_nodes",
        "too_many_edges",
        # graph
        "duplicate_node",
        "missing_trigger",
        "multiple_triggers",
        "dangling_edge",
        "duplicate_edge",
        "edge_into_trigger",
        "edge_from_end",
        "missing_condition",
        "unknown_node",
        "default_not_connected",
        "unreachable_node",
        "dead_end",
        "loop_without_pause",
        "too_many_problems",
        # the workflow (checked by smeflow.engine.workflows, which knows its name and id)
        "self_subworkflow",
    }
)
# Error types our own validators raise: they are already problem codes.
_OWN_CODES = frozenset(
    {"invalid_id", "invalid_config", "invalid_cron", "invalid_timezone", "invalid_duration", "bad_expression"}
)
_TAGS = {"nodes": frozenset(NODE_KINDS), "triggers": frozenset(TRIGGER_KINDS)}
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


@dataclass(frozen=True, slots=True)
class DefinitionProblem:
    """One problem of a definition: where (a JSON path), a stable code, and a readable message."""

    path: str
    code: str
    message: str


def format_path(loc: Iterable[str | int]) -> str:
    """``("nodes", 3, "config", "timeout")`` → ``"nodes[3].config.timeout"``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _NAME.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _pydantic_issue(error: ErrorDetails) -> Issue:
    loc = list(error["loc"])
    kind = error["type"]
    if len(loc) >= 3 and loc[0] in _TAGS and isinstance(loc[1], int) and loc[2] in _TAGS[str(loc[0])]:
        del loc[2]  # the discriminated union's tag, not part of the JSON path
    where = tuple(loc)
    message = error["msg"]
    if kind == "union_tag_invalid":
        known = ", ".join(sorted(_TAGS[str(loc[0])]))
        tag = (error.get("ctx") or {}).get("tag")
        return (*where, "kind"), "unknown_kind", f"unknown kind {tag!r}; known kinds: {known}"
    if kind == "union_tag_not_found":
        known = ", ".join(sorted(_TAGS[str(loc[0])]))
        return (*where, "kind"), "missing_field", f"a kind is required: one of {known}"
    if kind == "too_long" and where == ("nodes",):
        return where, "too_many_nodes", f"a workflow has at most {MAX_NODES} nodes"
    if kind == "too_long" and where == ("edges",):
        return where, "too_many_edges", f"a workflow has at most {MAX_EDGES} edges"
    if kind in _OWN_CODES:
        return where, kind, message
    code = {"missing": "missing_field", "extra_forbidden": "unknown_field"}.get(kind, "invalid_value")
    message = {
        "missing": "this field is required",
        "extra_forbidden": "this field is not part of the format",
    }.get(kind, message)
    if len(where) >= 3 and where[0] == "nodes" and where[2] == "config":
        code = "invalid_config"  # every problem inside a node's config, so the builder can mark the form
    return where, code, message


def _value_issues(nodes: list[Any]) -> Iterable[Issue]:
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("config"), dict):
            continue
        kind = NODE_KINDS.get(node["kind"]) if isinstance(node.get("kind"), str) else None
        if kind is None:
            continue
        for name in kind.value_fields:
            for loc, source in value_expressions(node["config"].get(name), (name,)):
                error = expression_error(source)
                if error is not None:
                    yield (
                        ("nodes", i, "config", *loc),
                        "bad_expression",
                        f"not a valid CEL expression: {error}",
                    )


def _check(raw: object) -> tuple[list[DefinitionProblem], WorkflowDefinition | None]:
    if not isinstance(raw, dict):
        return [DefinitionProblem("", "not_an_object", "a workflow definition is a JSON object")], None
    issues: list[Issue] = []
    definition: WorkflowDefinition | None = None
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as exc:
        issues += [_pydantic_issue(error) for error in exc.errors(include_url=False, include_input=False)]
    schema = raw.get("input_schema")
    if isinstance(schema, dict):
        issues += [
            (("input_schema", *loc), "invalid_schema", msg) for loc, msg in input_schema_problems(schema)
        ]
    nodes, edges = raw.get("nodes"), raw.get("edges")
    if isinstance(nodes, list) and len(nodes) <= MAX_NODES:
        issues += _value_issues(nodes)
        if isinstance(edges, list) and len(edges) <= MAX_EDGES:
            issues += graph_problems(nodes, edges)  # only on a graph of sane shape and size
    problems: list[DefinitionProblem] = []
    seen: set[tuple[str, str]] = set()
    for loc, code, message in issues:
        path = format_path(loc)
        if (path, code) in seen:
            continue
        seen.add((path, code))
        if len(problems) == MAX_PROBLEMS:
            problems.append(
                DefinitionProblem("", "too_many_problems", f"only the first {MAX_PROBLEMS} are shown")
            )
            break
        problems.append(DefinitionProblem(path, code, message))
    return problems, (definition if not problems else None)


def validate_definition(raw: object) -> list[DefinitionProblem]:
    """Every problem of a raw (JSON-decoded) definition; an empty list means it is valid."""
    return _check(raw)[0]


def parse_definition(raw: object) -> WorkflowDefinition:
    """The definition, checked in full; ``ValidationFailed`` listing every problem if it is invalid."""
    problems, definition = _check(raw)
    if definition is None:
        raise ValidationFailed(
            f"The workflow definition has {len(problems)} problem{'s' if len(problems) != 1 else ''}",
            fields=[FieldProblem(p.path, p.message, p.code) for p in problems],
        )
    return definition
