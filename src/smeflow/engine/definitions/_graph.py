"""Graph checks on the raw definition: ids, triggers, edges, routers, reachability, dead ends and
busy loops. They read the JSON as given, so they still run when some nodes fail their own checks.

Rules:

* exactly one ``trigger`` node; nothing leads into it (no edge, no ``on_error``);
* every edge names existing nodes; the same ``(from, to, condition)`` appears once; no edge
  leaves an ``end``;
* no implicit end: every node but an ``end`` has an outgoing edge (``on_error`` does not count,
  as it is taken only on failure), otherwise it is a ``dead_end``;
* out of a ``condition`` router every edge carries a condition, except the edge to its
  ``default``, which must exist when ``default`` is given;
* every node is reachable from the trigger along edges and ``on_error`` links;
* every cycle (along edges and ``on_error`` links) passes through a ``wait``, ``form`` or
  ``approval`` node; one that does not is a ``loop_without_pause``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from smeflow.engine.definitions._nodes import NODE_KINDS, PAUSE_KINDS

Loc = tuple[str | int, ...]
Issue = tuple[Loc, str, str]


@dataclass
class _Graph:
    index: dict[str, int] = field(default_factory=dict)  # node id -> index of its first node
    kinds: dict[str, str | None] = field(default_factory=dict)
    edges: list[tuple[int, str, str]] = field(default_factory=list)  # (edge index, from, to), valid ends
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (node index, from, to) on_error links

    def successors(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {node: [] for node in self.index}
        for _, source, target in (*self.edges, *self.errors):
            out[source].append(target)
        return out


def _nodes(nodes: list[Any], graph: _Graph) -> Iterator[Issue]:
    triggers: list[int] = []
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        kind = node.get("kind") if isinstance(node.get("kind"), str) else None
        if kind == "trigger":
            triggers.append(i)
        node_id = node.get("id")
        if not isinstance(node_id, str):
            continue
        if node_id in graph.index:
            yield (
                ("nodes", i, "id"),
                "duplicate_node",
                f"another node (nodes[{graph.index[node_id]}]) has id {node_id!r}",
            )
            continue
        graph.index[node_id] = i
        graph.kinds[node_id] = kind
    if not triggers:
        yield ("nodes",), "missing_trigger", "the workflow needs one node of kind trigger, where runs start"
    for i in triggers[1:]:
        yield (
            ("nodes", i, "kind"),
            "multiple_triggers",
            f"only one trigger node is allowed (nodes[{triggers[0]}] is one)",
        )


def _default(nodes: list[Any], graph: _Graph, node_id: str) -> str | None:
    config = nodes[graph.index[node_id]].get("config")
    default = config.get("default") if isinstance(config, dict) else None
    return default if isinstance(default, str) else None


def _edges(nodes: list[Any], edges: list[Any], graph: _Graph) -> Iterator[Issue]:
    seen: dict[tuple[str, str, Any], int] = {}
    for j, edge in enumerate(edges):
        if not isinstance(edge, dict):
            continue
        ends = {end: edge.get(end) for end in ("from", "to")}
        for end, node_id in ends.items():
            if isinstance(node_id, str) and node_id not in graph.index:
                yield ("edges", j, end), "dangling_edge", f"no node has id {node_id!r}"
        source, target = ends["from"], ends["to"]
        if not (isinstance(source, str) and source in graph.index):
            continue
        if not (isinstance(target, str) and target in graph.index):
            continue
        condition = edge.get("condition")
        key = (source, target, condition if isinstance(condition, str) else None)
        if key in seen:
            yield ("edges", j), "duplicate_edge", f"the same edge as edges[{seen[key]}]"
            continue
        seen[key] = j
        graph.edges.append((j, source, target))
        if graph.kinds[target] == "trigger":
            yield ("edges", j, "to"), "edge_into_trigger", "nothing may lead into the trigger node"
        if graph.kinds[source] == "end":
            yield ("edges", j, "from"), "edge_from_end", "no edge may leave an end node"
        if (
            graph.kinds[source] == "condition"
            and condition is None
            and target != _default(nodes, graph, source)
        ):
            yield (
                ("edges", j, "condition"),
                "missing_condition",
                f"edges out of the router {source!r} need a condition, except the edge to its default",
            )


def _links(nodes: list[Any], graph: _Graph) -> Iterator[Issue]:
    targets = {(source, target) for _, source, target in graph.edges}
    for node_id, i in graph.index.items():
        node = nodes[i]
        on_error = node.get("on_error")
        if isinstance(on_error, str):
            if on_error not in graph.index:
                yield ("nodes", i, "on_error"), "unknown_node", f"no node has id {on_error!r}"
            elif graph.kinds[on_error] == "trigger":
                yield ("nodes", i, "on_error"), "edge_into_trigger", "nothing may lead into the trigger node"
            else:
                graph.errors.append((i, node_id, on_error))
        if graph.kinds[node_id] == "condition":
            default = _default(nodes, graph, node_id)
            if default is None:
                continue
            if default not in graph.index:
                yield ("nodes", i, "config", "default"), "unknown_node", f"no node has id {default!r}"
            elif (node_id, default) not in targets:
                yield (
                    ("nodes", i, "config", "default"),
                    "default_not_connected",
                    f"add an edge from {node_id!r} to its default {default!r}",
                )


def _reach(graph: _Graph) -> Iterator[Issue]:
    starts = [node for node, kind in graph.kinds.items() if kind == "trigger"]
    if not starts:
        return  # already reported; everything would be unreachable
    successors = graph.successors()
    seen, todo = set(starts), list(starts)
    while todo:
        for target in successors[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    has_edge = {source for _, source, _ in graph.edges}
    for node_id, i in graph.index.items():
        if node_id not in seen:
            yield ("nodes", i), "unreachable_node", f"no path leads from the trigger to {node_id!r}"
        kind = graph.kinds[node_id]
        if kind in NODE_KINDS and kind != "end" and node_id not in has_edge:
            yield (
                ("nodes", i),
                "dead_end",
                f"{node_id!r} has no outgoing edge; connect it to the next step or to an end node",
            )


def _components(nodes: list[str], successors: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(successors[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _loops(graph: _Graph) -> Iterator[Issue]:
    busy = [node for node in graph.index if graph.kinds[node] not in PAUSE_KINDS]
    busy_set = set(busy)
    successors = {node: [t for t in targets if t in busy_set] for node, targets in graph.successors().items()}
    for component in _components(busy, successors):
        members = set(component)
        if len(component) == 1 and component[0] not in successors[component[0]]:
            continue
        order = sorted(component, key=graph.index.__getitem__)
        path = " → ".join(order)
        message = f"the loop through {path} has no wait, form or approval node, so it would never pause"
        inside = [j for j, source, target in graph.edges if source in members and target in members]
        if inside:
            yield ("edges", max(inside)), "loop_without_pause", message
        else:
            i = min(i for i, source, target in graph.errors if source in members and target in members)
            yield ("nodes", i, "on_error"), "loop_without_pause", message


def graph_problems(nodes: list[Any], edges: list[Any]) -> list[Issue]:
    """Every graph problem of the raw ``nodes`` and ``edges`` lists."""
    graph = _Graph()
    issues = [*_nodes(nodes, graph), *_edges(nodes, edges, graph), *_links(nodes, graph)]
    issues += [*_reach(graph), *_loops(graph)]
    return issues
