"""Pure ASGI middleware (no per-request task or body copies): request ids and the body limit."""

from __future__ import annotations

import logging
import re
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smeflow.api._problems import internal_error, too_large
from smeflow.core.context import request_id_var, tenant_id_var

logger = logging.getLogger(__name__)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContext:
    """Give every request an id (the client's ``X-Request-ID`` if it is sane), echo it back in the
    response, and keep it in a context variable for logs and audit records."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        tenant_token = tenant_id_var.set(None)
        header = (b"x-request-id", request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Unexpected errors are answered here, where the request id is still known (Starlette's
            # outermost error middleware runs after this one has returned).
            logger.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await internal_error(scope.get("path"))(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            tenant_id_var.reset(tenant_token)


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413, whether announced by Content-Length or not."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = 0
                if announced > limit:
                    scope.setdefault("state", {})["body_too_large"] = announced
                break
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException survives FastAPI's body reading (anything else becomes a 400).
                    raise HTTPException(413, f"the body is over the limit of {limit} bytes")
            return message

        if scope.get("state", {}).get("body_too_large"):
            await too_large(limit, scope.get("path"))(scope, receive, send)
            return
        await self.app(scope, limited_receive, send)


__all__ = ["BodyLimit", "RequestContext"]
