"""A readable structural diff of two definitions (for "what changed between versions").

Nodes are matched by id and edges by ``(from, to, condition)``, so reordering the lists is not a
change. Works on raw (JSON-decoded) definitions, valid or not.
"""

from __future__ import annotations

from typing import Any

from smeflow.engine.definitions._validate import format_path

Loc = tuple[str | int, ...]
_MISSING: Any = object()


def value_changes(before: Any, after: Any, loc: Loc = ()) -> list[dict[str, Any]]:
    """``{"path", "before", "after"}`` for every leaf that differs (an absent side is left out)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            changes += value_changes(before.get(key, _MISSING), after.get(key, _MISSING), (*loc, key))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            old = before[index] if index < len(before) else _MISSING
            new = after[index] if index < len(after) else _MISSING
            changes += value_changes(old, new, (*loc, index))
        return changes
    if before == after and type(before) is type(after):
        return []
    change: dict[str, Any] = {"path": format_path(loc)}
    if before is not _MISSING:
        change["before"] = before
    if after is not _MISSING:
        change["after"] = after
    return [change]


def _nodes(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = definition.get("nodes")
    found: dict[str, dict[str, Any]] = {}
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            found.setdefault(node["id"], node)
    return found


def _edges(definition: dict[str, Any]) -> dict[tuple[Any, Any, Any], dict[str, Any]]:
    edges = definition.get("edges")
    found: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for edge in edges if isinstance(edges, list) else []:
        if isinstance(edge, dict):
            key = (edge.get("from"), edge.get("to"), edge.get("condition"))
            found.setdefault(key, edge)
    return found


def _edge_entry(change: str, edge: dict[str, Any]) -> dict[str, Any]:
    entry = {"change": change, "from": edge.get("from"), "to": edge.get("to")}
    if edge.get("condition") is not None:
        entry["condition"] = edge["condition"]
    return entry


def definition_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed from definition ``a`` to ``b``, as a list of entries, each with a ``change``:

    * ``{"change": "field_changed", "field": "name"|"schema_version", "before", "after"}``
    * ``{"change": "triggers_changed" | "input_schema_changed", "changes": [{"path", "before", "after"}]}``
    * ``{"change": "node_added" | "node_removed", "id", "kind"}``
    * ``{"change": "node_changed", "id", "changes": [{"path": "config.timeout", "before", "after"}]}``
    * ``{"change": "edge_added" | "edge_removed", "from", "to", "condition"?}``
    * ``{"change": "edge_changed", "from", "to", "condition"?, "changes": [...]}`` (label and the like)
    """
    result: list[dict[str, Any]] = []
    for name in ("name", "schema_version"):
        if a.get(name) != b.get(name):
            result.append(
                {"change": "field_changed", "field": name, "before": a.get(name), "after": b.get(name)}
            )
    for name in ("triggers", "input_schema"):
        changes = value_changes(a.get(name), b.get(name))
        if changes:
            result.append({"change": f"{name}_changed", "changes": changes})
    old_nodes, new_nodes = _nodes(a), _nodes(b)
    result += [
        {"change": "node_added", "id": key, "kind": node.get("kind")}
        for key, node in new_nodes.items()
        if key not in old_nodes
    ]
    result += [
        {"change": "node_removed", "id": key, "kind": node.get("kind")}
        for key, node in old_nodes.items()
        if key not in new_nodes
    ]
    for key, node in old_nodes.items():
        changes = value_changes(node, new_nodes[key]) if key in new_nodes else []
        if changes:
            result.append({"change": "node_changed", "id": key, "changes": changes})
    old_edges, new_edges = _edges(a), _edges(b)
    result += [_edge_entry("edge_added", edge) for k, edge in new_edges.items() if k not in old_edges]
    result += [_edge_entry("edge_removed", edge) for k, edge in old_edges.items() if k not in new_edges]
    for edge_key, edge in old_edges.items():
        changes = value_changes(edge, new_edges[edge_key]) if edge_key in new_edges else []
        if changes:
            result.append({**_edge_entry("edge_changed", edge), "changes": changes})
    return result
