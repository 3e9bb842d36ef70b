"""A loopback HTTP "provider" for the run-control, quota and ordering tests: the transport is the
only thing faked.

``POST /<path>`` with a JSON object. Every call is recorded in arrival order (path, body,
Idempotency-Key). A call's ``group`` (a body field) is tracked while it is in flight, so a test can
see how many calls of a tenant or an order key ever overlapped. A path can be *held* (its calls wait
until the test releases it) and scripted (its answers' statuses in order, the last repeating). A
call naming a ``meet`` point waits there until as many calls as the point expects have arrived
(only the first ones do), which proves that many ran at once without timing anything.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_SECONDS = 60.0  # generous: a held call is always released long before


class Provider:
    def __init__(self, *, delay: float = 0.0, meet: dict[str, int] | None = None) -> None:
        self.delay = delay
        self.calls: list[dict[str, Any]] = []
        self.statuses: dict[str, list[int]] = {}
        self.in_flight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()  # the most calls of each group in flight at once
        self.missed: list[str] = []  # meet points whose parties did not all come
        self._held: dict[str, threading.Event] = {}
        self._meet = {name: threading.Barrier(parties) for name, parties in (meet or {}).items()}
        self._arrived: Counter[str] = Counter()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hold(self, path: str) -> None:
        """Calls to ``path`` wait until :meth:`release`."""
        self._held[path] = threading.Event()

    def release(self, path: str) -> None:
        self._held[path].set()

    def script(self, path: str, *statuses: int) -> None:
        self.statuses[path] = list(statuses)

    def to(self, path: str) -> list[dict[str, Any]]:
        """The calls to ``path``, in arrival order."""
        with self._lock:
            return [call for call in self.calls if call["path"] == path]

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        body = json.loads(request.rfile.read(int(request.headers["Content-Length"])))
        path, group = request.path, str(body.get("group", ""))
        with self._lock:
            self.calls.append({"path": path, "body": body, "key": request.headers.get("Idempotency-Key")})
            count = sum(1 for call in self.calls if call["path"] == path)
            self.in_flight[group] += 1
            self.most[group] = max(self.most[group], self.in_flight[group])
            meet = self._meet.get(str(body.get("meet", "")))
            if meet is not None:
                self._arrived[str(body["meet"])] += 1
                meet = meet if self._arrived[str(body["meet"])] <= meet.parties else None
        try:
            if meet is not None:
                try:
                    meet.wait(timeout=HOLD_SECONDS)
                except threading.BrokenBarrierError:
                    self.missed.append(str(body["meet"]))
            if (held := self._held.get(path)) is not None:
                held.wait(timeout=HOLD_SECONDS)
            time.sleep(self.delay)
        finally:
            with self._lock:
                self.in_flight[group] -= 1  # before answering: the caller's next call comes after
        scripted = self.statuses.get(path, [200])
        status = scripted[min(count, len(scripted)) - 1]
        answer = json.dumps({"n": count}).encode()
        with contextlib.suppress(OSError):
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(answer)))
            request.end_headers()
            request.wfile.write(answer)


@contextlib.contextmanager
def provider(*, delay: float = 0.0, meet: dict[str, int] | None = None) -> Iterator[Provider]:
    server = Provider(delay=delay, meet=meet)
    server.thread.start()
    try:
        yield server
    finally:
        for held in server._held.values():
            held.set()
        server.server.shutdown()
        server.server.server_close()
        server.thread.join()
