"""Evaluating a definition's CEL at run time, over the run's state.

Names an expression may use: ``input`` (the run's input), ``vars`` (variables set by ``core.set``),
``nodes`` (each executed node's output, by node id), ``state`` (the same as ``nodes``, the name
the templates use: ``state.ask.service``) and ``failed`` (why each step that failed for good
failed, by node id: what an ``on_error`` branch reads, such as ``failed.pay``; a step that
succeeded on a later pass is not in it); and, in an event wait's ``match``, ``event`` (the
payload of the event being looked at).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import cel

from smeflow.engine.definitions import value_expression, value_literal
from smeflow.engine.runtime._errors import StepFailed

_NAMES = re.compile(r"\b(input|vars|nodes|state|failed|event)\b")


@lru_cache(maxsize=4096)
def _program(source: str) -> Any:
    return cel.compile(source)


@lru_cache(maxsize=4096)
def _names(source: str) -> frozenset[str]:
    """The state names ``source`` may read: every one that appears in it as a word (a name in a
    string literal too: such a name is given needlessly, never missed). Only those are converted
    to CEL values, so an expression costs what it reads, not the size of the whole state."""
    return frozenset(_NAMES.findall(source))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return str(value)


def evaluate(
    source: str, state: Mapping[str, Any], where: str, *, event: Mapping[str, Any] | None = None
) -> Any:
    """The JSON value of CEL ``source`` over ``state`` (and ``event``, when given); :class:`StepFailed`
    naming ``where`` if it cannot be evaluated (an unknown name, a type mismatch, a division by
    zero…)."""
    context = cel.Context()
    names = _names(source)
    if "input" in names:
        context.add_variable("input", state.get("input") or {})
    if "vars" in names:
        context.add_variable("vars", state.get("vars") or {})
    if "nodes" in names:
        context.add_variable("nodes", state.get("nodes") or {})
    if "state" in names:
        context.add_variable("state", state.get("nodes") or {})
    if "failed" in names:
        failed = state.get("failed") or {}
        context.add_variable(
            "failed", {node: reason for node, reason in failed.items() if reason is not None}
        )
    if event is not None and "event" in names:
        context.add_variable("event", event)
    try:
        return _jsonable(_program(source).execute(context))
    except Exception as exc:  # CEL raises RuntimeError/ValueError/TypeError
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise StepFailed(f"The expression {source!r} in {where} could not be evaluated: {reason}") from None


def resolve(value: Any, state: Mapping[str, Any], where: str, path: str = "input") -> Any:
    """A value field's JSON with every ``=`` expression replaced by its value (an error names
    ``where`` and the field's ``path``, such as ``input.total``)."""
    if isinstance(value, str):
        source = value_expression(value)
        return value_literal(value) if source is None else evaluate(source, state, f"{where} (field {path})")
    if isinstance(value, dict):
        return {key: resolve(item, state, where, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, state, where, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def is_true(
    source: str, state: Mapping[str, Any], where: str, *, event: Mapping[str, Any] | None = None
) -> bool:
    """Whether a condition holds; a condition that is not a boolean is a :class:`StepFailed`."""
    result = evaluate(source, state, where, event=event)
    if not isinstance(result, bool):
        raise StepFailed(f"The condition {source!r} in {where} gave {result!r}, not true or false")
    return result
