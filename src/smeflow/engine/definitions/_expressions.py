"""CEL expressions inside a definition, and the ``=`` rule for values that may be expressions.

Two kinds of fields hold expressions:

* **expression fields** (edge ``condition``, ``end.output`` values, ``wait.until``,
  ``wait.event.match``, ``approval.details`` values, ``send_message.to`` / ``language``) are
  always CEL source text, without any prefix;
* **value fields** (``action.input``, ``agent.input``, ``subworkflow.input``,
  ``send_message.text`` / ``variables``, ``approval.title``) hold JSON values. Inside them (at any
  depth) a string that starts with ``=`` is a CEL expression (the text after the ``=``); any other
  value is a literal. A literal string that must start with ``=`` is written with ``==``
  (``"==5"`` is the literal ``"=5"``).

Expressions are only compiled here (syntax); which names they may use is the runtime's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated, Any

import cel
from pydantic import AfterValidator, Field
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

MAX_EXPRESSION_LENGTH = 4000
EXPRESSION_PREFIX = "="
#: JSON Schema annotation telling the builder how a field holds expressions.
EXPRESSION_FIELD: JsonDict = {"x-expression": "cel"}
VALUE_FIELD: JsonDict = {"x-expression": "value"}

_ERROR_LINE = re.compile(r"ERROR: <input>:(\d+:\d+): ([^\n]*)")


def _readable(error: str) -> str:
    """CEL's error without the echoed expression and caret drawings: ``1:5: Syntax error: …``."""
    lines = [f"{pos}: {text.strip()}" for pos, text in _ERROR_LINE.findall(error)]
    if not lines:
        return error.strip().splitlines()[0][:300] if error.strip() else "it could not be parsed"
    return "; ".join(line[:300] for line in lines[:3])


@lru_cache(maxsize=8192)
def expression_error(source: str) -> str | None:
    """Why ``source`` is not a valid CEL expression (CEL's own words), or ``None`` if it compiles."""
    if not source.strip():
        return "the expression is empty"
    if len(source) > MAX_EXPRESSION_LENGTH:
        return f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters"
    try:
        cel.compile(source)
    except Exception as exc:  # CEL raises ValueError; anything else is a parse failure too
        return _readable(str(exc))
    return None


def _check_expression(source: str) -> str:
    error = expression_error(source)
    if error is not None:
        raise PydanticCustomError("bad_expression", "not a valid CEL expression: {error}", {"error": error})
    return source


#: A field that always holds CEL source text.
Expression = Annotated[str, AfterValidator(_check_expression), Field(json_schema_extra=EXPRESSION_FIELD)]


def value_expression(value: str) -> str | None:
    """The CEL source of a value-field string (``"=input.name"`` → ``"input.name"``), or ``None``
    if the string is a literal (including ``==``-escaped ones)."""
    if value.startswith(EXPRESSION_PREFIX) and not value.startswith(EXPRESSION_PREFIX * 2):
        return value[len(EXPRESSION_PREFIX) :]
    return None


def value_literal(value: str) -> str:
    """The literal a value-field string stands for when it is not an expression (``"==5"`` → ``"=5"``)."""
    return value[1:] if value.startswith(EXPRESSION_PREFIX * 2) else value


def value_expressions(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every ``(path, CEL source)`` inside a value field's JSON value, depth first."""
    if isinstance(value, str):
        source = value_expression(value)
        if source is not None:
            yield path, source
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from value_expressions(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from value_expressions(item, (*path, index))
