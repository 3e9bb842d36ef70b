"""A small echo server for the ``http`` connector: checks the configured credentials and says
back what it received."""

from __future__ import annotations

import base64
import secrets
from typing import Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from smeflow.connectors.sandbox._base import Sandbox

_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class HttpEchoSandbox(Sandbox):
    """See ``scenarios``."""

    key: ClassVar[str] = "api"
    title: ClassVar[str] = "HTTP echo server"
    scenarios: ClassVar[str] = """\
Any path and method answers 200 JSON {"method", "path", "query", "headers", "body"} (headers
lower-cased, without authorization). Credentials, when configured: Authorization: Bearer
<bearer_token>, basic auth <basic>, or the API key in <api_key_header>; any one of them that
matches is enough, none → 401.
Paths ending in /health → {"ok": true}; in /status/<code> → that status (JSON {"status": code});
in /text → text/plain. A write repeated with the same Idempotency-Key gets the first answer
again (`replayed` counts them). script("status", 503, 503) makes the next answers those statuses.
"""

    def __init__(
        self,
        *,
        bearer_token: str | None = None,
        basic: tuple[str, str] | None = None,
        api_key: str | None = None,
        api_key_header: str = "X-API-Key",
    ) -> None:
        super().__init__()
        self.bearer_token = bearer_token
        self.basic = basic
        self.api_key = api_key
        self.api_key_header = api_key_header.lower()
        self.replayed = 0
        self._answers: dict[str, tuple[int, bytes]] = {}

    def routes(self) -> list[BaseRoute]:
        return [Route("/{path:path}", self._any, methods=_METHODS)]

    def _authorised(self, request: Request) -> bool:
        wanted = []
        if self.bearer_token:
            wanted.append(("authorization", f"Bearer {self.bearer_token}"))
        if self.basic:
            token = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            wanted.append(("authorization", f"Basic {token}"))
        if self.api_key:
            wanted.append((self.api_key_header, self.api_key))
        if not wanted:
            return True
        return any(
            secrets.compare_digest(request.headers.get(name, "").encode(), value.encode())
            for name, value in wanted
        )

    async def _any(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw.decode(errors="replace")
        path = "/" + request.path_params["path"]
        self.record(request.method, path, body)
        if not self._authorised(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        key = request.headers.get("idempotency-key")
        if key and request.method != "GET" and key in self._answers:
            self.replayed += 1
            status, content = self._answers[key]
            return Response(content, status, media_type="application/json")
        scripted = self.scripted("status")
        if scripted is not None:
            return JSONResponse({"status": scripted}, status_code=int(scripted))
        segments = path.rstrip("/").split("/")
        if segments[-1] == "health":
            return JSONResponse({"ok": True})
        if segments[-1] == "text":
            return PlainTextResponse("plain words")
        if len(segments) > 2 and segments[-2] == "status" and segments[-1].isdigit():
            return JSONResponse({"status": int(segments[-1])}, status_code=int(segments[-1]))
        status = 200
        echo = {
            "method": request.method,
            "path": path,
            "query": dict(request.query_params),
            "headers": {k: v for k, v in request.headers.items() if k != "authorization"},
            "body": body,
        }
        content = orjson.dumps(echo)
        if key and request.method != "GET":
            self._answers[key] = (status, content)
        return Response(content, status, media_type="application/json")


__all__ = ["HttpEchoSandbox"]
