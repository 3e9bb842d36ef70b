"""Properties of the graph checks on random workflows: any DAG of valid nodes from the trigger to
an end is accepted; closing a cycle without a pause node is always a ``loop_without_pause`` (and
nothing else); the same cycle through a ``wait``, ``form`` or ``approval`` node is accepted."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smeflow.engine.definitions import PAUSE_KINDS, parse_definition, validate_definition

quick = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CONFIGS: dict[str, dict[str, Any]] = {
    "action": {
        "action": "core.set",
        "input": {"total": "=input.amount + 1", "note": "hello", "n": [1, "=2 * 3"]},
    },
    "agent": {"agent": "receptionist", "instructions": "Answer politely", "confidence_threshold": 0.5},
    "send_message": {"channel": "sms", "to": "input.phone", "text": '="Hi " + input.name'},
    "subworkflow": {"workflow": "reminders", "version": 2, "input": {"phone": "=input.phone"}},
    "condition": {},
    "wait": {"event": {"name": "payment.succeeded", "match": "event.amount >= 100"}, "timeout": "P1D"},
    "form": {"fields": [{"name": "rating", "type": "rating", "label": "How was it?", "min": 1, "max": 5}]},
    "approval": {"title": "Refund?", "details": {"Amount": "input.amount"}, "timeout": 3600},
}
BUSY = sorted(set(CONFIGS) - PAUSE_KINDS)
PAUSING = sorted(PAUSE_KINDS)


def node(index: int, kind: str, on_error: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {"id": f"n{index}", "kind": kind, "config": CONFIGS[kind]}
    if on_error:
        found["on_error"] = "done"
        found["retry"] = {"max_attempts": 3, "initial_interval": 0.5}
    return found


def build(kinds: list[str], extra: set[tuple[int, int]], on_errors: list[bool]) -> dict[str, Any]:
    """start → n1 → … → nN → done, plus ``extra`` forward edges (positions: 0 is start, N + 1 done).
    Edges out of a router carry conditions."""
    names = ["start", *(f"n{i}" for i in range(1, len(kinds) + 1)), "done"]
    pairs = sorted({(i, i + 1) for i in range(len(names) - 1)} | extra)
    edges = []
    for count, (source, target) in enumerate(pairs):
        edge: dict[str, Any] = {"from": names[source], "to": names[target]}
        if source > 0 and kinds[source - 1] == "condition":
            edge["condition"] = f"input.amount > {count}"
        edges.append(edge)
    return {
        "schema_version": 1,
        "name": "Random",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            *(
                node(i, kind, on_error)
                for i, (kind, on_error) in enumerate(zip(kinds, on_errors, strict=True), 1)
            ),
            {"id": "done", "kind": "end"},
        ],
        "edges": edges,
    }


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 12))
    chosen = draw(st.lists(st.sampled_from(sorted(CONFIGS)), min_size=count, max_size=count))
    forward = st.tuples(st.integers(0, count), st.integers(1, count + 1)).filter(lambda p: p[0] < p[1])
    extra = draw(st.sets(forward, max_size=3 * count))
    on_errors = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    return build(chosen, extra, on_errors)


@quick
@given(dags())
def test_any_dag_of_valid_nodes_is_accepted(raw: dict[str, Any]) -> None:
    assert validate_definition(raw) == []
    assert len(parse_definition(raw).nodes) == len(raw["nodes"])


@st.composite
def cycles(draw: st.DrawFn, pause: bool) -> tuple[dict[str, Any], int]:
    """A random DAG plus one back edge ``nJ → nI`` (I ≤ J) closing cycles through nI … nJ; with
    ``pause``, nI or nJ (which every such cycle passes) pauses, else nI … nJ are all busy."""
    raw = draw(dags())
    count = len(raw["nodes"]) - 2
    first = draw(st.integers(1, count))
    last = draw(st.integers(first, count))
    for position in range(first, last + 1):
        raw["nodes"][position] = node(
            position, draw(st.sampled_from(BUSY)), "on_error" in raw["nodes"][position]
        )
    if pause:
        position = draw(st.sampled_from([first, last]))
        raw["nodes"][position] = node(position, draw(st.sampled_from(PAUSING)))
    kinds = {entry["id"]: entry["kind"] for entry in raw["nodes"]}
    for edge in raw["edges"]:  # a router's edges need conditions, also when it was drawn just now
        if kinds[edge["from"]] == "condition":
            edge.setdefault("condition", "input.amount > 10")
    raw["edges"].append({"from": f"n{last}", "to": f"n{first}", "condition": "state.again"})
    return raw, len(raw["edges"]) - 1


@quick
@given(cycles(pause=False))
def test_closing_a_cycle_without_a_pause_is_always_reported(case: tuple[dict[str, Any], int]) -> None:
    raw, back_edge = case

    assert [(p.path, p.code) for p in validate_definition(raw)] == [
        (f"edges[{back_edge}]", "loop_without_pause")
    ]


@quick
@given(cycles(pause=True))
def test_a_cycle_through_a_pause_node_is_accepted(case: tuple[dict[str, Any], int]) -> None:
    raw, _ = case

    assert validate_definition(raw) == []
