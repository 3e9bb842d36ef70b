"""``smeflow worker`` as a real process: a run accepted while no worker was up (and never queued)
is found by the sweeper and finished; SIGTERM stops the worker."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid

from sqlalchemy import URL

from smeflow.db import Database, to_libpq

from .test_runtime import accept, load, published

FLOW = {
    "schema_version": 1,
    "name": "Greeting",
    "triggers": [{"kind": "manual"}],
    "nodes": [
        {"id": "start", "kind": "trigger"},
        {
            "id": "greet",
            "kind": "action",
            "config": {"action": "core.set", "input": {"hello": "=input.name"}},
        },
        {"id": "done", "kind": "end", "config": {"output": {"greeting": "vars.hello"}}},
    ],
    "edges": [{"from": "start", "to": "greet"}, {"from": "greet", "to": "done"}],
}


async def test_worker_process_finishes_a_run_nobody_queued(
    db: Database, clean_db: URL, tenant_a: uuid.UUID
) -> None:
    workflow = await published(db, tenant_a, FLOW)
    run_id = await accept(db, tenant_a, workflow, {"name": "Wanjiru"})  # no queue: only the sweeper
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMEFLOW_")}
    env |= {
        "SMEFLOW_ENV": "test",
        "SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
        "SMEFLOW_SECRET_KEY": "worker-test-secret-0123456789abcdef0123456789",
        "SMEFLOW_DATABASE_URL": to_libpq(clean_db),
        "SMEFLOW_LOG_LEVEL": "WARNING",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smeflow", "worker", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        for _ in range(600):  # the sweeper runs every 5 s; allow a minute
            run, events = await load(db, tenant_a, run_id)
            if run.status in ("succeeded", "failed"):
                break
            await asyncio.sleep(0.1)
        assert (run.status, run.error) == ("succeeded", None)
        assert run.output == {"greeting": "Wanjiru"}
        assert [node for node, _ in events] == ["start", "greet", "done"]
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), timeout=30) in (0, 128 + signal.SIGTERM)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
