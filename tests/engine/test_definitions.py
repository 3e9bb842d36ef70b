"""Workflow definitions: a realistic one parses; an invalid one reports every problem at once, each
with its JSON path and code; each problem is also found on its own, at its path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from smeflow.engine.definitions import (
    MAX_EDGES,
    MAX_NODES,
    PROBLEM_CODES,
    ApprovalNode,
    ConditionNode,
    FormNode,
    SendMessageNode,
    TriggerNode,
    WaitNode,
    WorkflowDefinition,
    duration_seconds,
    parse_definition,
    validate_definition,
)
from smeflow.errors import ValidationFailed

from .salon import salon

Raw = dict[str, Any]


def found(raw: object) -> set[tuple[str, str]]:
    problems = validate_definition(raw)
    assert all(p.code in PROBLEM_CODES and p.message for p in problems), problems
    return {(p.path, p.code) for p in problems}


def test_the_salon_funnel_parses_into_typed_nodes() -> None:
    definition = parse_definition(salon())

    assert isinstance(definition, WorkflowDefinition)
    assert [type(node) for node in definition.nodes[:6]] == [
        TriggerNode,
        FormNode,
        ConditionNode,
        ApprovalNode,
        WaitNode,
        SendMessageNode,
    ]
    assert definition.trigger_node.id == "start"
    assert [edge.to for edge in definition.outgoing("check")] == ["approve", "hold"]
    approval = definition.nodes_by_id["approve"]
    assert isinstance(approval, ApprovalNode)
    assert duration_seconds(approval.config.timeout or 0) == 4 * 3600
    confirm = definition.nodes_by_id["confirm"]
    assert confirm.retry is not None
    assert confirm.retry.max_attempts == 5
    assert confirm.on_error == "failed"


def test_a_parsed_definition_dumps_back_to_the_same_json() -> None:
    definition = parse_definition(salon())

    assert definition.model_dump(mode="json", exclude_unset=True) == salon()


ALL_AT_ONCE: Raw = {
    "schema_version": 1,
    "colour": "red",
    "input_schema": {"type": "object", "properties": {"amount": {"type": "money"}}},
    "triggers": [
        {"kind": "schedule", "cron": "61 * * * *", "timezone": "Mars/Olympus"},
        {"kind": "carrier_pigeon"},
    ],
    "nodes": [
        {"id": "start", "kind": "trigger"},
        {"id": "start2", "kind": "trigger"},
        {
            "id": "act",
            "kind": "action",
            "config": {
                "action": "http.request",
                "input": {"url": "=input.url +", "n": [1, "=("]},
                "speed": 3,
            },
            "on_error": "nowhere",
        },
        {"id": "act", "kind": "end"},
        {"id": "9bad", "kind": "end"},
        {"id": "mystery", "kind": "teleport"},
        {"id": "route", "kind": "condition", "config": {"default": "ghost"}},
        {"id": "pause", "kind": "wait", "config": {"duration": "P1M"}},
        {
            "id": "approve",
            "kind": "approval",
            "config": {"title": "ok", "details": {"amount": "input.amount >"}, "timeout": "soon"},
        },
        {
            "id": "spin1",
            "kind": "action",
            "config": {"action": "core.log"},
            "retry": {"max_attempts": 0},
            "on_error": "start",
        },
        {"id": "spin2", "kind": "action", "config": {"action": "core.set"}},
        {
            "id": "stuck",
            "kind": "send_message",
            "config": {"channel": "pigeon", "to": "input.phone", "text": "hi"},
        },
        {"id": "done", "kind": "end", "colour": "red"},
        {
            "id": "ask",
            "kind": "form",
            "config": {"fields": [{"name": "x", "type": "hologram", "label": "X"}]},
        },
        {"id": "route2", "kind": "condition", "config": {"default": "done"}},
    ],
    "edges": [
        {"from": "start", "to": "act"},
        {"from": "start2", "to": "act"},
        {"from": "act", "to": "mystery"},
        {"from": "act", "to": "route"},
        {"from": "route", "to": "pause", "condition": "input.x > 1"},
        {"from": "route", "to": "stuck"},
        {"from": "pause", "to": "approve"},
        {"from": "approve", "to": "spin1"},
        {"from": "spin1", "to": "spin2"},
        {"from": "spin2", "to": "spin1"},
        {"from": "approve", "to": "done"},
        {"from": "done", "to": "start"},
        {"from": "pause", "to": "ghost2"},
        {"from": "approve", "to": "done"},
        {"from": "approve", "to": "ask", "condition": "input.amount >>"},
        {"from": "ask", "to": "done"},
        {"from": "approve", "to": "route2"},
        {"from": "route2", "to": "pause", "condition": "true"},
    ],
}


def test_every_problem_is_reported_at_once_each_at_its_path() -> None:
    assert found(ALL_AT_ONCE) == {
        # shape
        ("name", "missing_field"),
        ("colour", "unknown_field"),
        ("input_schema.properties.amount.type", "invalid_schema"),
        ("triggers[0].cron", "invalid_cron"),
        ("triggers[0].timezone", "invalid_timezone"),
        ("triggers[1].kind", "unknown_kind"),
        ("nodes[2].config.speed", "invalid_config"),
        ("nodes[2].config.input.url", "bad_expression"),
        ("nodes[2].config.input.n[1]", "bad_expression"),
        ("nodes[4].id", "invalid_id"),
        ("nodes[5].kind", "unknown_kind"),
        ("nodes[7].config.duration", "invalid_duration"),
        ("nodes[8].config.details.amount", "bad_expression"),
        ("nodes[8].config.timeout", "invalid_duration"),
        ("nodes[9].retry.max_attempts", "invalid_value"),
        ("nodes[11].config.channel", "invalid_config"),
        ("nodes[12].colour", "unknown_field"),
        ("nodes[13].config.fields[0].type", "invalid_config"),
        ("edges[14].condition", "bad_expression"),
        # graph
        ("nodes[3].id", "duplicate_node"),
        ("nodes[1].kind", "multiple_triggers"),
        ("edges[5].condition", "missing_condition"),
        ("edges[11].to", "edge_into_trigger"),
        ("edges[11].from", "edge_from_end"),
        ("edges[12].to", "dangling_edge"),
        ("edges[13]", "duplicate_edge"),
        ("nodes[2].on_error", "unknown_node"),
        ("nodes[6].config.default", "unknown_node"),
        ("nodes[9].on_error", "edge_into_trigger"),
        ("nodes[14].config.default", "default_not_connected"),
        ("nodes[4]", "unreachable_node"),
        ("nodes[11]", "dead_end"),
        ("edges[9]", "loop_without_pause"),
    }


def test_parse_raises_validation_failed_listing_every_problem() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_definition(ALL_AT_ONCE)

    error = caught.value
    problems = validate_definition(ALL_AT_ONCE)
    assert error.code == "validation_failed"
    assert error.message == f"The workflow definition has {len(problems)} problems"
    assert [(f.field, f.code, f.message) for f in error.fields] == [
        (p.path, p.code, p.message) for p in problems
    ]


def test_messages_say_what_is_wrong() -> None:
    messages = {(p.path, p.code): p.message for p in validate_definition(ALL_AT_ONCE)}

    assert (
        "known kinds: action, agent, approval, condition, end, form"
        in messages[("nodes[5].kind", "unknown_kind")]
    )
    assert "Syntax error" in messages[("edges[14].condition", "bad_expression")]
    assert "minute: 61 is outside 0-59" in messages[("triggers[0].cron", "invalid_cron")]
    assert "spin1 → spin2" in messages[("edges[9]", "loop_without_pause")]
    assert "P30D" in messages[("nodes[7].config.duration", "invalid_duration")]


@pytest.mark.parametrize("raw", [None, [], "definition", 5, True])
def test_a_definition_must_be_an_object(raw: object) -> None:
    assert found(raw) == {("", "not_an_object")}


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        target: Any = raw
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _delete(path: tuple[str | int, ...]) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        target: Any = raw
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


def _append(key: str, *items: Raw) -> Callable[[Raw], None]:
    return lambda raw: raw[key].extend(items)


def _both(*changes: Callable[[Raw], None]) -> Callable[[Raw], None]:
    def change(raw: Raw) -> None:
        for one in changes:
            one(raw)

    return change


# salon(): nodes 0 start, 1 ask, 2 check, 3 approve, 4 hold, 5 confirm, 6 done, 7 failed; 8 edges.
ALONE: list[tuple[str, Callable[[Raw], None], set[tuple[str, str]]]] = [
    ("missing name", _delete(("name",)), {("name", "missing_field")}),
    ("unknown top field", _set(("colour",), "red"), {("colour", "unknown_field")}),
    ("schema version", _set(("schema_version",), 2), {("schema_version", "invalid_value")}),
    ("no triggers", _set(("triggers",), []), {("triggers", "invalid_value")}),
    ("nodes not a list", _set(("nodes",), {}), {("nodes", "invalid_value")}),
    (
        "schema property type",
        _set(("input_schema", "properties", "amount", "type"), "money"),
        {("input_schema.properties.amount.type", "invalid_schema")},
    ),
    (
        "schema not of an object",
        _set(("input_schema", "type"), "array"),
        {("input_schema.type", "invalid_schema")},
    ),
    (
        "schema required",
        _set(("input_schema", "required"), ["phone", "phone"]),
        {("input_schema.required", "invalid_schema")},
    ),
    ("cron", _set(("triggers", 1, "cron"), "0 25 * * *"), {("triggers[1].cron", "invalid_cron")}),
    (
        "timezone",
        _set(("triggers", 1, "timezone"), "Africa/Atlantis"),
        {("triggers[1].timezone", "invalid_timezone")},
    ),
    ("trigger kind", _set(("triggers", 3, "kind"), "pigeon"), {("triggers[3].kind", "unknown_kind")}),
    (
        "event name",
        _set(("triggers", 2, "event"), "booking created"),
        {("triggers[2].event", "invalid_value")},
    ),
    ("node kind", _set(("nodes", 1, "kind"), "teleport"), {("nodes[1].kind", "unknown_kind")}),
    ("node without kind", _delete(("nodes", 1, "kind")), {("nodes[1].kind", "missing_field")}),
    ("unknown node field", _set(("nodes", 0, "colour"), "red"), {("nodes[0].colour", "unknown_field")}),
    (
        "channel",
        _set(("nodes", 5, "config", "channel"), "pigeon"),
        {("nodes[5].config.channel", "invalid_config")},
    ),
    (
        "missing config field",
        _delete(("nodes", 5, "config", "to")),
        {("nodes[5].config.to", "invalid_config")},
    ),
    (
        "form field type",
        _set(("nodes", 1, "config", "fields", 0, "type"), "hologram"),
        {("nodes[1].config.fields[0].type", "invalid_config")},
    ),
    (
        "choice without options",
        _delete(("nodes", 1, "config", "fields", 0, "options")),
        {("nodes[1].config.fields[0]", "invalid_config")},
    ),
    (
        "template and text",
        _set(("nodes", 5, "config", "text"), "hi"),
        {("nodes[5].config", "invalid_config")},
    ),
    (
        "wait with two modes",
        _set(("nodes", 4, "config", "until"), "timestamp(input.at)"),
        {("nodes[4].config", "invalid_config")},
    ),
    (
        "month duration",
        _set(("nodes", 4, "config", "duration"), "P1M"),
        {("nodes[4].config.duration", "invalid_duration")},
    ),
    (
        "negative timeout",
        _set(("nodes", 3, "config", "timeout"), -5),
        {("nodes[3].config.timeout", "invalid_duration")},
    ),
    (
        "edge condition",
        _set(("edges", 2, "condition"), "input.amount >"),
        {("edges[2].condition", "bad_expression")},
    ),
    (
        "value expression",
        _set(("nodes", 5, "config", "variables", "service"), "=state.ask."),
        {("nodes[5].config.variables.service", "bad_expression")},
    ),
    (
        "odd key in a value",
        _set(("nodes", 5, "config", "variables", "first name"), "=("),
        {('nodes[5].config.variables["first name"]', "bad_expression")},
    ),
    (
        "approval title",
        _set(("nodes", 3, "config", "title"), "=1 +"),
        {("nodes[3].config.title", "bad_expression")},
    ),
    (
        "approval details",
        _set(("nodes", 3, "config", "details", "Amount"), "input.amount )"),
        {("nodes[3].config.details.Amount", "bad_expression")},
    ),
    (
        "end output",
        _set(("nodes", 6, "config", "output", "booked"), ""),
        {("nodes[6].config.output.booked", "bad_expression")},
    ),
    (
        "invalid id",
        _both(
            _set(("nodes", 7, "id"), "7failed"),
            _set(("nodes", 5, "on_error"), "7failed"),
            _set(("edges", 5, "to"), "7failed"),
        ),
        {("nodes[7].id", "invalid_id"), ("nodes[5].on_error", "invalid_id"), ("edges[5].to", "invalid_id")},
    ),
    (
        "retry",
        _set(("nodes", 5, "retry", "max_attempts"), 0),
        {("nodes[5].retry.max_attempts", "invalid_value")},
    ),
    (
        "retry intervals",
        _set(("nodes", 5, "retry", "max_interval"), 1),
        {("nodes[5].retry", "invalid_value")},
    ),
    ("duplicate node", _append("nodes", {"id": "done", "kind": "end"}), {("nodes[8].id", "duplicate_node")}),
    (
        "no trigger",
        _both(_delete(("nodes", 0)), _delete(("edges", 0))),
        {("nodes", "missing_trigger")},
    ),
    (
        "two triggers",
        _both(
            _append("nodes", {"id": "start2", "kind": "trigger"}),
            _append("edges", {"from": "start2", "to": "ask"}),
        ),
        {("nodes[8].kind", "multiple_triggers")},
    ),
    (
        "dangling edge",
        _append("edges", {"from": "confirm", "to": "ghost"}),
        {("edges[8].to", "dangling_edge")},
    ),
    (
        "dangling from",
        _append("edges", {"from": "ghost", "to": "done"}),
        {("edges[8].from", "dangling_edge")},
    ),
    ("duplicate edge", _append("edges", {"from": "start", "to": "ask"}), {("edges[8]", "duplicate_edge")}),
    (
        "edge into trigger",
        _append("edges", {"from": "confirm", "to": "start"}),
        {("edges[8].to", "edge_into_trigger")},
    ),
    (
        "on_error into trigger",
        _set(("nodes", 5, "on_error"), "start"),
        {("nodes[5].on_error", "edge_into_trigger")},
    ),
    (
        "edge out of an end",
        _append("edges", {"from": "done", "to": "failed"}),
        {("edges[8].from", "edge_from_end")},
    ),
    (
        "router edge without condition",
        _delete(("edges", 2, "condition")),
        {("edges[2].condition", "missing_condition")},
    ),
    (
        "router without default",
        _delete(("nodes", 2, "config", "default")),
        {("edges[3].condition", "missing_condition")},
    ),
    ("on_error to nowhere", _set(("nodes", 5, "on_error"), "ghost"), {("nodes[5].on_error", "unknown_node")}),
    (
        "default to nowhere",
        _both(_set(("nodes", 2, "config", "default"), "ghost"), _set(("edges", 3, "condition"), "true")),
        {("nodes[2].config.default", "unknown_node")},
    ),
    (
        "default not connected",
        _both(_set(("nodes", 2, "config", "default"), "done"), _set(("edges", 3, "condition"), "true")),
        {("nodes[2].config.default", "default_not_connected")},
    ),
    ("unreachable", _append("nodes", {"id": "orphan", "kind": "end"}), {("nodes[8]", "unreachable_node")}),
    (
        "dead end",
        _both(
            _append("nodes", {"id": "log", "kind": "action", "config": {"action": "core.log"}}),
            _append("edges", {"from": "confirm", "to": "log"}),
        ),
        {("nodes[8]", "dead_end")},
    ),
    (
        "dead end despite on_error",
        _both(
            _append(
                "nodes",
                {"id": "log", "kind": "action", "config": {"action": "core.log"}, "on_error": "failed"},
            ),
            _append("edges", {"from": "confirm", "to": "log"}),
        ),
        {("nodes[8]", "dead_end")},
    ),
    (
        "busy loop",
        _both(
            _append("nodes", {"id": "log", "kind": "action", "config": {"action": "core.log"}}),
            _append("edges", {"from": "confirm", "to": "log"}, {"from": "log", "to": "confirm"}),
        ),
        {("edges[9]", "loop_without_pause")},
    ),
    (
        "busy self loop",
        _append("edges", {"from": "confirm", "to": "confirm"}),
        {("edges[8]", "loop_without_pause")},
    ),
    (
        "busy loop through on_error",
        _set(("nodes", 5, "on_error"), "confirm"),
        {("nodes[5].on_error", "loop_without_pause")},
    ),
    ("loop through a wait", _append("edges", {"from": "confirm", "to": "hold"}), set()),
    (
        "loop through a form",
        _append("edges", {"from": "confirm", "to": "ask", "condition": "state.again"}),
        set(),
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [case[1:] for case in ALONE], ids=[case[0] for case in ALONE]
)
def test_each_problem_alone_is_found_at_its_path(
    change: Callable[[Raw], None], expected: set[tuple[str, str]]
) -> None:
    raw = salon()
    change(raw)

    assert found(raw) == expected


def test_too_many_nodes_and_edges() -> None:
    raw = salon()
    raw["nodes"] += [{"id": f"n{i}", "kind": "end"} for i in range(MAX_NODES)]
    assert found(raw) == {("nodes", "too_many_nodes")}

    raw = salon()
    raw["edges"] += [{"from": "start", "to": "ask", "label": str(i)} for i in range(MAX_EDGES)]
    assert found(raw) == {("edges", "too_many_edges")}


def test_literal_values_are_not_compiled() -> None:
    raw = salon()
    raw["nodes"][5]["config"]["variables"] |= {"greeting": "== not CEL (", "n": 3, "list": ["a", {"b": None}]}

    assert validate_definition(raw) == []


def test_the_problem_list_is_capped() -> None:
    raw = salon()
    raw["nodes"][5]["config"]["variables"] = {f"v{i}": "=(" for i in range(1500)}

    problems = validate_definition(raw)

    assert len(problems) == 1001
    assert problems[-1].code == "too_many_problems"
