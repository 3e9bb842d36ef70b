"""Processing the inbox: every pending event of ``inbox_events`` is given to the handler of its kind.

Key contracts:

* A handler is ``async def handler(session, event) -> None``, registered by exact kind
  (``"payment.succeeded"``) or by prefix ending with a dot (``"payment."``); the exact kind wins,
  then the longest prefix. It runs **in the transaction that claimed the event** (bound to the
  event's tenant), inside a savepoint: its effects and the ``processed`` mark commit together,
  and a handler that raises leaves no effect.
* Each event is claimed with ``SELECT … FOR UPDATE SKIP LOCKED``: any number of workers, and a
  worker killed mid-event (its transaction rolls back, the event stays pending) never process
  one event twice. A handler's *outside* effects (an HTTP call) are not covered: send them
  through the outbox (:func:`smeflow.integrations.enqueue`) in the same transaction.
* A handler error: ``attempts + 1``, ``last_error`` (a safe message), tried again after an
  exponential backoff with jitter (:class:`Backoff`), ``failed`` after ``max_attempts``. A handler
  that runs longer than ``timeout_seconds`` has failed.
* A handler that raises an error with a ``retry_after`` (seconds) has not failed: the event is tried
  again that soon, with no attempt counted (the handler bounds how long it keeps doing so).
* An event whose kind has no handler is marked processed, with a note in ``last_error``.
* Installed packages add handlers through the ``smeflow.inbox_handlers`` entry-point group: each
  entry point names a ``Mapping[str, Handler]`` (or a function returning one).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.db import Database, DbScope
from smeflow.errors import ConfigurationError
from smeflow.integrations._ingress import INBOX_CHANNEL
from smeflow.integrations._work import Backoff, DueWorker, safe_message
from smeflow.integrations.models import InboxEvent

logger = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, InboxEvent], Awaitable[None]]
HANDLERS_ENTRY_POINT_GROUP = "smeflow.inbox_handlers"


def handler_for(handlers: Mapping[str, Handler], kind: str) -> Handler | None:
    """The handler of ``kind``: the exact kind's, else the longest matching prefix's (``"payment."``)."""
    exact = handlers.get(kind)
    if exact is not None:
        return exact
    prefixes = [key for key in handlers if key.endswith(".") and kind.startswith(key)]
    return handlers[max(prefixes, key=len)] if prefixes else None


def installed_handlers() -> dict[str, Handler]:
    """The handlers installed packages declare (group ``smeflow.inbox_handlers``); a kind claimed
    twice is a :class:`ConfigurationError`."""
    found: dict[str, Handler] = {}
    for point in entry_points(group=HANDLERS_ENTRY_POINT_GROUP):
        try:
            loaded: Any = point.load()
            declared = loaded() if callable(loaded) and not isinstance(loaded, Mapping) else loaded
        except Exception as exc:
            raise ConfigurationError(f"inbox handlers {point.name!r} could not be loaded: {exc}") from None
        if not isinstance(declared, Mapping):
            raise ConfigurationError(f"inbox handlers {point.name!r} are not a mapping of kind to handler")
        for kind, handler in declared.items():
            if kind in found:
                raise ConfigurationError(f"inbox event kind {kind!r} has two handlers ({point.name!r})")
            found[kind] = handler
    return found


class InboxWorker(DueWorker):
    """Processes due inbox events (see the module docstring); :meth:`run` until cancelled."""

    table = "inbox_events"
    channel = INBOX_CHANNEL

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        *,
        backoff: Backoff | None = None,
        timeout_seconds: float = 300.0,
        concurrency: int = 4,
        batch: int = 100,
        poll_seconds: float = 1.0,
    ) -> None:
        super().__init__(db, concurrency=concurrency, batch=batch, poll_seconds=poll_seconds)
        self.handlers = dict(handlers)
        self.backoff = backoff or Backoff()
        self.timeout_seconds = timeout_seconds

    async def handle(self, tenant_id: uuid.UUID, row_id: uuid.UUID) -> bool:
        """Claim event ``row_id`` and process it in one transaction; False if it was not there to claim."""
        claim = (
            select(InboxEvent)
            .where(
                InboxEvent.tenant_id == tenant_id,
                InboxEvent.id == row_id,
                InboxEvent.status == "pending",
                InboxEvent.next_attempt_at <= func.now(),
            )
            .with_for_update(skip_locked=True)
        )
        async with self.db.transaction(DbScope.tenant(tenant_id)) as session:
            event = (await session.execute(claim)).scalar_one_or_none()
            if event is None:
                return False
            kind, attempts = event.kind, event.attempts + 1
            mark = update(InboxEvent).where(InboxEvent.tenant_id == tenant_id, InboxEvent.id == row_id)
            handler = handler_for(self.handlers, kind)
            if handler is None:
                await session.execute(
                    mark.values(
                        status="processed",
                        attempts=attempts,
                        processed_at=func.now(),
                        last_error=f"no handler for events of kind {kind!r}: nothing to do",
                    )
                )
                return True
            try:
                async with session.begin_nested(), asyncio.timeout(self.timeout_seconds):
                    await handler(session, event)
            except Exception as exc:
                message = safe_message(exc, f"the handler of {kind!r}")
                soon = getattr(exc, "retry_after", None)
                if isinstance(soon, int | float) and not isinstance(soon, bool):
                    # not a failure: the event came before what it is about (a callback that
                    # raced its own request); tried again shortly, not counted as an attempt
                    logger.info("inbox event %s (%s) waits %.2g s: %s", row_id, kind, soon, message)
                    due = {"next_attempt_at": func.now() + timedelta(seconds=soon)}
                    await session.execute(mark.values(last_error=message, **due))
                    asyncio.get_running_loop().call_later(soon, self._wake.set)
                    return True
                logger.warning("inbox event %s (%s) failed: %s", row_id, kind, message, exc_info=True)
                if attempts >= self.backoff.max_attempts:
                    values: dict[str, Any] = {"status": "failed"}
                else:
                    values = {"next_attempt_at": func.now() + timedelta(seconds=self.backoff.delay(attempts))}
                await session.execute(mark.values(attempts=attempts, last_error=message, **values))
                return True
            await session.execute(
                mark.values(status="processed", attempts=attempts, processed_at=func.now(), last_error=None)
            )
            return True


__all__ = ["HANDLERS_ENTRY_POINT_GROUP", "Handler", "InboxWorker", "handler_for", "installed_handlers"]
