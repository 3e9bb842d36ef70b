"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.routing import Route

from smeflow import __version__
from smeflow.api._authcache import AuthCache
from smeflow.api._middleware import BodyLimit, RequestContext
from smeflow.api._problems import install_problem_handlers
from smeflow.api._ratelimit import make_rate_limiter
from smeflow.api._state import AppState
from smeflow.api.mcp import MCP_PATH, McpEndpoint
from smeflow.api.routes import ROUTERS
from smeflow.channels._kit import ChannelKit
from smeflow.channels._webchat import ChatHub
from smeflow.connectors import ConnectorRegistry, default_registry
from smeflow.db import Database, DbScope, migrate, to_libpq
from smeflow.engine.runtime import RunQueue, Runtime
from smeflow.identity import Authorizer, OidcVerifier
from smeflow.integrations import integration_workers
from smeflow.settings import Settings

logger = logging.getLogger(__name__)

DESCRIPTION = """\
SMEFlow's REST API. Authenticate with an access token (`POST /api/v1/auth/login`) or an API
key (`X-API-Key: smf_…`). Errors are RFC 9457 problem details with a stable `code`; lists use
cursor pagination (`limit`, `cursor` → `next_cursor`).
"""


def create_app(
    settings: Settings, *, database: Database | None = None, connectors: ConnectorRegistry | None = None
) -> FastAPI:
    """The API application. With no ``database`` it connects (or starts the embedded server)
    and migrates on start-up when ``settings.migrate_on_start``; with no ``connectors`` it
    registers the built-in and installed ones (:func:`~smeflow.connectors.default_registry`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # first: a connector that is not valid stops the start-up before anything is opened
        registry = connectors if connectors is not None else default_registry()
        db = database if database is not None else await asyncio.to_thread(Database.from_settings, settings)
        if database is None and settings.migrate_on_start:
            password = settings.database_app_password
            await asyncio.to_thread(
                migrate,
                db.owner_url,
                settings.database_app_role,
                password.get_secret_value() if password else None,
            )
        async with db.transaction(DbScope.auth()) as session:
            authorizer = await Authorizer.load(session)
        http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        cache: AuthCache[Any] = AuthCache(settings.auth_cache_seconds)
        cache.start_listening(to_libpq(db.app_url))
        stack = AsyncExitStack()
        runtime = await stack.enter_async_context(
            Runtime(
                db,
                settings=settings,
                allow_private_networks=settings.http_allow_private_networks,
                connectors=registry,
            )
        )
        runs = await stack.enter_async_context(
            RunQueue(
                runtime,
                heartbeat_seconds=settings.worker_heartbeat_seconds,
                dead_after_seconds=settings.worker_dead_after_seconds,
            )
        )
        kit = runtime.integrations
        assert kit is not None  # the runtime has settings
        kit.queue = runs
        # conversations: the channels' senders for send_message steps, message.received handling
        channels = ChannelKit.build(
            db, kit.registry, kit.vault, kit.http, queue=lambda: kit.queue, public_url=settings.public_url
        )
        channels.install(runtime.senders)
        hub = ChatHub(to_libpq(db.app_url))
        await hub.open()
        stack.push_async_callback(hub.close)
        worker = (
            asyncio.create_task(
                runs.run_worker(concurrency=settings.worker_concurrency), name="smeflow-embedded-worker"
            )
            if settings.embedded_worker
            else None
        )
        if settings.embedded_worker:
            await stack.enter_async_context(
                integration_workers(
                    db,
                    settings,
                    kit.http,
                    connectors=kit.registry,
                    handlers=kit.handlers() | channels.handlers(),
                    periodic=kit.periodic(settings),
                )
            )
        state = AppState(
            settings=settings,
            db=db,
            authorizer=authorizer,
            limiter=make_rate_limiter(settings.redis_url),
            auth_cache=cache,
            http=http,
            oidc=OidcVerifier(settings.oidc, http) if settings.oidc else None,
            runs=runs,
            connectors=registry,
            connector_http=kit.http,
            payments=kit.payments,
        )
        app.state.smeflow = state
        app.state.channels = channels
        app.state.chat_hub = hub
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            if state.ingress is not None:
                await state.ingress.aclose()
            await stack.aclose()
            await cache.close()
            await state.limiter.close()
            await http.aclose()
            if database is None:
                await db.dispose()
                db.close()

    app = FastAPI(
        title="SMEFlow API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    for router in ROUTERS:
        app.include_router(router)
    # MCP over Streamable HTTP (an ASGI app of its own: it authenticates like the API, see api.mcp)
    app.router.routes.append(Route(MCP_PATH, McpEndpoint(), methods=["GET", "POST", "DELETE"]))
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` worker processes: settings from the environment."""
    from smeflow.core.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    return create_app(settings)


__all__ = ["app_from_environment", "create_app"]
