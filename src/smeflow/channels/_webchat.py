"""Web chat: signed visitor tokens (no login) and the hub that pushes a conversation's outgoing
messages to the visitor's open connections.

Key contracts:

* A visitor is ``v_<random>``; their token is ``<visitor>.<HMAC-SHA256>`` over the tenant and the
  visitor with a key derived from ``settings.secret_key`` (purpose ``chat/visitor``), so a token
  is good for one tenant only and cannot be forged; a bad token gets a new visitor, never an
  error that tells anything.
* :class:`ChatHub` LISTENs on :data:`~._senders.CHAT_CHANNEL` (one connection per process) and
  hands each announced message id to the queues subscribed to its tenant + conversation. A
  notification can be missed (a lost connection): the client says which message it saw last when
  it reconnects and gets the stored messages after it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import uuid
from collections import defaultdict

import psycopg

from smeflow.channels._senders import CHAT_CHANNEL
from smeflow.core import new_token
from smeflow.core.sealing import derive_key
from smeflow.settings import Settings

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0
_PURPOSE = "chat/visitor"


def _signature(settings: Settings, tenant_id: uuid.UUID, visitor_id: str) -> str:
    key = derive_key(settings.secret_key.get_secret_value(), _PURPOSE)
    digest = hmac.new(key, f"{tenant_id}:{visitor_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_visitor(settings: Settings, tenant_id: uuid.UUID) -> tuple[str, str]:
    """A new visitor id of the tenant's web chat and its token."""
    visitor_id = "v_" + new_token(12).replace("-", "x").replace("_", "y")
    return visitor_id, f"{visitor_id}.{_signature(settings, tenant_id, visitor_id)}"


def visitor_of(settings: Settings, tenant_id: uuid.UUID, token: str | None) -> str | None:
    """The visitor a token names, if it is the tenant's and its signature holds; else None."""
    if not token or token.count(".") != 1:
        return None
    visitor_id, signature = token.split(".")
    if not visitor_id.startswith("v_") or len(visitor_id) > 40:
        return None
    expected = _signature(settings, tenant_id, visitor_id)
    return visitor_id if hmac.compare_digest(signature.encode(), expected.encode()) else None


class ChatHub:
    """The open web chat connections of this process, by tenant + conversation (see the module
    docstring). :meth:`open` before use, :meth:`close` at the end."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._queues: dict[tuple[uuid.UUID, uuid.UUID], set[asyncio.Queue[uuid.UUID]]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start listening (listening when this returns)."""
        if self._listener is None:
            connection = await self._connect()
            self._listener = asyncio.create_task(self._listen(connection), name="smeflow-chat-hub")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    def subscribe(self, tenant_id: uuid.UUID, conversation_id: uuid.UUID) -> asyncio.Queue[uuid.UUID]:
        """A queue of the ids of the conversation's messages announced from now on."""
        queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        self._queues[(tenant_id, conversation_id)].add(queue)
        return queue

    def unsubscribe(
        self, tenant_id: uuid.UUID, conversation_id: uuid.UUID, queue: asyncio.Queue[uuid.UUID]
    ) -> None:
        key = (tenant_id, conversation_id)
        self._queues[key].discard(queue)
        if not self._queues[key]:
            del self._queues[key]

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        await connection.execute(f"LISTEN {CHAT_CHANNEL}")
        return connection

    def _heard(self, payload: str) -> None:
        try:
            tenant, conversation, message = (uuid.UUID(part) for part in payload.split(" "))
        except ValueError:
            logger.warning("ignoring a chat notification that names no message")
            return
        for queue in self._queues.get((tenant, conversation), ()):
            queue.put_nowait(message)

    async def _listen(self, connection: psycopg.AsyncConnection[tuple[object, ...]] | None) -> None:
        while True:
            try:
                if connection is None:
                    connection = await self._connect()
                async with connection:
                    async for note in connection.notifies():
                        self._heard(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: listen again shortly
                logger.warning("the chat listener lost its connection; retrying", exc_info=True)
                await asyncio.sleep(RECONNECT_SECONDS)
            connection = None


__all__ = ["ChatHub", "new_visitor", "visitor_of"]
