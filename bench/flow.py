"""End-to-end engine figures with real processes: webhook → run completion throughput and latency
(b), approval decision → run resumed (c), timer lateness (d). Used by ``bench/engine.py``, which
runs them after (a) on the same PostgreSQL.

Processes: one ``smeflow serve`` (1 API process, no in-process worker), 1 or 2 ``smeflow worker``
processes, a bare ASGI app as the "provider" the workflow calls, and this load generator; all on
the same machine as the database. Clients are closed loops: each sends a signed webhook, waits
for its run to finish (told by PostgreSQL ``NOTIFY`` on the runs channel, heard on one
connection), then sends the next. Latency is from just before the POST to the notification.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from api import baseline, free_ports, wait_ready
from smeflow.engine.runtime import RUN_CHANNEL

WORKER_CONCURRENCY = 50


def webhook_flow(provider: str) -> dict[str, Any]:
    """webhook → set → condition → http.request (the local provider) → end: 5 nodes."""
    return {
        "schema_version": 1,
        "name": "Order webhook",
        "triggers": [{"kind": "webhook"}],
        "input_schema": {
            "type": "object",
            "properties": {"order": {"type": "string"}, "amount": {"type": "integer"}},
            "required": ["order", "amount"],
        },
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "prep",
                "kind": "action",
                "config": {"action": "core.set", "input": {"total": "=input.amount * 2"}},
            },
            {"id": "check", "kind": "condition", "config": {"default": "done"}},
            {
                "id": "call",
                "kind": "action",
                "config": {
                    "action": "http.request",
                    "input": {"method": "POST", "url": provider, "json": {"order": "=input.order"}},
                },
            },
            {"id": "done", "kind": "end", "config": {"output": {"total": "vars.total"}}},
        ],
        "edges": [
            {"from": "start", "to": "prep"},
            {"from": "prep", "to": "check"},
            {"from": "check", "to": "call", "condition": "vars.total > 10"},
            {"from": "check", "to": "done"},
            {"from": "call", "to": "done"},
        ],
    }


def approval_flow() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Invoice approval",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "ask", "kind": "approval", "config": {"title": "Pay the invoice?", "role": "admin"}},
            {"id": "done", "kind": "end", "config": {"output": {"outcome": "nodes.ask.outcome"}}},
        ],
        "edges": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "done"}],
    }


def timer_flow(seconds: int) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Reminder",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "pause", "kind": "wait", "config": {"duration": seconds}},
            {"id": "done", "kind": "end", "config": {"output": {"woke_at": "nodes.pause.woke_at"}}},
        ],
        "edges": [{"from": "start", "to": "pause"}, {"from": "pause", "to": "done"}],
    }


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return {"p50_ms": statistics.median(ordered) * 1000, "p95_ms": at(0.95), "p99_ms": at(0.99)}


class Finished:
    """Futures of runs, resolved by the runs channel's notifications (one LISTEN connection)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.waiting: dict[str, asyncio.Future[tuple[str, float]]] = {}
        self.early: dict[str, tuple[str, float]] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Finished:
        self.conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        await self.conn.execute(f"LISTEN {RUN_CHANNEL}")
        self._task = asyncio.create_task(self._listen())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.conn.close()

    async def _listen(self) -> None:
        async for note in self.conn.notifies():
            _, run_id, status = note.payload.split(" ")
            done = (status, time.perf_counter())
            future = self.waiting.pop(run_id, None)
            if future is None:
                self.early[run_id] = done
            elif not future.done():
                future.set_result(done)

    def wait(self, run_id: str) -> asyncio.Future[tuple[str, float]]:
        future: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()
        if run_id in self.early:
            future.set_result(self.early.pop(run_id))
        else:
            self.waiting[run_id] = future
        return future


def sign(secret: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json",
        "X-SMEFlow-Timestamp": timestamp,
        "X-SMEFlow-Signature": f"sha256={digest}",
    }


@dataclass
class Stack:
    api: str
    folder: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]]

    def workers(self, count: int) -> list[subprocess.Popen[bytes]]:
        started = [
            subprocess.Popen(
                [sys.executable, "-m", "smeflow", "worker", "--concurrency", str(WORKER_CONCURRENCY)],
                env=self.env,
                cwd=self.folder,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]
        time.sleep(3.0)  # let them connect and start listening
        return started


@contextmanager
def stack(env: dict[str, str], folder: Path) -> Iterator[tuple[Stack, str]]:
    api_port, provider_port = free_ports(2)
    env = {**env, "SMEFLOW_EMBEDDED_WORKER": "false", "SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS": "true"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "smeflow", "serve", "--workers", "1", "--port", str(api_port)],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
        ),
        baseline("bare_app:app", provider_port),
    ]
    try:
        wait_ready(f"http://127.0.0.1:{api_port}/readyz", timeout=120)
        wait_ready(f"http://127.0.0.1:{provider_port}/")
        yield Stack(f"http://127.0.0.1:{api_port}", folder, env, procs), f"http://127.0.0.1:{provider_port}/"
    finally:
        stop(procs)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def publish(client: httpx.AsyncClient, definition: dict[str, Any]) -> str:
    created = await client.post(
        "/api/v1/workflows", json={"name": definition["name"], "definition": definition}
    )
    created.raise_for_status()
    workflow_id = str(created.json()["id"])
    published = await client.post(f"/api/v1/workflows/{workflow_id}/publish")
    published.raise_for_status()
    return workflow_id


async def throughput(
    stack: Stack, key: str, slug: str, provider: str, conninfo: str, concurrency: int, seconds: float
) -> dict[str, float]:
    """(b): closed-loop clients sending signed webhooks for ``seconds``; completed runs/s and latency."""
    async with httpx.AsyncClient(base_url=stack.api, headers={"X-API-Key": key}, timeout=30) as admin:
        workflow = await publish(
            admin, webhook_flow(provider) | {"name": f"Orders c{concurrency}-{uuid.uuid4().hex[:4]}"}
        )
        rotated = await admin.post(f"/api/v1/workflows/{workflow}/webhook-secret")
        rotated.raise_for_status()
        secret = rotated.json()["secret"]
    url = f"/api/v1/hooks/{slug}/{workflow}"
    latencies: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with (
        Finished(conninfo) as finished,
        httpx.AsyncClient(base_url=stack.api, limits=limits, timeout=30) as http,
    ):

        async def client(index: int, until: float, record: bool) -> None:
            nonlocal failed
            n = 0
            while time.perf_counter() < until:
                n += 1
                body = json.dumps({"order": f"o-{index}-{n}", "amount": 100 + n}).encode()
                sent = time.perf_counter()
                answer = await http.post(url, content=body, headers=sign(secret, body))
                if answer.status_code != 202:
                    raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text}")
                status, at = await finished.wait(str(answer.json()["run_id"]))
                if record:
                    latencies.append(at - sent)
                    failed += status != "succeeded"

        warm = time.perf_counter() + 2.0
        await asyncio.gather(*(client(i, warm, False) for i in range(concurrency)))
        started = time.perf_counter()
        await asyncio.gather(*(client(i, started + seconds, True) for i in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "runs_per_s": len(latencies) / wall,
        **percentiles(latencies),
        "runs": len(latencies),
        "failed": failed,
    }


async def approvals(stack: Stack, key: str, conninfo: str, runs: int) -> dict[str, float]:
    """(c): ``runs`` runs wait at an approval; each decision is sent (10 at a time) and timed until
    its run has finished (resumed, ended, recorded)."""
    async with httpx.AsyncClient(base_url=stack.api, headers={"X-API-Key": key}, timeout=30) as http:
        workflow = await publish(http, approval_flow())
        ids = []
        for _ in range(runs):
            started = await http.post(f"/api/v1/workflows/{workflow}/runs", json={"input": {}})
            started.raise_for_status()
            ids.append(str(started.json()["id"]))
        by_approval: dict[str, str] = {}
        deadline = time.monotonic() + 120
        while len(by_approval) < runs and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            by_approval, cursor = {}, None
            while True:
                params: dict[str, Any] = {"status": "pending", "limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = (await http.get("/api/v1/approvals", params=params)).json()
                by_approval |= {item["id"]: str(item["run_id"]) for item in page["items"]}
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        if len(by_approval) < runs:
            raise RuntimeError(f"only {len(by_approval)} of {runs} runs reached their approval")
        latencies: list[float] = []
        semaphore = asyncio.Semaphore(10)
        async with Finished(conninfo) as finished:

            async def decide(approval_id: str) -> None:
                async with semaphore:
                    done = finished.wait(by_approval[approval_id])
                    sent = time.perf_counter()
                    answer = await http.post(
                        f"/api/v1/approvals/{approval_id}/decision", json={"outcome": "approve"}
                    )
                    answer.raise_for_status()
                    _, at = await done
                    latencies.append(at - sent)

            await asyncio.gather(*(decide(a) for a in by_approval))
    return {**percentiles(latencies), "runs": len(latencies)}


async def timers(stack: Stack, key: str, conninfo: str, runs: int, seconds: int) -> dict[str, float]:
    """(d): ``runs`` runs each wait ``seconds``; lateness = when the wait step woke minus when it was due
    (both recorded by the run), and when the run finished minus when it was due."""
    async with httpx.AsyncClient(base_url=stack.api, headers={"X-API-Key": key}, timeout=30) as http:
        workflow = await publish(http, timer_flow(seconds))
        ids = []
        for _ in range(runs):
            started = await http.post(f"/api/v1/workflows/{workflow}/runs", json={"input": {}})
            started.raise_for_status()
            ids.append(str(started.json()["id"]))
    deadline = time.monotonic() + seconds + 120
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        while time.monotonic() < deadline:
            row = await (
                await conn.execute(
                    "SELECT count(*) FROM runs WHERE id = ANY(%s) AND finished_at IS NOT NULL", (ids,)
                )
            ).fetchone()
            if row is not None and row[0] == runs:
                break
            await asyncio.sleep(0.5)
        rows = await (
            await conn.execute(
                "SELECT (e.output->>'woke_at')::timestamptz - (e.output->>'due')::timestamptz,"
                "       r.finished_at - (e.output->>'due')::timestamptz"
                "  FROM run_events e JOIN runs r ON r.tenant_id = e.tenant_id AND r.id = e.run_id"
                " WHERE e.run_id = ANY(%s) AND e.node_id = 'pause' AND e.status = 'succeeded'",
                (ids,),
            )
        ).fetchall()
    if len(rows) < runs:
        raise RuntimeError(f"only {len(rows)} of {runs} timers fired")
    woke = percentiles([row[0].total_seconds() for row in rows])
    ended = percentiles([row[1].total_seconds() for row in rows])
    return {
        "woke_p50_ms": woke["p50_ms"],
        "woke_p95_ms": woke["p95_ms"],
        "finished_p50_ms": ended["p50_ms"],
        "finished_p95_ms": ended["p95_ms"],
        "runs": len(rows),
    }
