"""The webhook ingress: a provider's delivery to ``/api/v1/webhooks/<provider>/<integration id>/<token>``
is checked, stored with its events in the inbox, and answered.

Key contracts (in the order they are checked):

1. The integration is found by id (``auth`` scope): unknown, disabled, of an inactive tenant, of
   a connector this process does not have or that receives no webhooks, or ``<provider>`` not its
   connector's URL segment (``Connector.webhook_segment()``: the key, or its ``webhook_name``)
   → :class:`WebhookNotFound` (404), one answer for all.
2. The URL token is compared with the integration's (unsealed) token in constant time; a wrong
   one is the **same 404**: a token of another tenant, or this tenant's token on another tenant's
   integration, tells the caller nothing (not even that the integration exists).
3. The source address must be in the integration's ``allowed_ips`` (addresses or CIDR networks;
   empty: any) → else :class:`WebhookSourceRefused` (403). The address is the connection's peer
   as the server reports it: behind a proxy, let the server take it from ``X-Forwarded-For`` for
   trusted proxies only (uvicorn's ``--forwarded-allow-ips``).
4. The body is at most ``Settings.webhook_max_body_bytes`` → else :class:`PayloadTooLarge` (413).
5. ``connector.verify_webhook`` on the raw bytes: :class:`AuthFailed` → :class:`WebhookForged`
   (401). Nothing of a refused delivery (1 to 5) is stored.
6. ``connector.parse_webhook``: :class:`InvalidResponse` (or an event that does not validate) →
   the delivery is stored ``malformed`` with the error, no event, and the answer is 400.
7. Otherwise the delivery (``accepted``; headers without credentials or signatures; the raw
   body) and its events (``INSERT … ON CONFLICT (tenant_id, integration_id, event_id) DO
   NOTHING``: a replayed delivery adds none) are written in **one transaction bound to the
   integration's tenant**, which **commits before the answer** (``connector.webhook_reply``): an
   acknowledged delivery is never lost, whatever happens to its processing. After the commit,
   :data:`INBOX_CHANNEL` is notified when events were added (coalesced: see :class:`_Waker`).

Integrations are cached in memory for :data:`CACHE_SECONDS` (ciphertext only: the secrets are
opened per delivery); whatever changes one should publish
``smeflow.db.publish_auth_change(session, cache_key(id))`` so every process forgets it at once.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from pydantic import ValidationError
from sqlalchemy import select

from smeflow.connectors import (
    AuthFailed,
    Connector,
    ConnectorRegistry,
    InboundRequest,
    InvalidResponse,
    WebhookEvent,
    WebhookReply,
)
from smeflow.core import new_id
from smeflow.core.context import tenant_id_var
from smeflow.db import Database, DbScope
from smeflow.errors import MalformedRequest, NotAuthenticated, NotFound, PayloadTooLarge, PermissionDenied
from smeflow.integrations._loading import sealed_of, to_connector_integration
from smeflow.integrations._vault import Vault
from smeflow.integrations.models import Integration
from smeflow.settings import Settings
from smeflow.tenancy.models import Tenant

logger = logging.getLogger(__name__)

#: notified (after the commit) when deliveries added events to the inbox
INBOX_CHANNEL = "smeflow_inbox"
#: how long this process trusts what it read of an integration
CACHE_SECONDS = 5.0
# Headers never stored with a delivery: credentials, signatures, shared secrets.
_SECRET_HEADER = re.compile(r"signature|secret|token|verif|hash|password|auth|cookie|api[-_]?key")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    title = "No such webhook"


class WebhookSourceRefused(PermissionDenied):
    code = "webhook_source_refused"
    title = "Deliveries from this address are not accepted"


class WebhookForged(NotAuthenticated):
    code = "webhook_signature_invalid"
    title = "The delivery does not prove it comes from the provider"


class WebhookMalformed(MalformedRequest):
    code = "webhook_malformed"
    title = "The delivery could not be read"


class Cache(Protocol):
    """Where the ingress keeps integrations between deliveries (the API's auth cache)."""

    def get(self, key: str) -> Any: ...

    def put(self, key: str, value: Any, ttl: float | None = None) -> None: ...


def cache_key(integration_id: uuid.UUID) -> str:
    """The cache key of an integration: publish it when the integration changes."""
    return f"integration:{integration_id}"


@dataclass(frozen=True, slots=True)
class Target:
    """An integration as the ingress keeps it: the row (ciphertext) and what it needs to decide."""

    row: Integration
    active: bool
    networks: tuple[Network, ...]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request to the ingress, before its body is read."""

    method: str
    provider: str
    integration_id: str
    token: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    client_ip: str | None
    body: AsyncIterator[bytes]


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers kept with a delivery: every one but credentials and signatures."""
    return {name: value for name, value in headers.items() if not _SECRET_HEADER.search(name)}


def _networks(values: list[str]) -> tuple[Network, ...]:
    found: list[Network] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            logger.warning("an integration's allowed_ips holds %r, which is not an address", value)
            continue
        if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
            # an IPv4 address written in its IPv6 form (::ffff:a.b.c.d) is that IPv4 address
            network = ipaddress.IPv4Network(
                (int(network.network_address) & 0xFFFF_FFFF, max(0, network.prefixlen - 96))
            )
        found.append(network)
    return tuple(found)


def _source_allowed(networks: tuple[Network, ...], client_ip: str | None) -> bool:
    if not networks:
        return True
    if client_ip is None:
        return False
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class Ingress:
    """The webhook ingress of one process (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        connectors: ConnectorRegistry,
        *,
        cache: Cache | None = None,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self.settings = settings
        self.connectors = connectors
        self.cache = cache
        self.vault = Vault.from_settings(settings)
        self.max_body_bytes = settings.webhook_max_body_bytes
        self._waker = _Waker(db)

    async def _target(self, integration_id: uuid.UUID) -> Target | None:
        key = cache_key(integration_id)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return hit  # type: ignore[no-any-return]
        query = (
            select(Integration, Tenant.status)
            .join(Tenant, Tenant.id == Integration.tenant_id)
            .where(Integration.id == integration_id)
        )
        async with self.db.transaction(DbScope.auth()) as session:
            found = (await session.execute(query)).one_or_none()
        if found is None:
            return None
        row, tenant_status = found
        target = Target(row, row.status == "active" and tenant_status == "active", _networks(row.allowed_ips))
        if self.cache is not None:
            self.cache.put(key, target, self.cache_seconds)
        return target

    async def _admit(self, arrival: Arrival) -> tuple[Target, Connector]:
        """Checks 1 to 3 of the module docstring."""
        try:
            integration_id = uuid.UUID(arrival.integration_id)
        except ValueError:
            raise WebhookNotFound("there is no such webhook") from None
        target = await self._target(integration_id)
        connector = self.connectors.get(target.row.connector) if target is not None else None
        if (
            target is None
            or not target.active
            or connector is None
            or connector.webhook_auth is None
            or arrival.provider != connector.webhook_segment()
        ):
            raise WebhookNotFound("there is no such webhook")
        row = target.row
        expected = self.vault.open_token(row.tenant_id, row.id, sealed_of(row))
        if not hmac.compare_digest(arrival.token.encode(), expected.encode()):
            raise WebhookNotFound("there is no such webhook")
        tenant_id_var.set(str(row.tenant_id))
        if not _source_allowed(target.networks, arrival.client_ip):
            raise WebhookSourceRefused(
                f"deliveries from {arrival.client_ip or 'an unknown address'} are refused"
            )
        return target, connector

    async def _read(self, arrival: Arrival) -> bytes:
        limit = self.max_body_bytes
        announced = arrival.headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks, size = [], 0
        async for chunk in arrival.body:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def receive(self, arrival: Arrival) -> WebhookReply:
        """Check, store and answer one delivery (the errors of the module docstring)."""
        target, connector = await self._admit(arrival)
        row = target.row
        request = InboundRequest(
            method=arrival.method,
            body=await self._read(arrival),
            headers=arrival.headers,
            query=arrival.query,
            client_ip=arrival.client_ip,
        )
        integration = to_connector_integration(
            row, connector, self.vault, public_url=self.settings.public_url
        )
        try:
            connector.verify_webhook(integration, request)
        except AuthFailed:
            raise WebhookForged("the delivery's signature or credentials did not verify") from None
        try:
            events = connector.parse_webhook(integration, request)
        except InvalidResponse as exc:
            await self._store(row, request, [], error=exc.message)
            raise WebhookMalformed(exc.message) from None
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()[:5]
            )
            await self._store(row, request, [], error=f"an event is not valid: {problem}")
            raise WebhookMalformed(f"an event is not valid: {problem}") from None
        await self._store(row, request, events, error=None)
        return connector.webhook_reply(integration, request, events)

    async def handshake(self, arrival: Arrival) -> WebhookReply:
        """Answer a provider's ``GET`` verification handshake (checks 1 to 3; nothing is stored)."""
        target, connector = await self._admit(arrival)
        request = InboundRequest(
            method=arrival.method,
            body=b"",
            headers=arrival.headers,
            query=arrival.query,
            client_ip=arrival.client_ip,
        )
        integration = to_connector_integration(
            target.row, connector, self.vault, public_url=self.settings.public_url
        )
        try:
            reply = connector.webhook_handshake(integration, request)
        except AuthFailed:
            raise WebhookForged("the handshake did not verify") from None
        if reply is None:
            raise WebhookNotFound("there is no such webhook")
        return reply

    async def _store(
        self, row: Integration, request: InboundRequest, events: list[WebhookEvent], *, error: str | None
    ) -> None:
        """The delivery and its new events, in one transaction bound to the tenant (committed here).

        One statement straight to the driver, in one pipelined transaction on the bare psycopg
        connection (:meth:`Database.pipeline`, which binds the tenant through ``bind_scope``): this
        runs for every delivery, and building the same two inserts through SQLAlchemy, or an ORM
        session around them, costs more than everything else the ingress does."""
        rows = [
            {
                "id": str(new_id()),
                "event_id": e.event_id,
                "kind": e.kind,
                "reference": e.reference,
                "data": e.data,
            }
            for e in events
        ]
        params = {
            "tenant": row.tenant_id,
            "delivery": new_id(),
            "integration": row.id,
            "connector": row.connector,
            "status": "malformed" if error is not None else "accepted",
            "headers": Jsonb(stored_headers(request.headers)),
            "body": request.body,
            "client_ip": request.client_ip,
            "error": error,
            "events": Jsonb(rows),
        }
        # One round trip: BEGIN, the tenant binding, the statement and COMMIT are queued and sent
        # together; the block ends once the COMMIT has been answered, so the result is read after.
        async with self.db.pipeline(DbScope.tenant(row.tenant_id)) as connection:
            cursor = await connection.execute(_STORE, params)
        added = await cursor.fetchone()
        if added is not None and added[0] > 0:
            self._waker.poke()

    async def aclose(self) -> None:
        """Send the last notification, if one is due (call when the process stops)."""
        await self._waker.aclose()


class _Waker:
    """Tells the inbox workers, after a commit, that events wait: ``NOTIFY`` in a transaction of
    its own, at most one in flight per process (the deliveries committed meanwhile are covered by
    one more). Not inside the delivery's transaction: PostgreSQL serialises the commits of
    notifying transactions, flush to disk included, which cost a fifth of the ingress's
    throughput; this one needs no flush (``synchronous_commit = off``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def poke(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
        else:
            self._task = asyncio.create_task(self._send(), name="smeflow-inbox-notify")

    async def _send(self) -> None:
        while True:
            self._again = False
            try:
                async with self.db.pipeline(DbScope.platform()) as connection:
                    await connection.execute("SET LOCAL synchronous_commit = off")
                    await connection.execute("SELECT pg_notify(%s, '')", (INBOX_CHANNEL,))
            except Exception:  # the workers poll anyway
                logger.warning("could not notify the inbox workers", exc_info=True)
            if not self._again:
                return

    async def aclose(self) -> None:
        if self._task is not None:
            await self._task


# The delivery and its events (a replayed event id adds nothing); how many events were added.
_STORE = """
WITH delivery AS (
    INSERT INTO webhook_deliveries
        (tenant_id, id, integration_id, connector, status, headers, body, client_ip, error, received_at)
    VALUES (%(tenant)s, %(delivery)s, %(integration)s, %(connector)s, %(status)s, %(headers)s, %(body)s,
            %(client_ip)s, %(error)s, now())
), added AS (
    INSERT INTO inbox_events (tenant_id, id, integration_id, delivery_id, event_id, kind, reference, data,
                              status, attempts, next_attempt_at, created_at)
    SELECT %(tenant)s, e.id, %(integration)s, %(delivery)s, e.event_id, e.kind, e.reference,
           coalesce(e.data, '{}'::jsonb), 'pending', 0, now(), now()
      FROM jsonb_to_recordset(%(events)s) AS e(id uuid, event_id text, kind text, reference text, data jsonb)
    ON CONFLICT (tenant_id, integration_id, event_id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM added
"""


__all__ = [
    "CACHE_SECONDS",
    "INBOX_CHANNEL",
    "Arrival",
    "Cache",
    "Ingress",
    "WebhookForged",
    "WebhookMalformed",
    "WebhookNotFound",
    "WebhookSourceRefused",
    "cache_key",
    "stored_headers",
]
