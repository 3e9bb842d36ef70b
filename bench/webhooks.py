"""Webhook ingress throughput and latency against a bare endpoint that only reads the body, in the
same run.

Starts the SMEFlow API (`smeflow serve --workers 2`, embedded worker off: processing is not part
of what is measured) on loopback with real PostgreSQL (the embedded one in a temporary folder, or
SMEFLOW_DATABASE_URL's server in a fresh database), seeds one tenant with a Paystack integration
(the built-in `paystack` connector), and drives with wrk at concurrency 32:
  bare      a bare ASGI app that reads the whole body and answers 200 (same uvicorn, 2 workers)
  fastapi   the smallest FastAPI app with one POST route that reads the body
  webhooks  POST /api/v1/webhooks/paystack/<integration>/<token>: each request a distinct
            `charge.success` delivery of ~1 KB, signed like Paystack (x-paystack-signature = hex
            HMAC-SHA512 of the raw body with the secret key), so each is verified, stored with its
            own inbox event and acknowledged (wrk cycles through pre-generated signed bodies)
and prints requests/s, p50/p95/p99, the ratio to the bare endpoint, and what was stored.

    python bench/webhooks.py [--seconds 20] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, Request, Response
from psycopg import sql
from sqlalchemy import select

from api import free_ports, wait_ready
from smeflow.audit import Actor
from smeflow.connectors import default_registry
from smeflow.connectors.paystack import Paystack, sign
from smeflow.core import new_id, new_token
from smeflow.db import Database, DbScope, EmbeddedPostgres, ensure_database, migrate, to_async_url, to_libpq
from smeflow.integrations._loading import sealed_of, to_connector_integration
from smeflow.integrations._vault import Vault
from smeflow.integrations.models import Integration
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-key-0123456789abcdef0123456789"  # noqa: S105 (a throwaway benchmark key)
PAYSTACK_KEY = "sk_test_bench_0123456789abcdef0123456789"
BODIES = 150_000  # distinct signed deliveries: more than one run sends on this machine

# Each wrk thread keeps every n-th pre-formatted request of the file and cycles through them.
WRK_SCRIPT = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  reqs = {}
  local k = 0
  for line in io.lines(file) do
    if k % nthreads == id - 1 then
      local tab = line:find("\\t", 1, true)
      local headers = {["Content-Type"] = "application/json", ["x-paystack-signature"] = line:sub(1, tab - 1)}
      reqs[#reqs + 1] = wrk.format("POST", nil, headers, line:sub(tab + 1))
    end
    k = k + 1
  end
  i = 0
end
function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""

OK = b'{"ok":true}'
OK_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(OK)).encode())]


async def bare_body_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """The baseline: read the whole body, answer 200 ``{"ok":true}``."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": OK_HEADERS})
    await send({"type": "http.response.body", "body": OK})


fastapi_body_app = FastAPI()


@fastapi_body_app.api_route("/{path:path}", methods=["GET", "POST"])
async def read_body(request: Request) -> Response:
    await request.body()
    return Response(OK, media_type="application/json")


def delivery(n: int) -> bytes:
    """A Paystack ``charge.success`` of ~1 KB (the recorded test-mode payload's shape), unique per n."""
    body = {
        "event": "charge.success",
        "data": {
            "id": 700_000_000 + n,
            "domain": "test",
            "status": "success",
            "reference": f"bench-{n:09d}",
            "amount": 10000 + n % 1000,
            "message": None,
            "gateway_response": "Successful",
            "paid_at": "2026-12-04T12:29:51.000Z",
            "created_at": "2026-12-04T12:28:38.000Z",
            "channel": "card",
            "currency": "NGN",
            "ip_address": "102.89.3.101",
            "metadata": {"referrer": "https://shop.example/checkout"},
            "log": {"start_time": 1590582519, "time_spent": 73, "attempts": 1, "errors": 0, "success": True},
            "fees": 150,
            "authorization": {
                "authorization_code": "AUTH_cugqgk3paz",
                "bin": "408408",
                "last4": "4081",
                "exp_month": "09",
                "exp_year": "2030",
                "channel": "card",
                "card_type": "visa DEBIT",
                "bank": "Test Bank",
                "country_code": "NG",
                "brand": "visa",
                "reusable": True,
                "signature": "SIG_AEVrgS0gTYbqU7R7oDJ0",
            },
            "customer": {
                "id": 24494735,
                "email": "test.user@email.com",
                "customer_code": "CUS_ue8wm5gk1fjoepd",
                "risk_action": "default",
            },
            "plan": {},
            "requested_amount": 10000,
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def write_bodies(path: Path, count: int, start: int) -> int:
    """``count`` signed deliveries, one ``<signature>\\t<body>`` per line; the mean body size."""
    size = 0
    with path.open("w") as f:
        for n in range(start, start + count):
            body = delivery(n)
            size += len(body)
            f.write(f"{sign(PAYSTACK_KEY, body)}\t{body.decode()}\n")
    return size // count


def wrk(url: str, seconds: int, connections: int, bodies: Path) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
        script = f.name
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script, url]
    try:
        out = subprocess.run(
            [*args, "--", str(bodies), "2"], capture_output=True, text=True, check=True
        ).stdout
    finally:
        os.unlink(script)
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    requests, duration_us, p50, p95, p99, socket_errors, status_errors = map(int, match.groups())
    return {
        "rps": requests / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p95_ms": p95 / 1000,
        "p99_ms": p99 / 1000,
        "errors": socket_errors + status_errors,
        "requests": requests,
    }


async def seed(settings: Settings) -> tuple[uuid.UUID, uuid.UUID, str]:
    """A tenant with a Paystack integration: (tenant id, integration id, webhook token)."""
    db = Database.from_settings(settings)
    try:
        async with db.transaction(DbScope.platform()) as session:
            tenant = await create_tenant(
                session,
                settings,
                Actor.system("bench"),
                TenantCreate(slug="bench", name="Bench", country="NG", tier="enterprise"),
            )
        integration_id, token = new_id(), new_token()
        sealed = Vault.from_settings(settings).seal(
            tenant.id, integration_id, {"secret_key": PAYSTACK_KEY}, token
        )
        async with db.transaction(DbScope.tenant(tenant.id)) as session:
            session.add(
                Integration(
                    tenant_id=tenant.id,
                    id=integration_id,
                    connector="paystack",
                    name="Paystack",
                    status="active",
                    config={},
                    sealed_credentials=sealed.credentials,
                    wrapped_key=sealed.wrapped_key,
                    key_id=sealed.key_id,
                    sealed_webhook_token=sealed.webhook_token,
                    allowed_ips=[],
                    created_by="bench",
                )
            )
        return tenant.id, integration_id, token
    finally:
        await db.dispose()


async def opening_cost(settings: Settings, integration_id: uuid.UUID) -> float:
    """Microseconds to open a stored integration's token and credentials (what each delivery pays)."""
    db = Database.from_settings(settings)
    try:
        async with db.transaction(DbScope.auth()) as session:
            row = await session.get(Integration, (await _tenant_of(session, integration_id), integration_id))
        assert row is not None
        vault, connector = Vault.from_settings(settings), Paystack()
        rounds = 2000
        started = time.perf_counter()
        for _ in range(rounds):
            vault.open_token(row.tenant_id, row.id, sealed_of(row))
            to_connector_integration(row, connector, vault, public_url=None)
        return (time.perf_counter() - started) / rounds * 1e6
    finally:
        await db.dispose()


async def _tenant_of(session: Any, integration_id: uuid.UUID) -> uuid.UUID:
    found: uuid.UUID = (
        await session.execute(select(Integration.tenant_id).where(Integration.id == integration_id))
    ).scalar_one()
    return found


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def cpu_seconds(root: int) -> dict[int, float]:
    """User + system CPU time used so far by ``root`` and each process below it, by pid."""
    used = {}
    for pid in descendants(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def cpu_since(root: int, before: dict[int, float]) -> float:
    """CPU seconds used by the processes under ``root`` since ``before`` (new ones from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in cpu_seconds(root).items())


def baseline(app: str, port: int) -> subprocess.Popen[bytes]:
    args = ["--workers", "2", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, *args], cwd=ROOT / "bench", stdout=subprocess.DEVNULL
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (./dev bench installs it with apt-get)")
    assert default_registry().get("paystack") is not None

    folder = Path(tempfile.mkdtemp(prefix="smeflow-bench-"))
    external = os.environ.get("SMEFLOW_DATABASE_URL")
    embedded = None if external else EmbeddedPostgres(folder / "pg", delete_on_exit=True)
    server = to_async_url(external) if external else to_async_url(embedded.uri("postgres"))  # type: ignore[union-attr]
    ensure_database(server, "smeflow_bench_webhooks")
    owner = server.set(database="smeflow_bench_webhooks")
    migrate(owner, "smeflow_app")
    env = {
        **os.environ,
        "SMEFLOW_ENV": "prod",
        "SMEFLOW_SECRET_KEY": SECRET,
        "SMEFLOW_DATABASE_URL": to_libpq(owner),
        "SMEFLOW_LOG_LEVEL": "WARNING",
        "SMEFLOW_EMBEDDED_WORKER": "false",
    }
    settings = Settings(_env_file=None, env="prod", secret_key=SECRET, database_url=to_libpq(owner))
    tenant_id, integration_id, token = asyncio.run(seed(settings))
    opening_us = asyncio.run(opening_cost(settings, integration_id))
    warmup, bodies = folder / "warmup.tsv", folder / "bodies.tsv"
    write_bodies(warmup, 5_000, 0)
    body_size = write_bodies(bodies, BODIES, 5_000)

    api_port, bare_port, fastapi_port = free_ports(3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "smeflow", "serve", "--workers", "2", "--port", str(api_port)],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
        ),
        baseline("webhooks:bare_body_app", bare_port),
        baseline("webhooks:fastapi_body_app", fastapi_port),
    ]
    results: dict[str, dict[str, float]] = {}
    stored: dict[str, int] = {}
    cpu: dict[str, float] = {}
    pid_file = folder / "pg" / "postmaster.pid"
    postmaster = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
    load_before = os.getloadavg()[0]
    try:
        wait_ready(f"http://127.0.0.1:{api_port}/readyz", timeout=120)
        wait_ready(f"http://127.0.0.1:{bare_port}/")
        wait_ready(f"http://127.0.0.1:{fastapi_port}/")
        path = f"/api/v1/webhooks/paystack/{integration_id}/{token}"
        targets = {
            "bare": f"http://127.0.0.1:{bare_port}{path}",
            "fastapi": f"http://127.0.0.1:{fastapi_port}{path}",
            "webhooks": f"http://127.0.0.1:{api_port}{path}",
        }
        with psycopg.connect(to_libpq(owner), autocommit=True) as conn:
            for name, url in targets.items():
                wrk(url, 2, args.connections, warmup)  # warm-up (its deliveries are stored too)
                before = conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
                api_cpu = cpu_seconds(procs[0].pid)
                db_cpu = cpu_seconds(postmaster) if postmaster else {}
                results[name] = wrk(url, args.seconds, args.connections, bodies)
                if name == "webhooks":
                    used_db = cpu_since(postmaster, db_cpu) if postmaster else 0.0
                    cpu = {"api": cpu_since(procs[0].pid, api_cpu), "db": used_db}
                    after = conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone()
                    events = conn.execute(
                        "SELECT count(*) FROM inbox_events WHERE tenant_id = %s", (tenant_id,)
                    )
                    assert before is not None
                    assert after is not None
                    stored = {"deliveries": after[0] - before[0], "events": (events.fetchone() or (0,))[0]}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        if embedded is None:
            with psycopg.connect(to_libpq(server), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS smeflow_bench_webhooks WITH (FORCE)"))
        else:
            embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)

    bare = results["bare"]["rps"]
    print(
        f"\nWebhook benchmark · {datetime.now(UTC):%Y-%m-%d} · {platform.machine()} · "
        f"{os.cpu_count()} cores · {args.seconds}s per target · {args.connections} connections · wrk · "
        f"bodies of {body_size} bytes"
    )
    print(f"{'target':9} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs bare':>8}")
    for name, r in results.items():
        print(
            f"{name:9} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['errors']:7.0f} {r['rps'] / bare:8.1%}"
        )
    hooks = results["webhooks"]
    print(
        f"stored during the webhooks run: {stored['deliveries']} deliveries for "
        f"{hooks['requests']:.0f} answers; "
        f"{stored['events']} distinct inbox events in all (warm-up included)"
    )
    print(f"opening an integration (token + credentials): {opening_us:.1f} µs per delivery")
    if cpu and stored["deliveries"]:
        per_api = cpu["api"] / stored["deliveries"] * 1000
        per_db = cpu["db"] / stored["deliveries"] * 1000 if cpu["db"] else float("nan")
        print(
            f"CPU per stored delivery: API processes {per_api:.2f} ms, PostgreSQL {per_db:.2f} ms "
            f"(load average {load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after: other work "
            "on this machine shares its cores)"
        )
    print(
        f"targets: ≥ 30 % of bare: {'met' if hooks['rps'] / bare >= 0.30 else 'missed'} "
        f"({hooks['rps'] / bare:.1%}); p95 ≤ 50 ms: {'met' if hooks['p95_ms'] <= 50 else 'missed'} "
        f"({hooks['p95_ms']:.1f} ms)"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(
        json.dumps({"results": results, "stored": stored, "opening_us": opening_us, "cpu": cpu}, indent=2)
    )


if __name__ == "__main__":
    main()
