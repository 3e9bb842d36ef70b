"""Sandboxes: local servers that speak a provider's real protocol (paths, auth, payloads,
asynchronous callbacks with real signatures), for the demo, the tests and developers building on
SMEFlow with no network.

Key contracts:

* A :class:`Sandbox` is a Starlette app plus state a test can read (``calls``) and steer
  (documented *scenario controls*: magic amounts, magic phone numbers, or
  :meth:`Sandbox.script` for the next answers).
* Callbacks are sent by a :class:`CallbackSender` over real HTTP, after the answer to the
  request that caused them, and recorded (``callbacks.sent``); a scenario can drop or repeat one.
* :class:`SandboxServer` runs a sandbox on loopback in a thread of its own (its own event loop),
  so a test's code and the sandbox never wait on each other's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Callback:
    """One callback the sandbox sent (or tried to)."""

    url: str
    body: bytes
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None
    at: float = field(default_factory=time.time)


class CallbackSender:
    """Sends a sandbox's asynchronous callbacks, in the sandbox's loop, and records them."""

    def __init__(self) -> None:
        self.sent: list[Callback] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    def send(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Post ``body`` to ``url`` after ``delay`` seconds, ``times`` times (0: dropped)."""
        for _ in range(times):
            task = asyncio.get_running_loop().create_task(self._post(url, body, dict(headers or {}), delay))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, body: bytes, headers: dict[str, str], delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        record = Callback(url, body, headers)
        self.sent.append(record)
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        try:
            response = await self._client.post(url, content=body, headers=headers)
            record.status = response.status_code
        except httpx.HTTPError as exc:
            record.error = type(exc).__name__
            logger.info("sandbox callback to %s failed: %s", url.split("?")[0], record.error)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()


class Sandbox:
    """Base of a provider's sandbox: subclasses set ``key``, ``title``, ``scenarios`` (the
    documented controls, shown by ``smeflow sandbox``) and return their routes."""

    key: ClassVar[str]
    title: ClassVar[str]
    scenarios: ClassVar[str] = ""

    def __init__(self) -> None:
        self.callbacks = CallbackSender()
        #: every request the sandbox received: (method, path, parsed body or None)
        self.calls: list[tuple[str, str, Any]] = []
        self._scripted: dict[str, list[Any]] = {}

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            await self.callbacks.aclose()

        return Starlette(routes=self.routes(), lifespan=lifespan)

    def script(self, name: str, *answers: Any) -> None:
        """Queue answers for a named decision point (each subclass documents its names)."""
        self._scripted.setdefault(name, []).extend(answers)

    def scripted(self, name: str) -> Any:
        """The next scripted answer for ``name``, or None."""
        queue = self._scripted.get(name)
        return queue.pop(0) if queue else None

    def record(self, method: str, path: str, body: Any) -> None:
        self.calls.append((method, path, body))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SandboxServer:
    """Serve a sandbox on loopback in a background thread: ``with SandboxServer(s) as url: …``."""

    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            sandbox.app(), host=host, port=self.port, log_level="warning", access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"sandbox-{sandbox.key}", daemon=True)

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.sandbox.key} sandbox did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serving(sandbox: Sandbox) -> Iterator[str]:
    """``with serving(MpesaSandbox()) as url:`` — the sandbox's base URL while the block runs."""
    server = SandboxServer(sandbox)
    with server as url:
        yield url


__all__ = ["Callback", "CallbackSender", "Sandbox", "SandboxServer", "free_port", "serving"]
