"""API throughput and latency against a bare uvicorn app, in the same run.

Starts the SMEFlow API with 2 worker processes on loopback (real PostgreSQL: the embedded one in
a temporary folder, or SMEFLOW_DATABASE_URL's server in a fresh database), seeds one tenant with
50 members and an API key, then drives with wrk at concurrency 32:
  bare     a bare ASGI app returning a constant JSON (same uvicorn, 2 workers)
  fastapi  the smallest FastAPI app (one route, a pydantic response): the framework's ceiling
  me       GET /api/v1/me with the API key
  list50   GET /api/v1/users?limit=50 with the API key (a tenant-scoped list of 50 rows)
and prints requests/s, p50/p95/p99 and the ratio to the bare app.

    python bench/api.py [--seconds 20] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from smeflow.audit import Actor
from smeflow.db import Database, DbScope, EmbeddedPostgres, ensure_database, migrate, to_async_url, to_libpq
from smeflow.identity import Principal, add_member, create_api_key
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-key-0123456789abcdef0123456789"  # noqa: S105 (a throwaway benchmark key)
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (all held open until chosen, so none repeats)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
        script = f.name
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    try:
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
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


def baseline(app: str, port: int) -> subprocess.Popen[bytes]:
    """A baseline app from bench/ under the same uvicorn, with 2 workers."""
    args = ["--workers", "2", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, *args], cwd=ROOT / "bench", stdout=subprocess.DEVNULL
    )


async def seed(settings: Settings) -> str:
    db = Database.from_settings(settings)
    actor = Actor.system("bench")
    try:
        async with db.transaction(DbScope.platform()) as session:
            tenant = await create_tenant(
                session,
                settings,
                actor,
                TenantCreate(slug="bench", name="Bench", country="KE", tier="enterprise"),
            )
            for i in range(50):
                await add_member(session, actor, tenant.id, f"member{i:02d}@bench.example", "staff")
            creator = Principal(kind="user", tenant_id=tenant.id, role="owner", user_id=None)
            key, _ = await create_api_key(session, creator, tenant.id, "bench", "admin", ["*"])
        return key
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (./dev bench installs it with apt-get)")

    folder = Path(tempfile.mkdtemp(prefix="smeflow-bench-"))
    external = os.environ.get("SMEFLOW_DATABASE_URL")
    embedded = None if external else EmbeddedPostgres(folder / "pg", delete_on_exit=True)
    server = to_async_url(external) if external else to_async_url(embedded.uri("postgres"))  # type: ignore[union-attr]
    ensure_database(server, "smeflow_bench")
    owner = server.set(database="smeflow_bench")
    migrate(owner, "smeflow_app")
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
                    "concurrent_runs": 100,
                }
            }
        ),
    }
    settings = Settings(_env_file=None, env="prod", secret_key=SECRET, database_url=to_libpq(owner))
    key = asyncio.run(seed(settings))

    api_port, bare_port, fastapi_port = free_ports(3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "smeflow", "serve", "--workers", "2", "--port", str(api_port)],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
        ),
        baseline("bare_app:app", bare_port),
        baseline("fastapi_app:app", fastapi_port),
    ]
    results: dict[str, dict[str, float]] = {}
    try:
        wait_ready(f"http://127.0.0.1:{api_port}/readyz", timeout=120)
        wait_ready(f"http://127.0.0.1:{bare_port}/")
        wait_ready(f"http://127.0.0.1:{fastapi_port}/")
        auth = {"X-API-Key": key}
        listing = httpx.get(f"http://127.0.0.1:{api_port}/api/v1/users?limit=50", headers=auth).json()
        assert len(listing["items"]) == 50, listing
        targets = {
            "bare": (f"http://127.0.0.1:{bare_port}/", {}),
            "fastapi": (f"http://127.0.0.1:{fastapi_port}/", {}),
            "me": (f"http://127.0.0.1:{api_port}/api/v1/me", auth),
            "list50": (f"http://127.0.0.1:{api_port}/api/v1/users?limit=50", auth),
        }
        for name, (url, headers) in targets.items():
            wrk(url, 2, args.connections, headers)  # warm-up
            results[name] = wrk(url, args.seconds, args.connections, headers)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        if embedded is None:
            with psycopg.connect(to_libpq(server), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS smeflow_bench WITH (FORCE)"))
        else:
            embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)

    bare = results["bare"]["rps"]
    print(
        f"\nAPI benchmark · {datetime.now(UTC):%Y-%m-%d} · {platform.machine()} · {os.cpu_count()} cores · "
        f"{args.seconds}s per target · {args.connections} connections · wrk"
    )
    print(f"{'target':8} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs bare':>8}")
    for name, r in results.items():
        print(
            f"{name:8} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['errors']:7.0f} {r['rps'] / bare:8.1%}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "api.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
