"""A worker killed with SIGKILL loses no run and repeats no journaled write: real ``smeflow worker``
processes, a loopback "provider" that takes its time and logs every Idempotency-Key it receives.

1. Twenty runs in flight, the worker is killed after some writes went out; a second worker takes
   over (the dead worker's stalled jobs are retried by the sweeper), every run succeeds, every
   write arrived, and no write whose journal row existed at the kill arrived twice.
2. The at-least-once window, made deterministic with no hook in the product: the journal table
   is locked, so the worker is stuck right after the provider answered and before its journal row
   commits; it is killed there. The run is finished by a second worker and the write arrives
   exactly twice, with the same key both times.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from sqlalchemy import URL

from smeflow.db import Database, to_libpq
from smeflow.engine.run_models import Run
from smeflow.engine.runtime import RunQueue, Runtime, idempotency_key
from smeflow.engine.runtime._records import read_journal

from .test_runtime import accept, load, published

DEADLINE = 60.0  # seconds: generous, never reached when things work
RUNS = 20


class SlowProvider:
    """A loopback HTTP server that logs each POST's Idempotency-Key on arrival, then takes
    ``delay`` seconds to answer (so runs are mid-flight when the worker dies)."""

    def __init__(self, delay: float) -> None:
        self.keys: list[str] = []
        self.answered: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("Idempotency-Key", "")
                with outer.lock:
                    outer.keys.append(key)
                time.sleep(delay)
                answer = json.dumps({"ok": True}).encode()
                with contextlib.suppress(OSError):  # the caller may be dead by now
                    self.send_response(201)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    self.wfile.flush()
                    with outer.lock:
                        outer.answered.append(key)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/orders"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> Counter[str]:
        with self.lock:
            return Counter(self.keys)


@contextlib.contextmanager
def provider(delay: float) -> Iterator[SlowProvider]:
    server = SlowProvider(delay)
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join()


def flow(url: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "Place order",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "order",
                "kind": "action",
                "config": {
                    "action": "http.request",
                    "input": {"url": url, "method": "POST", "json": {"n": "=input.n"}},
                },
            },
            {
                "id": "done",
                "kind": "end",
                "config": {"output": {"n": "input.n", "status": "nodes.order.status"}},
            },
        ],
        "edges": [{"from": "start", "to": "order"}, {"from": "order", "to": "done"}],
    }


class Workers:
    """Starts ``smeflow worker`` processes on the test database (short heartbeat thresholds) and
    kills any still running at the end."""

    def __init__(self, database_url: URL) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMEFLOW_")}
        self.env = env | {
            "SMEFLOW_ENV": "test",
            "SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
            "SMEFLOW_SECRET_KEY": "worker-test-secret-0123456789abcdef0123456789",
            "SMEFLOW_DATABASE_URL": to_libpq(database_url),
            "SMEFLOW_MIGRATE_ON_START": "false",
            "SMEFLOW_LOG_LEVEL": "ERROR",
            "SMEFLOW_WORKER_HEARTBEAT_SECONDS": "0.5",
            "SMEFLOW_WORKER_DEAD_AFTER_SECONDS": "3",
        }
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, concurrency: int) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smeflow",
            "worker",
            "--concurrency",
            str(concurrency),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process

    async def close(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


@pytest.fixture
async def workers(clean_db: URL) -> AsyncIterator[Workers]:
    pool = Workers(clean_db)
    try:
        yield pool
    finally:
        await pool.close()


async def sigkill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(process.wait(), timeout=30) == -signal.SIGKILL


async def eventually(check: Any, what: str) -> None:
    """Poll ``check()`` (sync or async) until it is true; fail after :data:`DEADLINE`."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + DEADLINE
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > give_up:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def statuses(db: Database, tenant: uuid.UUID, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, Run]:
    runs = {}
    for run_id in run_ids:
        run, _ = await load(db, tenant, run_id)
        runs[run_id] = run
    return runs


async def all_succeeded(db: Database, tenant: uuid.UUID, run_ids: list[uuid.UUID]) -> bool:
    runs = await statuses(db, tenant, run_ids)
    failed = [(r.id, r.error) for r in runs.values() if r.status in ("failed", "cancelled")]
    assert failed == []
    return all(r.status == "succeeded" for r in runs.values())


async def accept_deferred(
    db: Database, tenant: uuid.UUID, workflow: uuid.UUID, count: int
) -> list[uuid.UUID]:
    async with Runtime(db, allow_private_networks=True) as runtime, RunQueue(runtime) as queue:
        run_ids = [await accept(db, tenant, workflow, {"n": n}, queue) for n in range(count)]
        await queue.wait_deferred()
    return run_ids


async def test_a_killed_worker_loses_no_run_and_repeats_no_journaled_write(
    db: Database, tenant_a: uuid.UUID, workers: Workers, owner_conn: psycopg.Connection
) -> None:
    with provider(delay=0.4) as server:
        workflow = await published(db, tenant_a, flow(server.url))
        run_ids = await accept_deferred(db, tenant_a, workflow, RUNS)
        keys = {run_id: idempotency_key(run_id, "order") for run_id in run_ids}

        first = await workers.start(concurrency=4)
        # At most four runs execute at once, so a sixth write means some runs finished (and
        # journaled) while others are mid-call.
        await eventually(lambda: len(server.received()) >= 6, "the first writes")
        await sigkill(first)
        received_at_kill = server.received()
        journaled_at_kill = {
            row[0] for row in owner_conn.execute("SELECT idempotency_key FROM step_journal").fetchall()
        }
        assert journaled_at_kill, "no run had finished its write when the worker was killed"
        assert len(journaled_at_kill) < RUNS, "every run was done before the kill: nothing tested"
        running = owner_conn.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()
        assert running is not None
        assert running[0] >= 1  # the sixth write's run at least: the provider had not answered it

        await workers.start(concurrency=4)
        await eventually(lambda: all_succeeded(db, tenant_a, run_ids), "every run to succeed")

        received = server.received()
        runs = await statuses(db, tenant_a, run_ids)
    assert {run.output["n"] for run in runs.values() if run.output} == set(range(RUNS))
    assert all(run.output == {"n": run.input["n"], "status": 201} for run in runs.values())
    assert set(received) == set(keys.values())  # every run's write arrived, nothing else did
    for key in keys.values():
        if key in journaled_at_kill:
            assert received[key] == 1, f"{key} was journaled before the kill and sent again"
        else:
            # The window: sent before the kill, not yet journaled: sent once more, same key.
            assert received[key] <= 1 + (key in received_at_kill), key
    journal = owner_conn.execute("SELECT idempotency_key, count(*) FROM step_journal GROUP BY 1").fetchall()
    assert sorted(journal) == sorted((key, 1) for key in keys.values())


async def test_a_worker_killed_between_the_call_and_its_journal_row_repeats_the_call_once(
    db: Database, tenant_a: uuid.UUID, workers: Workers, clean_db: URL, owner_conn: psycopg.Connection
) -> None:
    with provider(delay=0.05) as server:
        workflow = await published(db, tenant_a, flow(server.url))
        with psycopg.connect(to_libpq(clean_db)) as blocker:
            # Journal rows cannot be written (reads still can) while this transaction is open.
            blocker.execute("LOCK TABLE step_journal IN EXCLUSIVE MODE")
            [run_id] = await accept_deferred(db, tenant_a, workflow, 1)
            key = idempotency_key(run_id, "order")
            first = await workers.start(concurrency=2)

            def waiting_on_journal() -> list[int]:
                rows = owner_conn.execute(
                    "SELECT pid FROM pg_locks WHERE NOT granted AND relation = 'step_journal'::regclass"
                ).fetchall()
                return [row[0] for row in rows]

            await eventually(lambda: server.answered == [key] and waiting_on_journal(), "the journal wait")
            pids = waiting_on_journal()
            await sigkill(first)
            for pid in pids:  # the dead worker's connection, as the server would find it
                owner_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            blocker.rollback()

        stuck, _ = await load(db, tenant_a, run_id)
        assert stuck.status == "running"
        assert await read_journal(db, tenant_a, run_id, key) is None

        await workers.start(concurrency=2)
        await eventually(lambda: all_succeeded(db, tenant_a, [run_id]), "the run to succeed")
        received = server.received()

    assert received == Counter({key: 2})  # the documented at-least-once window: same key twice
    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"n": 0, "status": 201}
    assert [node for node, status in events if status == "succeeded"] == ["start", "order", "done"]
    journaled = await read_journal(db, tenant_a, run_id, key)
    assert journaled is not None
    assert journaled.result == {"status": 201, "body": {"ok": True}}
