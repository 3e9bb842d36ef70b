"""Durability modes and storage: a 50-step run under each checkpoint mode records all its steps
and leaves one checkpoint behind; a write step in a loop is a new side effect on every pass
(its own idempotency key and journal row) and none of them is repeated when the run is
re-executed from its start."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import psycopg
import pytest

from smeflow.db import Database
from smeflow.engine.runtime import RunQueue, idempotency_key, thread_id

from .test_runtime import Loopback, accept, load, loopback, published, queue  # noqa: F401  (fixtures)

STEPS = 48  # core.set steps between the trigger and the end: 50 nodes


def long_chain(durability: str) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "start", "kind": "trigger"}]
    nodes += [
        {
            "id": f"s{i}",
            "kind": "action",
            "config": {"action": "core.set", "input": {f"v{i}": f"=input.n + {i}"}},
        }
        for i in range(STEPS)
    ]
    nodes.append({"id": "done", "kind": "end", "config": {"output": {"last": f"vars.v{STEPS - 1}"}}})
    ids = [node["id"] for node in nodes]
    return {
        "schema_version": 1,
        "name": f"Fifty steps {durability}",
        "durability": durability,
        "triggers": [{"kind": "manual"}],
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in itertools.pairwise(ids)],
    }


def rows(conn: psycopg.Connection, table: str, thread: str) -> int:
    found = conn.execute(f"SELECT count(*) FROM engine.{table} WHERE thread_id = %s", (thread,)).fetchone()
    assert found is not None
    return int(found[0])


@pytest.mark.parametrize("durability", ["exit", "async", "sync"])
async def test_a_finished_50_step_run_keeps_one_checkpoint(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
    durability: str,
) -> None:
    workflow = await published(db, tenant_a, long_chain(durability))
    run_id = await accept(db, tenant_a, workflow, {"n": 5})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"

    run, events = await load(db, tenant_a, run_id)
    assert run.output == {"last": 5 + STEPS - 1}
    assert events == [(node, "succeeded") for node in ["start", *[f"s{i}" for i in range(STEPS)], "done"]]
    seqs = owner_conn.execute(
        "SELECT seq FROM run_events WHERE run_id = %s ORDER BY seq", (run_id,)
    ).fetchall()
    assert [seq for (seq,) in seqs] == list(range(1, STEPS + 3))
    thread = thread_id(tenant_a, run_id)
    assert rows(owner_conn, "checkpoints", thread) == 1
    # What is left is the last checkpoint's: its pending writes and its channel values only, not
    # one set per step.
    assert rows(owner_conn, "checkpoint_writes", thread) <= 10
    assert rows(owner_conn, "checkpoint_blobs", thread) <= 10


def loop_with_call(url: str) -> dict[str, Any]:
    """init (n = 0) → call (POST) → count (n + 1) → pause (a wait already due) → again? call : done."""
    return {
        "schema_version": 1,
        "name": "Three reminders",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "init", "kind": "action", "config": {"action": "core.set", "input": {"n": 0}}},
            {
                "id": "call",
                "kind": "action",
                "config": {
                    "action": "http.request",
                    "input": {"url": url, "method": "POST", "json": {"n": "=vars.n"}},
                },
            },
            {
                "id": "count",
                "kind": "action",
                "config": {"action": "core.set", "input": {"n": "=vars.n + 1"}},
            },
            {"id": "pause", "kind": "wait", "config": {"until": "timestamp('2020-01-01T00:00:00Z')"}},
            {"id": "again", "kind": "condition", "config": {"default": "done"}},
            {"id": "done", "kind": "end", "config": {"output": {"sent": "vars.n"}}},
        ],
        "edges": [
            {"from": "start", "to": "init"},
            {"from": "init", "to": "call"},
            {"from": "call", "to": "count"},
            {"from": "count", "to": "pause"},
            {"from": "pause", "to": "again"},
            {"from": "again", "to": "call", "condition": "vars.n < 3"},
            {"from": "again", "to": "done"},
        ],
    }


async def test_a_write_in_a_loop_is_a_new_effect_on_each_pass_and_none_is_repeated(
    db: Database,
    queue: RunQueue,  # noqa: F811
    tenant_a: uuid.UUID,
    loopback: Loopback,  # noqa: F811
    owner_conn: psycopg.Connection,
) -> None:
    workflow = await published(db, tenant_a, loop_with_call(loopback.url))
    run_id = await accept(db, tenant_a, workflow, {})
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    keys = [idempotency_key(run_id, "call", visit) for visit in (1, 2, 3)]
    assert keys == [f"{run_id}:call", f"{run_id}:call#2", f"{run_id}:call#3"]
    assert [(post["body"], post["key"]) for post in loopback.posts] == [({"n": n}, keys[n]) for n in range(3)]
    journal = owner_conn.execute(
        "SELECT idempotency_key FROM step_journal WHERE run_id = %s ORDER BY 1", (run_id,)
    ).fetchall()
    assert sorted(key for (key,) in journal) == sorted(keys)

    # A worker died at the end: the run is re-executed from its start; every pass replays its own
    # journaled answer and nothing is sent again.
    owner_conn.execute("UPDATE runs SET status = 'running' WHERE id = %s", (run_id,))
    owner_conn.execute("DELETE FROM engine.checkpoints WHERE thread_id = %s", (thread_id(tenant_a, run_id),))
    assert await queue.runtime.execute_run(tenant_a, run_id) == "succeeded"
    assert len(loopback.posts) == 3
    run, _ = await load(db, tenant_a, run_id)
    assert run.output == {"sent": 3}
