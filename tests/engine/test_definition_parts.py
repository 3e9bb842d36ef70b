"""The parts of the definition format: cron, time zones, durations, the ``=`` rule for values,
the node kinds' JSON Schemas, the diff of two versions, and the package's public names."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

import smeflow.engine
import smeflow.engine.definitions as definitions
from smeflow.engine.definitions import (
    FORM_FIELD_TYPES,
    NODE_KINDS,
    Node,
    definition_diff,
    expression_error,
    is_timezone,
    node_kind_schemas,
    parse_cron,
    parse_iso_duration,
    value_expression,
    value_literal,
)

from .salon import salon

# -- cron and time zones


def test_cron_fields_lists_ranges_steps_and_names() -> None:
    schedule = parse_cron("*/15 9-17 1,15 JAN-MAR mon-fri")

    assert schedule.minutes == {0, 15, 30, 45}
    assert schedule.hours == set(range(9, 18))
    assert schedule.days_of_month == {1, 15}
    assert schedule.months == {1, 2, 3}
    assert schedule.days_of_week == {1, 2, 3, 4, 5}
    assert not schedule.day_of_month_any
    assert not schedule.day_of_week_any


def test_cron_sunday_is_0_or_7_and_macros_expand() -> None:
    assert parse_cron("0 0 * * 7").days_of_week == {0}
    assert parse_cron("0 0 * * 5-7").days_of_week == {0, 5, 6}
    assert parse_cron("@daily") == parse_cron("0 0 * * *")
    assert parse_cron("10/20 * * * *").minutes == {10, 30, 50}
    assert parse_cron("* * * * *").day_of_month_any


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("* * * *", "has 4 fields"),
        ("* * * * * *", "has 6 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 24 * * *", "hour: 24 is outside 0-23"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * 13 *", "month: 13 is outside 1-12"),
        ("* * * * 8", "day of week: 8 is outside 0-7"),
        ("*/0 * * * *", "step '0'"),
        ("5-1 * * * *", "runs backwards"),
        ("1,,2 * * * *", "empty item"),
        ("x * * * *", "'x' is not a number"),
        ("* * * FOO *", "'FOO' is not a number"),
        ("@sometimes", "has 1 fields"),
    ],
)
def test_invalid_cron_says_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"cron needs 5|outside|step|backwards|empty|not a number") as caught:
        parse_cron(text)
    assert reason in str(caught.value)


@pytest.mark.parametrize(("name", "known"), [("Africa/Nairobi", True), ("Africa/Lagos", True), ("UTC", True)])
def test_known_timezones(name: str, known: bool) -> None:
    assert is_timezone(name) is known


@pytest.mark.parametrize("name", ["Africa/Atlantis", "localtime", "", "../etc/passwd", "africa/nairobi"])
def test_unknown_timezones(name: str) -> None:
    assert not is_timezone(name)


# -- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT15M", 900), ("PT1H30M", 5400), ("P2D", 172800), ("P1W", 604800), ("P1DT2H", 93600), ("PT1.5S", 1.5)],
)
def test_iso_durations(text: str, seconds: float) -> None:
    assert parse_iso_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "15M", "PT-5M", "P1.5D", "PT1M2H", "1 hour"])
def test_invalid_iso_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 duration"):
        parse_iso_duration(text)


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M", "P2MT1H"])
def test_calendar_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="no fixed length"):
        parse_iso_duration(text)


@pytest.mark.parametrize(
    ("value", "fine"),
    [(60, True), (0.5, True), ("PT1H", True), (0, False), (-1, False), (True, False), ("P3651D", False)],
)
def test_duration_fields(value: object, fine: bool) -> None:
    raw = salon()
    raw["nodes"][4]["config"]["duration"] = value

    codes = {(p.path, p.code) for p in definitions.validate_definition(raw)}

    assert codes == (set() if fine else {("nodes[4].config.duration", "invalid_duration")})


# -- expressions


def test_the_equals_rule() -> None:
    assert value_expression("=input.name") == "input.name"
    assert value_expression("input.name") is None
    assert value_expression("==5") is None
    assert value_literal("==5") == "=5"
    assert value_literal("plain") == "plain"


def test_expression_errors_come_from_cel() -> None:
    assert expression_error("input.amount > 1000 && has(input.phone)") is None
    error = expression_error("input.amount >")
    assert error is not None
    assert error.startswith("1:15: Syntax error")
    assert expression_error("   ") == "the expression is empty"
    assert "longer than" in (expression_error("1" + " + 1" * 2000) or "")


# -- node kinds


def test_every_node_kind_has_a_config_model_and_a_node_class() -> None:
    tags = {arg.model_fields["kind"].annotation.__args__[0] for arg in Node.__origin__.__args__}  # type: ignore[attr-defined]

    assert tags == set(NODE_KINDS)
    assert all(
        kind.description.endswith(".") and "\n" not in kind.description for kind in NODE_KINDS.values()
    )
    assert {name for name, kind in NODE_KINDS.items() if kind.pauses} == {"wait", "form", "approval"}
    assert len(FORM_FIELD_TYPES) >= 17


JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def _check_schema(schema: Any, root: dict[str, Any], where: str) -> None:
    """A structural check of a JSON Schema: known types, resolvable references, described properties."""
    assert isinstance(schema, dict), where
    if "type" in schema:
        assert schema["type"] in JSON_TYPES, where
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        assert name in root.get("$defs", {}), where
    for name, sub in schema.get("properties", {}).items():
        assert sub.get("description"), f"{where}.{name} has no description"
        _check_schema(sub, root, f"{where}.{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for index, sub in enumerate(schema.get(key, [])):
            _check_schema(sub, root, f"{where}.{key}[{index}]")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _check_schema(schema[key], root, f"{where}.{key}")


def test_node_kind_schemas_are_json_schemas_with_described_properties() -> None:
    schemas = node_kind_schemas()

    assert set(schemas) == set(NODE_KINDS)
    json.dumps(schemas)  # JSON-able, as the API returns it
    for name, schema in schemas.items():
        assert schema["type"] == "object"
        assert schema["title"] == name
        assert schema["description"] == NODE_KINDS[name].description
        assert schema["additionalProperties"] is False
        assert "properties" in schema
        _check_schema(schema, schema, name)
        for def_name, sub in schema.get("$defs", {}).items():
            _check_schema(sub, schema, f"{name}.$defs.{def_name}")
    assert all(schemas[name]["properties"] for name in NODE_KINDS if name != "trigger")
    assert schemas["send_message"]["properties"]["text"]["x-expression"] == "value"
    assert schemas["wait"]["properties"]["until"]["anyOf"][0]["x-expression"] == "cel"
    field_type = schemas["form"]["$defs"]["FormField"]["properties"]["type"]
    assert set(field_type["enum"]) == set(FORM_FIELD_TYPES)


# -- diff


def test_diff_reports_a_changed_config_value_and_an_added_edge() -> None:
    before, after = salon(), salon()
    after["nodes"][4]["config"]["duration"] = "PT30M"
    after["edges"].append({"from": "confirm", "to": "hold", "label": "again"})

    assert definition_diff(before, after) == [
        {
            "change": "node_changed",
            "id": "hold",
            "changes": [{"path": "config.duration", "before": 900, "after": "PT30M"}],
        },
        {"change": "edge_added", "from": "confirm", "to": "hold"},
    ]


def test_diff_reports_nodes_edges_triggers_and_schema() -> None:
    before, after = salon(), salon()
    after["name"] = "Salon booking v2"
    del after["triggers"][3]
    after["input_schema"]["properties"]["amount"]["minimum"] = 100
    after["nodes"].append({"id": "thanks", "kind": "end"})
    after["nodes"] = [n for n in after["nodes"] if n["id"] != "failed"]
    after["edges"] = [e for e in after["edges"] if e["to"] != "failed"]
    after["edges"][0]["label"] = "go"

    assert definition_diff(before, after) == [
        {"change": "field_changed", "field": "name", "before": "Salon booking", "after": "Salon booking v2"},
        {"change": "triggers_changed", "changes": [{"path": "[3]", "before": {"kind": "manual"}}]},
        {
            "change": "input_schema_changed",
            "changes": [{"path": "properties.amount.minimum", "before": 0, "after": 100}],
        },
        {"change": "node_added", "id": "thanks", "kind": "end"},
        {"change": "node_removed", "id": "failed", "kind": "end"},
        {"change": "edge_removed", "from": "approve", "to": "failed", "condition": "!state.approve.approved"},
        {
            "change": "edge_changed",
            "from": "start",
            "to": "ask",
            "changes": [{"path": "label", "after": "go"}],
        },
    ]


def test_reordering_is_not_a_change() -> None:
    before, after = salon(), salon()
    after["nodes"].reverse()
    after["edges"].reverse()

    assert definition_diff(before, before) == []
    assert definition_diff(before, after) == []


# -- public names


@pytest.mark.parametrize("module", [definitions, smeflow.engine])
def test_public_names_are_all(module: Any) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }

    assert public == set(module.__all__)
