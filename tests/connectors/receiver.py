"""A local webhook receiver for connector tests: records each delivery as it arrived."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors import InboundRequest
from smeflow.connectors.sandbox import Sandbox


class Receiver(Sandbox):
    """``POST /hook``: each delivery kept as the connector would see it (raw body, lower-cased headers)."""

    key = "receiver"
    title = "Webhook receiver"

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[InboundRequest] = []

    def routes(self) -> list[BaseRoute]:
        async def hook(request: Request) -> Response:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.deliveries.append(InboundRequest("POST", body, headers))
            return JSONResponse({"ok": True})

        return [Route("/hook", hook, methods=["POST"])]

    async def wait_for(self, count: int) -> list[InboundRequest]:
        """The first ``count`` deliveries, once they have arrived (a generous deadline)."""
        deadline = time.monotonic() + 30
        while len(self.deliveries) < count:
            assert time.monotonic() < deadline, f"{count} deliveries expected, {len(self.deliveries)} arrived"
            await asyncio.sleep(0.02)
        return self.deliveries[:count]
