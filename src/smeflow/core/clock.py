"""Time: always timezone-aware UTC inside SMEFlow."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, with microseconds (the precision PostgreSQL keeps)."""
    return datetime.now(UTC)


__all__ = ["utcnow"]
