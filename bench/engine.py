"""Workflow runtime overhead against raw LangGraph, in the same run on the same PostgreSQL.

(a) per-step cost: a 10-step workflow (trigger → 8 x core.set → end) executed by SMEFlow's
runtime (claim the run, compile once, run with the Postgres checkpointer, one run_events row per
step, status and output, prune checkpoints) against the same-shaped graph run directly in
LangGraph with the same checkpointer, pool and durability (10 trivial nodes), sequentially and
at concurrency 10.

Then, with real processes on the same PostgreSQL (see ``bench/flow.py``): (b) webhook → run
finished throughput and latency of a 5-node workflow at 1, 10 and 50 clients with 1 and 2 worker
processes, with the CPU time per run of each process; (c) approval decision → run finished; (d)
timer lateness.

    python bench/engine.py [--runs 200] [--seconds 15] [--only a|e2e]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

import flow
from smeflow.audit import Actor
from smeflow.db import Database, DbScope, EmbeddedPostgres, ensure_database, migrate, to_async_url, to_libpq
from smeflow.engine.runtime import Runtime, start_run
from smeflow.engine.workflows import create_workflow, publish
from smeflow.identity import Principal, create_api_key
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant

SECRET = "bench-secret-key-0123456789abcdef0123456789"  # noqa: S105 (a throwaway benchmark key)
STEPS = 8  # core.set steps between the trigger and the end: 10 nodes in all
ACTOR = Actor.system("bench")
DURABILITIES = ("exit", "async")


def chain(durability: str) -> dict[str, Any]:
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
    ids = [n["id"] for n in nodes]
    return {
        "schema_version": 1,
        "name": f"Chain ({durability})",
        "durability": durability,
        "triggers": [{"kind": "manual"}],
        "nodes": nodes,
        "edges": [{"from": a, "to": b} for a, b in itertools.pairwise(ids)],
    }


class RawState(TypedDict, total=False):
    input: dict[str, Any]
    vars: dict[str, Any]


def raw_graph(saver: Any) -> Any:
    builder: StateGraph[RawState] = StateGraph(RawState)
    names = ["start", *[f"s{i}" for i in range(STEPS)], "done"]

    def step(i: int) -> Any:
        async def node(state: RawState) -> RawState:
            return {"vars": {**state.get("vars", {}), f"v{i}": state["input"]["n"] + i}}

        return node

    for i, name in enumerate(names):
        builder.add_node(name, step(i))
    builder.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], END)
    return builder.compile(checkpointer=saver)


def summary(seconds: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "runs_per_s": len(seconds) / wall,
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(len(ordered) * 0.95) - 1] * 1000,
        "per_step_ms": statistics.mean(ordered) * 1000 / (STEPS + 2),
    }


async def timed(jobs: list[Any], concurrency: int) -> tuple[list[float], float]:
    semaphore = asyncio.Semaphore(concurrency)
    durations: list[float] = []

    async def one(job: Any) -> None:
        async with semaphore:
            started = time.perf_counter()
            await job()
            durations.append(time.perf_counter() - started)

    wall = time.perf_counter()
    await asyncio.gather(*(one(job) for job in jobs))
    return durations, time.perf_counter() - wall


async def bench(settings: Settings, runs: int) -> dict[str, dict[str, float]]:
    db = Database.from_settings(settings)
    results: dict[str, dict[str, float]] = {}
    try:
        async with db.transaction(DbScope.platform()) as session:
            tenant = await create_tenant(
                session,
                settings,
                ACTOR,
                TenantCreate(slug="bench", name="Bench", country="KE", tier="enterprise"),
            )
            workflows = {}
            for durability in DURABILITIES:
                workflow, problems = await create_workflow(
                    session, ACTOR, tenant.id, f"Chain {durability}", chain(durability)
                )
                assert problems == [], problems
                await publish(session, ACTOR, tenant.id, workflow.id)
                workflows[durability] = workflow.id
        async with Runtime(db) as runtime:
            graph = raw_graph(runtime.saver)
            for durability in DURABILITIES:
                for concurrency in (1, 10):
                    async with db.transaction(DbScope.tenant(tenant.id)) as session:
                        ids = [
                            (await start_run(session, ACTOR, tenant.id, workflows[durability], {"n": i})).id
                            for i in range(runs)
                        ]

                    def ours(run_id: uuid.UUID) -> Any:
                        async def go() -> None:
                            assert await runtime.execute_run(tenant.id, run_id) == "succeeded"

                        return go

                    def raw(i: int, c: int = concurrency, d: str = durability) -> Any:
                        async def go() -> None:
                            config = {"configurable": {"thread_id": f"raw-{d}-{c}-{i}"}}
                            out = await graph.ainvoke({"input": {"n": i}, "vars": {}}, config, durability=d)
                            assert out["vars"][f"v{STEPS - 1}"] == i + STEPS - 1

                        return go

                    await timed([raw(-1 - i) for i in range(5)], 1)  # warm-up both paths
                    durations, wall = await timed([raw(i) for i in range(runs)], concurrency)
                    results[f"raw LangGraph, {durability}, c={concurrency}"] = summary(durations, wall)
                    durations, wall = await timed([ours(r) for r in ids], concurrency)
                    results[f"SMEFlow runtime, {durability}, c={concurrency}"] = summary(durations, wall)
    finally:
        await db.dispose()
        db.close()
    return results


async def seed_api(settings: Settings) -> str:
    """A tenant for the end-to-end figures and an admin API key."""
    db = Database.from_settings(settings)
    try:
        async with db.transaction(DbScope.platform()) as session:
            tenant = await create_tenant(
                session,
                settings,
                ACTOR,
                TenantCreate(slug="flow", name="Flow", country="KE", tier="enterprise"),
            )
            creator = Principal(kind="user", tenant_id=tenant.id, role="owner", user_id=None)
            key, _ = await create_api_key(session, creator, tenant.id, "bench", "admin", ["*"])
        return key
    finally:
        await db.dispose()


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def cpu_seconds(roots: list[int], *, reaped: bool = True) -> float:
    """CPU time (user + system) used so far by the processes ``roots`` and their descendants,
    with (``reaped``) the children they have reaped (a PostgreSQL backend that exited counts in
    the postmaster's): a figure of work done that other load on the machine does not inflate."""
    if not reaped:  # this process alone (its reaped children are the stopped servers)
        times = os.times()
        return times.user + times.system
    tree, total, todo = _children(), 0, list(roots)
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        todo += tree.get(pid, [])
    return total / TICKS


def server_pids(folder: Path, external: str | None) -> list[int]:
    """The embedded PostgreSQL's postmaster (nothing for an external server)."""
    pidfile = folder / "pg" / "postmaster.pid"
    return [int(pidfile.read_text().split()[0])] if external is None and pidfile.exists() else []


def end_to_end(
    env: dict[str, str], folder: Path, settings: Settings, args: argparse.Namespace, database: list[int]
) -> dict[str, Any]:
    key = asyncio.run(seed_api(settings))
    conninfo = settings.database_url.get_secret_value()  # type: ignore[union-attr]
    figures: dict[str, Any] = {}
    with flow.stack(env, folder) as (stack, provider):
        for workers in (1, 2):
            procs = stack.workers(workers)
            parts = {
                "api": [stack.procs[0].pid],
                "workers": [proc.pid for proc in procs],
                "db": database,
                "provider": [stack.procs[1].pid],
                "load": [],  # this process: the clients
            }
            try:
                for concurrency in (1, 10, 50):
                    before = {part: cpu_seconds(pids, reaped=part != "load") for part, pids in parts.items()}
                    row = asyncio.run(
                        flow.throughput(stack, key, "flow", provider, conninfo, concurrency, args.seconds)
                    )
                    done = max(row["runs"], 1) * (1 + 2.0 / args.seconds)  # the warm-up's runs too
                    row |= {
                        f"cpu_{part}": (cpu_seconds(pids, reaped=part != "load") - before[part]) * 1000 / done
                        for part, pids in parts.items()
                    }
                    figures[f"b {workers}w c={concurrency}"] = row
                if workers == 2:
                    figures["c"] = asyncio.run(flow.approvals(stack, key, conninfo, args.approvals))
                    figures["d"] = asyncio.run(flow.timers(stack, key, conninfo, args.timers, 2))
            finally:
                flow.stop(procs)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="(a): runs per row")
    parser.add_argument("--seconds", type=float, default=15.0, help="(b): seconds per row")
    parser.add_argument("--approvals", type=int, default=200, help="(c): approvals decided")
    parser.add_argument("--timers", type=int, default=200, help="(d): timers")
    parser.add_argument("--only", choices=["a", "e2e"], default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="smeflow-bench-engine-"))
    external = os.environ.get("SMEFLOW_DATABASE_URL")
    embedded = None if external else EmbeddedPostgres(folder / "pg", delete_on_exit=True)
    server = to_async_url(external) if external else to_async_url(embedded.uri("postgres"))  # type: ignore[union-attr]
    name = f"smeflow_bench_engine_{uuid.uuid4().hex[:6]}"
    ensure_database(server, name)
    owner = server.set(database=name)
    migrate(owner, "smeflow_app")
    settings = Settings(_env_file=None, env="prod", secret_key=SECRET, database_url=to_libpq(owner))
    env = {
        **os.environ,
        "SMEFLOW_ENV": "prod",
        "SMEFLOW_SECRET_KEY": SECRET,
        "SMEFLOW_DATABASE_URL": to_libpq(owner),
        "SMEFLOW_LOG_LEVEL": "WARNING",
        "SMEFLOW_API_KEY_REQUESTS_PER_SECOND": "1000000",
        "SMEFLOW_API_KEY_BURST": "1000000",
        "SMEFLOW_TIERS": json.dumps(
            {
                "enterprise": {
                    "requests_per_second": 1e6,
                    "burst": 1_000_000,
                    "max_users": 1000,
                    "max_api_keys": 100,
                    "concurrent_runs": 1000,
                }
            }
        ),
    }
    results: dict[str, dict[str, float]] = {}
    figures: dict[str, Any] = {}
    try:
        if args.only in (None, "a"):
            results = asyncio.run(bench(settings, args.runs))
        if args.only in (None, "e2e"):
            figures = end_to_end(env, folder, settings, args, server_pids(folder, external))
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\nEngine benchmark · {datetime.now(UTC):%Y-%m-%d} · {platform.machine()} · {os.cpu_count()} cores"
    )
    if results:
        print(f"(a) {args.runs} runs of a {STEPS + 2}-node workflow per row · one process")
        print(f"{'path':36} {'runs/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'ms/step':>8}")
        for label, r in results.items():
            print(
                f"{label:36} {r['runs_per_s']:8.1f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f}"
                f" {r['per_step_ms']:8.3f}"
            )
        for durability in DURABILITIES:
            for c in (1, 10):
                ratio = (
                    results[f"SMEFlow runtime, {durability}, c={c}"]["per_step_ms"]
                    / results[f"raw LangGraph, {durability}, c={c}"]["per_step_ms"]
                )
                print(f"per-step cost, SMEFlow / raw LangGraph, {durability}, c={c}: {ratio:.2f}x")
    if figures:
        print(f"(b) webhook → run finished, 5-node workflow, closed-loop clients, {args.seconds:g} s per row")
        print(
            f"{'workers, clients':20} {'runs/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
            f" {'runs':>6} {'failed':>6}  CPU ms/run: {'api':>5} {'workers':>7} {'db':>5}"
            f" {'provider':>8} {'clients':>7}"
        )
        for label, r in figures.items():
            if label.startswith("b "):
                print(
                    f"{label[2:]:20} {r['runs_per_s']:8.1f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f}"
                    f" {r['p99_ms']:8.1f} {r['runs']:6d} {r['failed']:6d}              "
                    f"{r['cpu_api']:5.1f} {r['cpu_workers']:7.1f} {r['cpu_db']:5.1f} {r['cpu_provider']:8.1f}"
                    f" {r['cpu_load']:7.1f}"
                )
        print(
            "  (CPU ms/run: user + system time of the API, the workers, PostgreSQL, the provider and the"
            " clients (this process) over the row, warm-up included, per run completed)"
        )
        c, d = figures["c"], figures["d"]
        print(
            f"(c) approval decision → run finished ({c['runs']} runs, 10 decisions at a time, 2 workers):"
            f" p50 {c['p50_ms']:.1f} ms, p95 {c['p95_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms"
        )
        print(
            f"(d) timer lateness ({d['runs']} 2-s waits, 2 workers): woke p50 {d['woke_p50_ms']:.1f} ms,"
            f" p95 {d['woke_p95_ms']:.1f} ms; run finished p50 {d['finished_p50_ms']:.1f} ms,"
            f" p95 {d['finished_p95_ms']:.1f} ms after due"
        )


if __name__ == "__main__":
    main()
