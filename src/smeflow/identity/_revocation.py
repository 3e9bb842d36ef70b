"""Telling every API process that a credential changed, so caches of verified credentials drop
it the moment the change commits.

The message is a ``pg_notify`` on :data:`AUTH_CHANNEL` sent in the same transaction as the
change (listeners hear it only if it commits). Its payload names what changed: a login session
(:func:`session_cache_key`, which the API uses as its cache key too) or :data:`EVERYTHING`
when the credential has no key a cache could know (an API key is cached under a hash of its
full secret, which is never stored).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.db import AUTH_CHANNEL, publish_auth_change

EVERYTHING = "*"


def session_cache_key(session_id: uuid.UUID | None, tenant_id: uuid.UUID | None) -> str:
    """The cache key of a login session's principal (``s:<sid>:<tid>``)."""
    return f"s:{session_id}:{tenant_id}"


async def publish_revocation(session: AsyncSession, key: str) -> None:
    """Announce, when the transaction commits, that the credential cached under ``key`` changed."""
    await publish_auth_change(session, key)


__all__ = ["AUTH_CHANNEL", "EVERYTHING", "publish_revocation", "session_cache_key"]
