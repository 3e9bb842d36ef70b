"""Outbound HTTP for workflow steps, guarded against server-side request forgery.

A tenant's workflow decides which URLs the platform calls, so without a guard a workflow could
reach the platform's own network: the database, the metadata service of the cloud it runs on
(``169.254.169.254``), an admin port on loopback. :class:`GuardedTransport` resolves the host
itself, refuses every address that is not public (private, loopback, link-local, multicast,
reserved, unspecified, carrier-grade NAT, and such IPv4 addresses mapped into IPv6), and then
connects **to the address it checked** (the original host stays in the ``Host`` header and, for
HTTPS, in SNI and certificate checks), so a DNS answer that changes between the check and the
connection (DNS rebinding) cannot slip through. Redirects are not followed by the runtime's client.

Private networks are allowed only when the operator says so
(``SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS``: local development, tests against loopback servers,
an on-premises install calling its own LAN).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(httpx.RequestError):
    """The URL's host is (or resolves to) an address the platform does not call."""


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # ``is_global`` is false for private, loopback, link-local, shared (100.64/10), reserved and
    # unspecified addresses; multicast ones may be global but are never a web server.
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (an IP literal is its own address)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class GuardedTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that calls public addresses only (unless ``allow_private``)."""

    def __init__(self, *, allow_private: bool = False, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.allow_private = allow_private
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.allow_private:
            return await self.inner.handle_async_request(request)
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await resolve(host, port)
        except OSError:
            raise httpx.ConnectError(f"the host {host!r} could not be resolved", request=request) from None
        blocked = [address for address in addresses if not is_public(address)]
        if blocked or not addresses:
            raise BlockedDestination(
                f"{host} is a private or reserved network address ({blocked[0] if blocked else 'none'}); "
                "SMEFlow only calls public addresses",
                request=request,
            )
        chosen = addresses[0]
        request.url = request.url.copy_with(host=str(chosen))
        if request.url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def guarded_client(*, allow_private: bool = False, timeout: float = 10.0) -> httpx.AsyncClient:
    """The runtime's HTTP client: SSRF-guarded, no redirects followed."""
    return httpx.AsyncClient(
        transport=GuardedTransport(allow_private=allow_private),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
    )


__all__ = ["BlockedDestination", "GuardedTransport", "guarded_client", "is_public", "resolve"]
