"""Admission on the real database and real procrastinate workers: a tenant's concurrent-run quota
holds across workers (claims at the same moment included) without holding back another tenant or
failing a run; runs of one order key execute one at a time, in the order they were accepted, while
other keys interleave; a run waiting (with its wake-up scheduled) lets the next run of its key go,
and once woken it waits for the running one.

Overlap is observed at a loopback provider (see ``provider.py``): how many calls of a group were
ever in flight at once, and ``meet`` points that only open once that many calls are in flight."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from smeflow.db import Database, DbScope
from smeflow.engine.runtime import RunQueue, Runtime, decide, list_approvals, start_run
from smeflow.settings import Settings

from .provider import provider
from .test_control import ADMIN, approving, calling, until, waiting, working
from .test_runtime import SYSTEM, accept, load, published

MakeTenant = Callable[..., Awaitable[uuid.UUID]]  # the ``make_tenant`` fixture


async def accept_keyed(
    db: Database,
    tenant: uuid.UUID,
    workflow: uuid.UUID,
    data: dict[str, Any],
    order_key: str | None,
    run_queue: RunQueue | None = None,
) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant)) as session:
        run = await start_run(session, SYSTEM, tenant, workflow, data, order_key=order_key, queue=run_queue)
        return run.id


@pytest.fixture
async def queues(db: Database, settings: Settings) -> AsyncIterator[tuple[RunQueue, RunQueue]]:
    """Two workers' queues, each with its own runtime, with the tiers' quotas."""
    async with (
        Runtime(db, settings=settings, allow_private_networks=True) as one,
        RunQueue(one) as first,
        Runtime(db, settings=settings, allow_private_networks=True) as two,
        RunQueue(two) as second,
    ):
        yield first, second


async def jobs_of(run_queue: RunQueue, run_id: uuid.UUID) -> int:
    rows = await run_queue.app.connector.execute_query_all_async(
        "SELECT id FROM procrastinate_jobs WHERE lock = %(lock)s", lock=f"run:{run_id}"
    )
    return len(rows)


async def test_a_tenant_runs_at_most_its_quota_at_once_and_others_go_on(
    db: Database,
    queues: tuple[RunQueue, RunQueue],
    tenant_a: uuid.UUID,
    make_tenant: MakeTenant,
    settings: Settings,
) -> None:
    assert settings.tier("free").concurrent_runs == 2  # tenant A's tier
    roomy = await make_tenant("roomy", tier="business")
    first, second = queues
    # A's first two calls meet (two at once), B's first three do (B is not held to A's quota)
    with provider(delay=0.1, meet={"A": 2, "B": 3}) as server:
        small = await published(db, tenant_a, calling(server.url, "slow"))
        big = await published(db, roomy, calling(server.url, "slow"))
        a_runs = [await accept(db, tenant_a, small, {"group": "A", "n": n}, first) for n in range(6)]
        b_runs = [await accept(db, roomy, big, {"group": "B", "n": n}, second) for n in range(6)]
        await first.wait_deferred()
        await second.wait_deferred()

        async with working(first, concurrency=6), working(second, concurrency=6):

            async def all_done() -> bool:
                runs = [(await load(db, tenant_a, r))[0] for r in a_runs]
                runs += [(await load(db, roomy, r))[0] for r in b_runs]
                assert [r.error for r in runs if r.status == "failed"] == []
                return all(r.status == "succeeded" for r in runs)

            await until(all_done, "every run to succeed")

        assert server.most["A"] == 2  # never more than the quota, and the quota was used
        assert server.most["B"] >= 3
        assert server.missed == []
        assert sorted(
            call["body"]["n"] for call in server.to("/slow") if call["body"]["group"] == "A"
        ) == list(range(6))
        # a run held back was started when a slot freed, not polled: a job or two each
        for run_id in a_runs:
            assert await jobs_of(first, run_id) <= 4


async def test_claims_at_the_same_moment_do_not_exceed_the_quota(
    db: Database, queues: tuple[RunQueue, RunQueue], tenant_a: uuid.UUID
) -> None:
    first, second = queues
    with provider() as server:
        server.hold("/slow")
        workflow = await published(db, tenant_a, calling(server.url, "slow"))
        runs = [await accept(db, tenant_a, workflow, {"group": "A", "n": n}) for n in range(4)]
        executions = [
            asyncio.create_task(queue.runtime.execute(tenant_a, run_id))
            for queue, run_id in zip([first, second, first, second], runs, strict=True)
        ]
        await until(lambda: len(server.to("/slow")) == 2, "two runs to call")
        await until(lambda: sum(task.done() for task in executions) == 2, "the two others to be turned away")
        turned_away = [run for run, task in zip(runs, executions, strict=True) if task.done()]
        assert [task.result().status for task in executions if task.done()] == [None, None]
        for run_id in turned_away:
            run, events = await load(db, tenant_a, run_id)
            assert (run.status, events) == ("queued", [])  # not refused, not failed: still queued
        assert sorted(await first.runtime.startable(tenant_a)) == []  # no free slot
        server.release("/slow")
        statuses = [(await task).status for task in executions]
        assert sorted(statuses, key=str) == [None, None, "succeeded", "succeeded"]
        assert sorted(await first.runtime.startable(tenant_a)) == sorted(turned_away)  # their turn now


async def test_runs_of_one_key_execute_one_at_a_time_in_order(
    db: Database, queues: tuple[RunQueue, RunQueue], make_tenant: MakeTenant
) -> None:
    tenant = await make_tenant("chatty", tier="business")
    first, second = queues
    # the first call of each conversation meet: the two keys run side by side
    with provider(delay=0.02, meet={"start": 2}) as server:
        definition = calling(server.url, "reply")
        first_call = '=input.n == 0 && input.group != "none" ? "start" : "none"'
        definition["nodes"][1]["config"]["input"]["json"]["meet"] = first_call
        workflow = await published(db, tenant, definition)
        runs: dict[str, list[uuid.UUID]] = {"conversation:1": [], "conversation:2": []}
        for n in range(10):
            for key, ids in runs.items():
                ids.append(await accept_keyed(db, tenant, workflow, {"group": key, "n": n}, key, first))
        unkeyed = [
            await accept_keyed(db, tenant, workflow, {"group": "none", "n": n}, None, second)
            for n in range(3)
        ]
        await first.wait_deferred()
        await second.wait_deferred()

        async with working(first, concurrency=5), working(second, concurrency=5):

            async def all_done() -> bool:
                everything = [r for ids in runs.values() for r in ids] + unkeyed
                statuses = [(await load(db, tenant, r))[0].status for r in everything]
                assert "failed" not in statuses
                return all(status == "succeeded" for status in statuses)

            await until(all_done, "every run to succeed")

        calls = server.to("/reply")
        for key, ids in runs.items():
            assert server.most[key] == 1, key  # one at a time
            assert [call["body"]["n"] for call in calls if call["body"]["group"] == key] == list(range(10))
            started = [(await load(db, tenant, r))[0].started_at for r in ids]
            assert started == sorted(started)  # in the order accepted
        assert server.missed == []  # the two keys were in flight together
        groups = [call["body"]["group"] for call in calls]
        assert groups.index("conversation:2") < max(i for i, g in enumerate(groups) if g == "conversation:1")


async def test_a_waiting_run_lets_the_next_run_of_its_key_go(
    db: Database, queues: tuple[RunQueue, RunQueue], tenant_a: uuid.UUID
) -> None:
    first, _ = queues
    with provider() as server:
        sleepy = await published(db, tenant_a, waiting(3600))
        quick = await published(db, tenant_a, calling(server.url, "reply"))
        key = "conversation:42"
        asleep = await accept_keyed(db, tenant_a, sleepy, {}, key, first)
        after = await accept_keyed(db, tenant_a, quick, {"group": key, "n": 1}, key, first)
        await first.wait_deferred()
        await first.run_worker(wait=False, concurrency=1)

        run, _ = await load(db, tenant_a, asleep)
        assert run.status == "waiting"
        run, _ = await load(db, tenant_a, after)
        assert run.status == "succeeded"  # its wake-up, scheduled an hour ahead, did not hold the key
        wake = await first.app.connector.execute_query_all_async(
            "SELECT scheduled_at FROM procrastinate_jobs WHERE lock = %(lock)s AND status = 'todo'",
            lock=f"run:{asleep}",
        )
        assert len(wake) == 1


async def test_a_woken_run_waits_for_the_running_run_of_its_key(
    db: Database, queues: tuple[RunQueue, RunQueue], tenant_a: uuid.UUID
) -> None:
    first, _ = queues
    runtime = first.runtime
    with provider() as server:
        asking = await published(db, tenant_a, approving())
        quick = await published(db, tenant_a, calling(server.url, "reply"))
        key = "conversation:7"
        asks = await accept_keyed(db, tenant_a, asking, {}, key)
        answers = await accept_keyed(db, tenant_a, quick, {"group": key, "n": 1}, key)
        later = await accept_keyed(db, tenant_a, quick, {"group": key, "n": 2}, key)
        assert await runtime.execute_run(tenant_a, asks) == "waiting"
        assert await runtime.startable(tenant_a) == [answers]  # the waiting run does not hold the key

        server.hold("/reply")
        running = asyncio.create_task(runtime.execute(tenant_a, answers))
        await until(lambda: server.to("/reply"), "the reply")
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            (approval,) = await list_approvals(session, tenant_a, run_id=asks)
            await decide(session, ADMIN, tenant_a, approval.id, "approve")
        assert (await runtime.execute(tenant_a, asks)).status is None  # its key is busy: not yet
        assert (await load(db, tenant_a, asks))[0].status == "queued"
        assert (await runtime.execute(tenant_a, later)).status is None

        server.release("/reply")
        assert (await running).status == "succeeded"
        assert await runtime.startable(tenant_a) == [asks]  # accepted first, woken: it goes first
        assert await runtime.execute_run(tenant_a, asks) == "succeeded"
        assert await runtime.startable(tenant_a) == [later]
        assert await runtime.execute_run(tenant_a, later) == "succeeded"
