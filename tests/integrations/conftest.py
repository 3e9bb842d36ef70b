"""Fixtures of the integrations tests: the test connectors, and ``smeflow worker`` subprocesses
that have them (and the tests' inbox handlers) installed through the real entry-point groups."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import URL

from smeflow.connectors import ConnectorRegistry
from smeflow.db import to_libpq

from .connectors import Orders, PaystackLike, TokenOnly
from .plugin import install_plugin
from .rows import DEADLINE

WORKER_SECRET = "test-secret-key-0123456789abcdef0123456789"  # the suite's key: the rows open


@pytest.fixture
def registry() -> ConnectorRegistry:
    return ConnectorRegistry([PaystackLike(), TokenOnly(), Orders()])


class Workers:
    """Starts ``smeflow worker`` processes on the test database with the tests' plugin installed,
    and kills any still running at the end."""

    def __init__(self, database_url: URL, pythonpath: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMEFLOW_")}
        self.env = env | {
            "PYTHONPATH": pythonpath,
            "SMEFLOW_ENV": "test",
            "SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS": "true",
            "SMEFLOW_SECRET_KEY": WORKER_SECRET,
            "SMEFLOW_DATABASE_URL": to_libpq(database_url),
            "SMEFLOW_MIGRATE_ON_START": "false",
            "SMEFLOW_LOG_LEVEL": "ERROR",
        }
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(self, **env: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smeflow",
            "worker",
            env=self.env | env,
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
    folder = Path(tempfile.mkdtemp(prefix="smeflow-plugin-"))
    pool = Workers(clean_db, install_plugin(folder))
    try:
        yield pool
    finally:
        await pool.close()
        shutil.rmtree(folder, ignore_errors=True)


async def sigkill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    assert await asyncio.wait_for(process.wait(), timeout=DEADLINE) == -signal.SIGKILL
