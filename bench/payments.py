"""Payments end to end: STK Push → the sandbox's callback → confirmed, with the sandbox answering at once.

Processes: one ``smeflow serve`` (1 API process with its embedded worker: runs, inbox, outbox),
the M-Pesa sandbox (in this process, its own thread and loop, callbacks sent with no delay) and
this load generator, all on the same machine as the database.

* **SMEFlow**: ``POST /api/v1/payments`` (the STK Push is sent before the answer) → the sandbox
  POSTs the callback to the integration's webhook URL → ingress verifies and stores it → the inbox
  worker confirms it with an STK Query → the payment is ``succeeded``. Latency: from before the POST
  to the payment's ``settled_at``.
* **Baseline** (same sandbox, same machine): the connector alone sends the STK Push and a bare
  receiver takes the callback: the protocol's own round trip, with nothing stored or confirmed.

    python bench/payments.py [--payments 200] [--concurrency 1 10]
"""

from __future__ import annotations

import argparse
import asyncio
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

import httpx
import psycopg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import flow
from api import free_ports, wait_ready
from smeflow.audit import Actor
from smeflow.connectors import ActionContext, HttpFactory, Integration
from smeflow.connectors.mpesa import Mpesa, MpesaConfig, MpesaCredentials, MpesaSandbox
from smeflow.connectors.mpesa._sandbox_rules import (
    SANDBOX_CONSUMER_KEY,
    SANDBOX_CONSUMER_SECRET,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
)
from smeflow.connectors.sandbox import SandboxServer
from smeflow.db import Database, DbScope, EmbeddedPostgres, ensure_database, migrate, to_async_url, to_libpq
from smeflow.identity import Principal, create_api_key
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant

SECRET = "bench-secret-key-0123456789abcdef0123456789"  # noqa: S105 (a throwaway benchmark key)
AMOUNT = 100_000  # KES 1,000.00


def phone(i: int) -> str:
    """A different customer for each payment (M-Pesa refuses a second prompt to one in progress)."""
    return f"+2547{10_000_000 + i:08d}"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000,
    }


async def seed(settings: Settings) -> str:
    db = Database.from_settings(settings)
    try:
        async with db.transaction(DbScope.platform()) as session:
            tenant = await create_tenant(
                session,
                settings,
                Actor.system("bench"),
                TenantCreate(slug="pay", name="Pay", country="KE", tier="enterprise"),
            )
            creator = Principal(kind="user", tenant_id=tenant.id, role="owner", user_id=None)
            key, _ = await create_api_key(session, creator, tenant.id, "bench", "admin", ["*"])
        return key
    finally:
        await db.dispose()


async def ours(
    api: str, key: str, sandbox: str, conninfo: str, payments: int, concurrency: int
) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=api, headers={"X-API-Key": key}, timeout=60) as client:
        created = await client.post(
            "/api/v1/integrations",
            json={
                "connector": "mpesa",
                "name": f"Paybill {uuid.uuid4().hex[:6]}",
                "config": {"base_url": sandbox, "shortcode": SANDBOX_SHORTCODE},
                "credentials": {
                    "consumer_key": SANDBOX_CONSUMER_KEY,
                    "consumer_secret": SANDBOX_CONSUMER_SECRET,
                    "passkey": SANDBOX_PASSKEY,
                },
            },
        )
        created.raise_for_status()
        integration = created.json()["id"]
        started: dict[str, float] = {}
        answered: list[float] = []
        failed = 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(payments):
            queue.put_nowait(i)

        async def client_loop() -> None:
            nonlocal failed
            while not queue.empty():
                i = queue.get_nowait()
                t0 = time.time()
                answer = await client.post(
                    "/api/v1/payments",
                    json={
                        "integration": integration,
                        "amount_minor": AMOUNT,
                        "currency": "KES",
                        "phone": phone(i),
                    },
                )
                if answer.status_code != 201 or answer.json()["status"] != "pending":
                    failed += 1
                    continue
                answered.append(time.time() - t0)
                started[answer.json()["id"]] = t0

        wall = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        latencies: list[float] = []
        deadline = time.monotonic() + 120
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            while len(latencies) + failed < payments and time.monotonic() < deadline:
                rows = await (
                    await conn.execute(
                        "SELECT id::text, extract(epoch FROM settled_at), status FROM payments"
                        " WHERE settled_at IS NOT NULL AND id::text = ANY(%s)",
                        (list(started),),
                    )
                ).fetchall()
                latencies = [float(at) - started[pid] for pid, at, status in rows if status == "succeeded"]
                failed_now = sum(1 for _, _, status in rows if status != "succeeded")
                if len(latencies) + failed_now >= len(started):
                    failed += failed_now
                    break
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - wall
    asked = percentiles(answered)
    return {
        "payments": len(latencies),
        "failed": failed,
        "per_s": len(latencies) / elapsed,
        **percentiles(latencies),
        "asked_p50_ms": asked["p50_ms"],
        "asked_p95_ms": asked["p95_ms"],
    }


async def baseline(sandbox: str, payments: int, concurrency: int) -> dict[str, float]:
    """The connector alone, the callback taken by a bare receiver."""
    arrived: dict[str, float] = {}

    async def receive(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        arrived[body["Body"]["stkCallback"]["CheckoutRequestID"]] = time.time()
        return JSONResponse({"ResultCode": 0, "ResultDesc": "Accepted"})

    (port,) = free_ports(1)
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/cb", receive, methods=["POST"])]), port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    mpesa, factory = Mpesa(), HttpFactory()
    integration = Integration(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        connector="mpesa",
        config=MpesaConfig(base_url=sandbox, shortcode=SANDBOX_SHORTCODE),
        credentials=MpesaCredentials.model_validate(
            {
                "consumer_key": SANDBOX_CONSUMER_KEY,
                "consumer_secret": SANDBOX_CONSUMER_SECRET,
                "passkey": SANDBOX_PASSKEY,
            }
        ),
        webhook_url=f"http://127.0.0.1:{port}/cb",
    )
    http = factory.for_integration(mpesa, integration)
    started: dict[str, float] = {}
    counter = iter(range(payments))

    async def client_loop() -> None:
        for i in counter:
            t0 = time.time()
            ctx = ActionContext(integration, http, idempotency_key=f"bench:{i}")
            out = await mpesa.call(
                "stk_push", ctx, {"amount_minor": AMOUNT, "phone": phone(i), "account_reference": "BENCH"}
            )
            started[out.model_dump()["checkout_request_id"]] = t0

    wall = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    deadline = time.monotonic() + 60
    while len(arrived) < len(started) and time.monotonic() < deadline:  # noqa: ASYNC110 (a bounded wait)
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - wall
    server.should_exit = True
    await task
    await factory.aclose()
    latencies = [arrived[k] - started[k] for k in started if k in arrived]
    return {
        "payments": len(latencies),
        "failed": payments - len(latencies),
        "per_s": len(latencies) / elapsed,
        **percentiles(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="smeflow-bench-payments-"))
    external = os.environ.get("SMEFLOW_DATABASE_URL")
    embedded = None if external else EmbeddedPostgres(folder / "pg", delete_on_exit=True)
    server = to_async_url(external) if external else to_async_url(embedded.uri("postgres"))  # type: ignore[union-attr]
    name = f"smeflow_bench_payments_{uuid.uuid4().hex[:6]}"
    ensure_database(server, name)
    owner = server.set(database=name)
    migrate(owner, "smeflow_app")
    settings = Settings(_env_file=None, env="prod", secret_key=SECRET, database_url=to_libpq(owner))
    key = asyncio.run(seed(settings))
    sandbox = MpesaSandbox()
    sandbox.callback_delay = 0.0
    results: dict[str, dict[str, float]] = {}
    (api_port,) = free_ports(1)
    api = f"http://127.0.0.1:{api_port}"
    env = {
        **os.environ,
        "SMEFLOW_ENV": "prod",
        "SMEFLOW_SECRET_KEY": SECRET,
        "SMEFLOW_DATABASE_URL": to_libpq(owner),
        "SMEFLOW_LOG_LEVEL": "WARNING",
        "SMEFLOW_PUBLIC_URL": api,
        "SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
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
    try:
        with SandboxServer(sandbox) as sandbox_url:
            proc = flow.subprocess.Popen(
                [flow.sys.executable, "-m", "smeflow", "serve", "--port", str(api_port)],
                env=env,
                cwd=folder,
                stdout=flow.subprocess.DEVNULL,
            )
            try:
                wait_ready(f"{api}/readyz", timeout=120)
                conninfo = to_libpq(owner)
                for concurrency in args.concurrency:
                    results[f"baseline c={concurrency}"] = asyncio.run(
                        baseline(sandbox_url, args.payments, concurrency)
                    )
                    results[f"SMEFlow c={concurrency}"] = asyncio.run(
                        ours(api, key, sandbox_url, conninfo, args.payments, concurrency)
                    )
            finally:
                flow.stop([proc])
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\nPayments benchmark · {datetime.now(UTC):%Y-%m-%d} · {platform.machine()} · {os.cpu_count()} cores"
    )
    print(f"STK Push → callback ({args.payments} payments per row, the sandbox answering at once)")
    print(f"{'path':22} {'done':>6} {'failed':>6} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for label, r in results.items():
        print(
            f"{label:22} {r['payments']:6.0f} {r['failed']:6.0f} {r['per_s']:7.1f} {r['p50_ms']:8.1f}"
            f" {r['p95_ms']:8.1f} {r['p99_ms']:8.1f}"
        )
    for label, r in results.items():
        if "asked_p50_ms" in r:
            asked = f"p50 {r['asked_p50_ms']:.1f} ms, p95 {r['asked_p95_ms']:.1f} ms"
            print(f"{label}: POST /payments answered (the prompt sent) {asked}")


if __name__ == "__main__":
    main()
