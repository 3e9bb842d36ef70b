"""Starting the inbox and outbox workers next to the run workers (``smeflow worker``, and
``smeflow serve``'s embedded worker)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from smeflow.connectors import ConnectorRegistry, HttpFactory, default_registry
from smeflow.db import Database
from smeflow.errors import ConfigurationError
from smeflow.integrations._inbox import Handler, InboxWorker, installed_handlers
from smeflow.integrations._outbox import OutboxWorker
from smeflow.settings import Settings


@asynccontextmanager
async def integration_workers(
    db: Database,
    settings: Settings,
    http: HttpFactory,
    *,
    connectors: ConnectorRegistry | None = None,
    handlers: Mapping[str, Handler] | None = None,
) -> AsyncIterator[tuple[InboxWorker, OutboxWorker]]:
    """An inbox worker (the process's ``handlers`` and the installed ones: a kind claimed by both is
    a :class:`ConfigurationError`) and an outbox worker (``connectors``, default: the built-in and
    installed ones; HTTP through ``http``), running until the block ends."""
    own = dict(handlers or {})
    installed = installed_handlers()
    if both := sorted(set(own) & set(installed)):
        raise ConfigurationError(f"inbox event kinds {both} have a handler and an installed one")
    inbox = InboxWorker(db, own | installed)
    outbox = OutboxWorker(db, settings, connectors or default_registry(), http)
    tasks = [
        asyncio.create_task(inbox.run(), name="smeflow-inbox-worker"),
        asyncio.create_task(outbox.run(), name="smeflow-outbox-worker"),
    ]
    try:
        yield inbox, outbox
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["integration_workers"]
