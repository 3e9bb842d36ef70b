"""A run's input checked against its workflow version's ``input_schema`` (JSON Schema 2020-12).

Key contracts:

* :func:`check_input` raises :class:`ValidationFailed` listing every problem (at most
  :data:`MAX_PROBLEMS`), each with its path (``input.phone``, ``input.items[2].qty``) and the
  JSON Schema keyword it broke as its code (``required``, ``type``, ``minimum``…); it writes
  nothing. ``format`` is asserted for the formats ``jsonschema`` checks without extra packages
  (``email``, ``date``, ``ipv4``…). A ``$ref`` is resolved inside the schema only: nothing is
  ever fetched.
* The compiled validator is cached per (tenant, workflow, version): versions never change, so
  the cache needs no invalidation, and a run start with a warm cache reads no definition.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing.exceptions import Unresolvable
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.engine.models import WorkflowVersion
from smeflow.engine.workflows import get_version
from smeflow.errors import FieldProblem, ValidationFailed

MAX_PROBLEMS = 100
CACHE_SIZE = 2048
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")

ValidatorKey = tuple[uuid.UUID, uuid.UUID, int]
_validators: OrderedDict[ValidatorKey, Draft202012Validator] = OrderedDict()


def compile_schema(schema: dict[str, Any]) -> Draft202012Validator:
    """The validator of an input schema (formats asserted)."""
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


async def input_validator(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, version: int
) -> Draft202012Validator:
    """The cached validator of the version's input schema (loading the version on a miss;
    :class:`NotFound` for an unknown workflow or version)."""
    key = (tenant_id, workflow_id, version)
    validator = _validators.get(key)
    if validator is not None:
        _validators.move_to_end(key)
        return validator
    schema = (
        await session.execute(
            select(WorkflowVersion.definition["input_schema"]).where(
                WorkflowVersion.tenant_id == tenant_id,
                WorkflowVersion.workflow_id == workflow_id,
                WorkflowVersion.version == version,
            )
        )
    ).scalar_one_or_none()
    if schema is None:
        await get_version(session, tenant_id, workflow_id, version)  # the NotFound that says which
        schema = {"type": "object"}  # a version without input_schema: the model's default
    validator = compile_schema(schema)
    _validators[key] = validator
    if len(_validators) > CACHE_SIZE:
        _validators.popitem(last=False)
    return validator


def _path(parts: Iterable[str | int]) -> str:
    text = "input"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _NAME.fullmatch(part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPES = {
    "object": "an object",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "null",
}


def _message(error: ValidationError) -> str:
    """A sentence a tenant understands for the common keywords (jsonschema's own otherwise)."""
    keyword, expected = error.validator, error.validator_value
    if keyword == "type":
        names = expected if isinstance(expected, list) else [expected]
        return "must be " + " or ".join(_TYPES.get(str(name), str(name)) for name in names)
    if keyword == "enum" and isinstance(expected, list):
        return "must be one of " + ", ".join(_show(v) for v in expected)
    if keyword == "const":
        return f"must be {_show(expected)}"
    messages = {
        "minimum": f"must be at least {expected}",
        "maximum": f"must be at most {expected}",
        "exclusiveMinimum": f"must be more than {expected}",
        "exclusiveMaximum": f"must be less than {expected}",
        "minLength": f"must be at least {expected} characters long",
        "maxLength": f"must be at most {expected} characters long",
        "minItems": f"must have at least {expected} items",
        "maxItems": f"must have at most {expected} items",
        "pattern": f"does not match the pattern {expected}",
        "format": f"is not a valid {expected}",
        "multipleOf": f"must be a multiple of {expected}",
    }
    return messages.get(str(keyword), error.message)


def input_problems(validator: Draft202012Validator, data: Any) -> list[FieldProblem]:
    """Every problem of ``data`` against the schema, in document order (empty: it is valid)."""
    problems: list[FieldProblem] = []
    seen: set[tuple[str, str]] = set()
    try:
        errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    except Unresolvable as exc:  # a $ref to nothing: the workflow's fault, named as such
        raise ValidationFailed(
            f"The workflow's input schema refers to {exc.ref!r}, which it does not define",
            fields=[FieldProblem("input", "the workflow's input schema cannot be checked", "invalid_schema")],
        ) from None
    for error in errors:
        where = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            found = [
                (_path([*where, name]), "is required")
                for name in error.validator_value
                if isinstance(name, str) and name not in error.instance
            ]
        else:
            found = [(_path(where), _message(error))]
        for path, message in found:
            if (path, message) in seen:
                continue
            seen.add((path, message))
            problems.append(FieldProblem(path, message, str(error.validator)))
    return problems[:MAX_PROBLEMS]


async def check_input(
    session: AsyncSession, tenant_id: uuid.UUID, workflow_id: uuid.UUID, version: int, data: Any
) -> None:
    """:class:`ValidationFailed` listing every problem if ``data`` does not match the version's
    input schema (fields ``input.<path>``); :class:`NotFound` for an unknown version."""
    validator = await input_validator(session, tenant_id, workflow_id, version)
    problems = input_problems(validator, data)
    if problems:
        count = len(problems)
        raise ValidationFailed(
            f"The run's input does not match the workflow's input schema: "
            f"{count} problem{'s' if count != 1 else ''}",
            fields=problems,
        )


__all__ = ["MAX_PROBLEMS", "check_input", "compile_schema", "input_problems", "input_validator"]
