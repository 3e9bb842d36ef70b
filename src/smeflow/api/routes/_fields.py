"""Naming a service's input problems after the request's fields.

Services name the argument that was wrong (``email``, ``scopes``, ``tenant``); the client needs
the field of its request (``body.email``, ``body.owner.email``). A route wraps its service calls
in :func:`body_fields` to translate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from smeflow.errors import FieldProblem, SMEFlowError

_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _in_request(field: str, prefix: str) -> str:
    if field.split(".", 1)[0] in _LOCATIONS:
        return field  # already names where in the request it is
    return f"{prefix}.{field}"


@contextmanager
def body_fields(prefix: str = "body") -> Iterator[None]:
    """Re-name the fields of a :class:`~smeflow.errors.SMEFlowError` raised inside the block as
    fields under ``prefix`` (``email`` → ``body.email``); fields already naming a request
    location (``body.slug``, ``query.cursor``) are kept."""
    try:
        yield
    except SMEFlowError as exc:
        exc.fields = [FieldProblem(_in_request(f.field, prefix), f.message, f.code) for f in exc.fields]
        raise


__all__ = ["body_fields"]
