"""Cursor pagination: a page of items plus an opaque cursor for the next page.

Cursors are base64url JSON of the last item's sort key; they are not secrets (RLS decides what
a query can see) but a cursor that cannot be read is a 422 naming ``query.cursor``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from smeflow.errors import FieldProblem, ValidationFailed

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="from the previous page's next_cursor")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def paginate(rows: list[Any], limit: int, key: Any, out: Any) -> Page[Any]:
    """A page from ``rows`` fetched with ``limit + 1`` (the extra row says another page exists);
    ``key(row)`` is the sort key the next query continues after, ``out(row)`` the item."""
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[out(r) for r in rows], next_cursor=encode_cursor(key(rows[-1])) if more else None)


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """The sort key inside ``cursor`` (None for the first page)."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise ValidationFailed(
            "the cursor is not one this API issued",
            fields=[FieldProblem("query.cursor", "unreadable cursor")],
        ) from exc


def decode_uuid_cursor(cursor: str | None) -> uuid.UUID | None:
    """The id inside ``cursor`` (None for the first page), for lists keyed by an id alone."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(fields=[FieldProblem("query.cursor", "unreadable cursor")]) from None


__all__ = ["Cursor", "Limit", "Page", "decode_cursor", "decode_uuid_cursor", "encode_cursor", "paginate"]
