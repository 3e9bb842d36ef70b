"""Money needs a person: a step whose action moves money must come after an approval step on
every way to it, unless the step says ``"unattended": true`` (a payment request the customer
confirms on their own phone, say). Checked when a definition is compiled, so such a workflow is
refused before it ever runs."""

from __future__ import annotations

from collections import deque

from smeflow.engine.definitions import ActionNode, ApprovalNode, WorkflowDefinition
from smeflow.engine.runtime._actions import ActionRegistry
from smeflow.errors import FieldProblem


def money_problems(definition: WorkflowDefinition, actions: ActionRegistry) -> list[FieldProblem]:
    """Every money step that some way from the trigger reaches without passing an approval."""
    successors: dict[str, list[str]] = {node.id: [] for node in definition.nodes}
    for edge in definition.edges:
        successors.setdefault(edge.from_, []).append(edge.to)
    for node in definition.nodes:
        if node.on_error:
            successors[node.id].append(node.on_error)
    nodes = definition.nodes_by_id
    start = definition.trigger_node.id
    unguarded: set[str] = set()
    seen = {start}
    queue = deque([start])
    while queue:  # breadth-first over the ways that pass no approval step
        current = queue.popleft()
        unguarded.add(current)
        for following in successors.get(current, []):
            if following not in seen and not isinstance(nodes.get(following), ApprovalNode):
                seen.add(following)
                queue.append(following)
    problems = []
    for index, node in enumerate(definition.nodes):
        if not isinstance(node, ActionNode) or node.config.unattended or node.id not in unguarded:
            continue
        action = actions.get(node.config.action)
        if action is not None and action.effect == "money":
            problems.append(
                FieldProblem(
                    f"definition.nodes[{index}].config.action",
                    f"step {node.id!r} moves money ({node.config.action}) and can be reached without an "
                    'approval step: put one before it, or set "unattended": true on the step',
                    "money_needs_approval",
                )
            )
    return problems


__all__ = ["money_problems"]
