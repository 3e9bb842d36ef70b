"""Starting the inbox and outbox workers next to the run workers (``smeflow worker``, and
``smeflow serve``'s embedded worker)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from smeflow.connectors import ConnectorRegistry, HttpFactory, default_registry
from smeflow.db import Database
from smeflow.errors import ConfigurationError
from smeflow.integrations._inbox import Handler, InboxWorker, installed_handlers
from smeflow.integrations._outbox import OutboxWorker
from smeflow.integrations._polling import PollingWorker
from smeflow.integrations._vault import Vault
from smeflow.settings import Settings

logger = logging.getLogger(__name__)


@asynccontextmanager
async def integration_workers(
    db: Database,
    settings: Settings,
    http: HttpFactory,
    *,
    connectors: ConnectorRegistry | None = None,
    handlers: Mapping[str, Handler] | None = None,
    periodic: Mapping[str, tuple[float, Callable[[], Awaitable[object]]]] | None = None,
) -> AsyncIterator[tuple[InboxWorker, OutboxWorker]]:
    """An inbox worker (the process's ``handlers`` and the installed ones: a kind claimed by both is
    a :class:`ConfigurationError`), an outbox worker (``connectors``, default: the built-in and
    installed ones; HTTP through ``http``), a polling worker (the connectors' polling triggers),
    and each ``periodic`` job (name → seconds between runs, job: payment reconciliation), running
    until the block ends."""
    own = dict(handlers or {})
    installed = installed_handlers()
    if both := sorted(set(own) & set(installed)):
        raise ConfigurationError(f"inbox event kinds {both} have a handler and an installed one")
    inbox = InboxWorker(db, own | installed)
    registry = connectors or default_registry()
    outbox = OutboxWorker(db, settings, registry, http)
    polls = PollingWorker(db, Vault.from_settings(settings), registry, http)
    tasks = [
        asyncio.create_task(inbox.run(), name="smeflow-inbox-worker"),
        asyncio.create_task(outbox.run(), name="smeflow-outbox-worker"),
        asyncio.create_task(polls.run(), name="smeflow-polling-worker"),
        *(
            asyncio.create_task(_every(name, seconds, job), name=f"smeflow-{name}")
            for name, (seconds, job) in (periodic or {}).items()
        ),
    ]
    try:
        yield inbox, outbox
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _every(name: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` every ``seconds``; a failure is logged and the next run comes all the same."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            logger.exception("the periodic job %s failed; it runs again in %g s", name, seconds)


__all__ = ["integration_workers"]
