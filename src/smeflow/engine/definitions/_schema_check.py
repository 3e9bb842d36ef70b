"""A light check, at publish time, that ``input_schema`` is a JSON Schema of an object.

It checks the keywords a form builder and a run's input check rely on (``type``, ``properties``,
``required``, ``items``, ``enum``, the combinators, numeric and length limits, ``pattern``,
``$ref`` pointing inside the schema: no other document is ever fetched); other keywords are
allowed, as JSON Schema allows them. A run's input is validated against the schema (JSON Schema
2020-12, with ``jsonschema``) by the runtime when the run starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

Loc = tuple[str | int, ...]

JSON_TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
_TEXTS = ("title", "description", "format", "$comment")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMAS = ("items", "additionalProperties", "not", "contains", "if", "then", "else")
MAX_DEPTH = 32


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    names = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        yield loc, "type must not be an empty list"
    for name in names:
        if not isinstance(name, str) or name not in JSON_TYPES:
            yield loc, f"unknown type {name!r}; JSON Schema types are {', '.join(sorted(JSON_TYPES))}"


def _keyword(key: str, value: Any, loc: Loc, depth: int) -> Iterator[tuple[Loc, str]]:
    if key == "type":
        yield from _type(value, loc)
    elif key in _NUMBERS and not _is_number(value):
        yield loc, f"{key} must be a number"
    elif key in _COUNTS and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        yield loc, f"{key} must be a whole number, zero or more"
    elif key in _TEXTS and not isinstance(value, str):
        yield loc, f"{key} must be a string"
    elif key == "required":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            yield loc, "required must be a list of property names"
        elif len(set(value)) != len(value):
            yield loc, "required names a property twice"
    elif key == "enum" and (not isinstance(value, list) or not value):
        yield loc, "enum must be a non-empty list"
    elif key == "pattern":
        if not isinstance(value, str):
            yield loc, "pattern must be a string"
        else:
            try:
                re.compile(value)
            except re.error as exc:
                yield loc, f"pattern is not a valid regular expression: {exc}"
    elif key == "$ref" and not (isinstance(value, str) and value.startswith("#")):
        yield loc, "$ref must point inside this schema (such as #/$defs/address); nothing else is fetched"
    elif key in _SCHEMA_MAPS:
        if not isinstance(value, dict):
            yield loc, f"{key} must be an object of schemas"
        else:
            for name, sub in value.items():
                yield from schema_problems(sub, (*loc, str(name)), depth + 1)
    elif key in _SCHEMA_LISTS:
        if not isinstance(value, list) or not value:
            yield loc, f"{key} must be a non-empty list of schemas"
        else:
            for index, sub in enumerate(value):
                yield from schema_problems(sub, (*loc, index), depth + 1)
    elif key in _SCHEMAS:
        yield from schema_problems(value, loc, depth + 1)


def schema_problems(schema: Any, loc: Loc = (), depth: int = 0) -> Iterator[tuple[Loc, str]]:
    """Problems of one (sub)schema, each with its location relative to the top schema."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        yield loc, "a schema must be an object (or true / false)"
        return
    if depth > MAX_DEPTH:
        yield loc, f"the schema is nested more than {MAX_DEPTH} levels deep"
        return
    for key, value in schema.items():
        yield from _keyword(key, value, (*loc, key), depth)


def input_schema_problems(schema: dict[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Problems of a workflow's input schema: a valid JSON Schema whose type is ``object``."""
    if schema.get("type") != "object":
        yield ("type",), 'the input schema must describe an object ("type": "object")'
    yield from schema_problems(schema)
