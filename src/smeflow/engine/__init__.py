"""The workflow engine: JSON workflow definitions (``smeflow.engine.definitions``), their
compilation to LangGraph and the runtime that executes runs.

Key contracts: a definition is validated in full (every problem, with its JSON path) before it
is published or run; ``smeflow.engine.definitions`` is pure code that the rest of the engine
builds on.
"""

from smeflow.engine.definitions import (
    NODE_KINDS,
    DefinitionProblem,
    NodeKind,
    WorkflowDefinition,
    definition_diff,
    node_kind_schemas,
    parse_definition,
    validate_definition,
)

__all__ = [
    "NODE_KINDS",
    "DefinitionProblem",
    "NodeKind",
    "WorkflowDefinition",
    "definition_diff",
    "node_kind_schemas",
    "parse_definition",
    "validate_definition",
]
