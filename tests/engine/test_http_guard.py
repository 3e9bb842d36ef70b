"""The SSRF guard of workflow HTTP calls: private, loopback, link-local and reserved addresses are
refused before any connection (by literal and by name), public ones are called at the address
that was checked, and a workflow step calling a refused address fails at once with a readable
reason (no retry, nothing sent). The transport under the guard is the only thing faked here."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator

import httpx
import pytest

from smeflow.db import Database
from smeflow.engine.runtime import Runtime
from smeflow.engine.runtime._http import BlockedDestination, GuardedTransport, is_public

from .test_retries import Scripted, calling
from .test_runtime import accept, load, published


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "0.0.0.0",  # noqa: S104  (an address to refuse, not one to bind)
        "100.64.0.1",  # carrier-grade NAT
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4 loopback mapped into IPv6
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "41.90.1.1", "196.201.214.1", "2001:4860:4860::8888"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


class Recording(httpx.AsyncBaseTransport):
    """The network under the guard: records what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(200, json={"ok": True})


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x", "http://169.254.169.254/latest"],
)
async def test_the_guard_sends_nothing_to_private_hosts(url: str) -> None:
    network = Recording()
    async with httpx.AsyncClient(transport=GuardedTransport(inner=network)) as client:
        with pytest.raises(BlockedDestination, match="only calls public addresses"):
            await client.get(url)
    assert network.sent == []


async def test_a_public_host_is_called_at_the_checked_address_with_its_name_kept() -> None:
    network = Recording()
    async with httpx.AsyncClient(transport=GuardedTransport(inner=network)) as client:
        answer = await client.post("https://41.90.1.1:8443/pay?x=1", json={"a": 1})
    assert answer.json() == {"ok": True}
    (sent,) = network.sent
    assert (sent.url.host, sent.url.port, sent.url.path, sent.url.query) == (
        "41.90.1.1",
        8443,
        "/pay",
        b"x=1",
    )
    assert sent.headers["host"] == "41.90.1.1:8443"
    assert sent.extensions["sni_hostname"] == "41.90.1.1"


async def test_private_networks_can_be_allowed_by_the_operator() -> None:
    network = Recording()
    async with httpx.AsyncClient(transport=GuardedTransport(allow_private=True, inner=network)) as client:
        await client.get("http://10.0.0.7/internal")
    assert [str(r.url) for r in network.sent] == ["http://10.0.0.7/internal"]


@pytest.fixture
def provider() -> Iterator[Scripted]:
    server = Scripted([200])
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


async def test_a_step_calling_a_private_address_fails_at_once_and_calls_nothing(
    db: Database, tenant_a: uuid.UUID, provider: Scripted
) -> None:
    workflow = await published(db, tenant_a, calling(provider.url))  # retried 3 times if retryable
    run_id = await accept(db, tenant_a, workflow, {})
    async with Runtime(db) as runtime:  # the default: public addresses only
        assert await runtime.execute_run(tenant_a, run_id) == "failed"
    run, events = await load(db, tenant_a, run_id)
    assert provider.calls == []
    assert events == [("start", "succeeded"), ("call", "failed")]
    assert run.error is not None
    assert "only calls public addresses" in run.error
    assert "tried" not in run.error
    assert run.error.startswith(f"Step 'call': POST {provider.url} was not called")


async def test_the_same_step_runs_when_private_networks_are_allowed(
    db: Database, tenant_a: uuid.UUID, provider: Scripted
) -> None:
    workflow = await published(db, tenant_a, calling(provider.url))
    run_id = await accept(db, tenant_a, workflow, {})
    async with Runtime(db, allow_private_networks=True) as runtime:
        assert await runtime.execute_run(tenant_a, run_id) == "succeeded"
    assert len(provider.calls) == 1
