"""Provider webhooks over HTTP (``/api/v1/webhooks/{provider}/{integration_id}/{token}``): a
Paystack-signed delivery is stored with its event and answered; forged, oversize and misaddressed
deliveries store nothing; a malformed one is kept for inspection without events; a replay adds no
event; the source-address allowlist; the GET handshake; the integration cache forgets a change."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from integrations.connectors import PaystackLike, TokenOnly, charge_success, paystack_signature
from integrations.rows import PAYSTACK_SECRET, Hooked, add_integration, count, eventually
from smeflow.api import create_app
from smeflow.db import Database, DbScope, publish_auth_change
from smeflow.integrations import Ingress, cache_key
from smeflow.settings import Settings

from .conftest import assert_problem, make_client

MAX_BODY = 4096
CREDENTIALS = {"secret_key": PAYSTACK_SECRET}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_max_body_bytes": MAX_BODY})


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings, database=db)
    async with application.router.lifespan_context(application):
        state = application.state.smeflow
        state.connectors.register(PaystackLike())
        state.connectors.register(TokenOnly())
        yield application


@pytest.fixture
async def paystack(db: Database, settings: Settings, tenant_a: uuid.UUID) -> Hooked:
    return await add_integration(db, settings, tenant_a, "paystack_test", credentials=CREDENTIALS)


def signed(body: bytes, secret: str = PAYSTACK_SECRET) -> dict[str, str]:
    return {"x-paystack-signature": paystack_signature(secret, body), "content-type": "application/json"}


def nothing_stored(owner_conn: psycopg.Connection) -> bool:
    return count(owner_conn, "webhook_deliveries") == 0 and count(owner_conn, "inbox_events") == 0


async def test_a_signed_delivery_is_stored_with_its_event_and_answered(
    client: httpx.AsyncClient, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    body = charge_success(1, reference="T-100")
    response = await client.post(paystack.path, content=body, headers=signed(body) | {"x-trace": "abc"})
    assert (response.status_code, response.json()) == (200, {"ok": True})
    delivery = owner_conn.execute(
        "SELECT tenant_id, integration_id, connector, status, headers, body, client_ip, error"
        " FROM webhook_deliveries"
    ).fetchall()
    assert len(delivery) == 1
    tenant_id, integration_id, connector, status, headers, raw, client_ip, error = delivery[0]
    assert (tenant_id, integration_id, connector, status, error) == (
        paystack.tenant_id,
        paystack.id,
        "paystack_test",
        "accepted",
        None,
    )
    assert bytes(raw) == body  # the raw bytes, not re-serialised JSON
    assert headers["x-trace"] == "abc"
    assert "x-paystack-signature" not in headers
    assert client_ip == "127.0.0.1"
    events = owner_conn.execute(
        "SELECT tenant_id, integration_id, event_id, kind, reference, data, status, attempts"
        " FROM inbox_events"
    ).fetchall()
    assert events == [
        (
            paystack.tenant_id,
            paystack.id,
            "charge.success:696134701",
            "payment.succeeded",
            "T-100",
            {"amount_minor": 150000, "currency": "NGN"},
            "pending",
            0,
        )
    ]


@pytest.mark.parametrize(
    "forgery", ["wrong secret", "one byte changed", "no signature", "signature of another body"]
)
async def test_a_forged_delivery_is_401_and_stores_nothing(
    client: httpx.AsyncClient, paystack: Hooked, owner_conn: psycopg.Connection, forgery: str
) -> None:
    body = charge_success(2)
    headers = signed(body)
    if forgery == "wrong secret":
        headers = signed(body, "sk_test_not_the_secret")
    elif forgery == "one byte changed":
        body = body.replace(b"150000", b"950000")
    elif forgery == "no signature":
        del headers["x-paystack-signature"]
    else:
        headers = signed(charge_success(3))
    response = await client.post(paystack.path, content=body, headers=headers)
    assert_problem(response, 401, "webhook_signature_invalid")
    assert nothing_stored(owner_conn)


async def test_a_replayed_delivery_is_answered_alike_and_adds_no_event(
    client: httpx.AsyncClient, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    body = charge_success(4)
    first = await client.post(paystack.path, content=body, headers=signed(body))
    again = await client.post(paystack.path, content=body, headers=signed(body))
    assert (first.status_code, first.content) == (again.status_code, again.content) == (200, b'{"ok":true}')
    assert count(owner_conn, "webhook_deliveries", "status = 'accepted'") == 2  # both requests are evidence
    assert count(owner_conn, "inbox_events") == 1


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json at all", "the body is not JSON"),
        (b'{"event": "charge.success"}', 'a Paystack delivery is {"event": …, "data": {…}}'),
        (b'{"event": "charge.success", "data": {"id": 1, "reference": 7}}', "an event is not valid"),
    ],
)
async def test_a_malformed_delivery_is_400_kept_for_inspection_with_no_event(
    client: httpx.AsyncClient, paystack: Hooked, owner_conn: psycopg.Connection, body: bytes, error: str
) -> None:
    response = await client.post(paystack.path, content=body, headers=signed(body))
    problem = assert_problem(response, 400, "webhook_malformed")
    assert problem["detail"].startswith(error)
    rows = owner_conn.execute("SELECT status, body, error FROM webhook_deliveries").fetchall()
    assert [(status, bytes(raw)) for status, raw, _ in rows] == [("malformed", body)]
    assert rows[0][2].startswith(error)
    assert count(owner_conn, "inbox_events") == 0


async def test_an_oversize_delivery_is_413_and_stores_nothing(
    client: httpx.AsyncClient, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    body = b'{"event": "charge.success", "data": {"pad": "' + b"x" * MAX_BODY + b'"}}'
    announced = await client.post(paystack.path, content=body, headers=signed(body))
    assert_problem(announced, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    streamed = await client.post(paystack.path, content=chunks(), headers=signed(body))
    assert_problem(streamed, 413, "payload_too_large")
    assert nothing_stored(owner_conn)


async def test_everything_that_is_not_this_webhook_is_one_404_storing_nothing(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    paystack: Hooked,
    tenant_b: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    other = await add_integration(db, settings, tenant_b, "paystack_test", credentials=CREDENTIALS)
    disabled = await add_integration(
        db, settings, paystack.tenant_id, "paystack_test", credentials=CREDENTIALS, status="disabled"
    )
    body = charge_success(5)
    base = "/api/v1/webhooks"
    paths = {
        "a wrong token": f"{base}/paystack_test/{paystack.id}/{'x' * len(paystack.token)}",
        "another tenant's token": f"{base}/paystack_test/{paystack.id}/{other.token}",
        "this token on another tenant's integration": f"{base}/paystack_test/{other.id}/{paystack.token}",
        "another provider": f"{base}/tokenhook/{paystack.id}/{paystack.token}",
        "a provider nobody has": f"{base}/nosuch/{paystack.id}/{paystack.token}",
        "an unknown integration": f"{base}/paystack_test/{uuid.uuid4()}/{paystack.token}",
        "an id that is not one": f"{base}/paystack_test/not-an-id/{paystack.token}",
        "a disabled integration": disabled.path,
    }
    details = set()
    for what, path in paths.items():
        response = await client.post(path, content=body, headers=signed(body))
        problem = assert_problem(response, 404, "webhook_not_found")
        details.add((problem["detail"], problem["title"]))
        assert paystack.token not in response.text, what
        assert other.token not in response.text, what
    assert len(details) == 1, details
    assert nothing_stored(owner_conn)


async def test_an_inactive_tenants_integration_is_404(
    client: httpx.AsyncClient, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    owner_conn.execute("UPDATE tenants SET status = 'suspended' WHERE id = %s", (paystack.tenant_id,))
    body = charge_success(6)
    assert_problem(
        await client.post(paystack.path, content=body, headers=signed(body)), 404, "webhook_not_found"
    )
    assert nothing_stored(owner_conn)


@pytest.mark.parametrize(
    ("allowed", "accepted"),
    [
        (["52.31.139.75", "52.49.173.169"], False),
        (["10.0.0.0/8"], False),
        (["127.0.0.1"], True),
        (["52.31.139.75", "127.0.0.0/8"], True),
        (["::ffff:127.0.0.1"], True),
    ],
)
async def test_the_source_address_allowlist(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
    allowed: list[str],
    accepted: bool,
) -> None:
    hooked = await add_integration(
        db, settings, tenant_a, "paystack_test", credentials=CREDENTIALS, allowed_ips=allowed
    )
    body = charge_success(7)
    response = await client.post(hooked.path, content=body, headers=signed(body))
    if accepted:
        assert response.status_code == 200, response.text
        assert count(owner_conn, "inbox_events") == 1
    else:
        problem = assert_problem(response, 403, "webhook_source_refused")
        assert "127.0.0.1" in problem["detail"]
        assert nothing_stored(owner_conn)


async def test_a_token_authenticated_delivery_gets_its_connectors_reply(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    hooked = await add_integration(db, settings, tenant_a, "tokenhook")
    form = {"id": "ATXid_1", "from": "+254711000001", "text": "Habari"}
    response = await client.post(hooked.path, data=form)
    assert (response.status_code, response.text) == (200, "OK 1")
    assert response.headers["content-type"].startswith("text/plain")
    (data,) = owner_conn.execute("SELECT data FROM inbox_events WHERE event_id = 'ATXid_1'").fetchone() or ()
    assert data == {"channel": "sms", "from": "+254711000001", "text": "Habari"}


async def test_the_get_handshake(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant_a: uuid.UUID,
    paystack: Hooked,
    owner_conn: psycopg.Connection,
) -> None:
    hooked = await add_integration(
        db, settings, tenant_a, "tokenhook", config={"verify_token": "s3cret-verify"}
    )
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "s3cret-verify"}
    response = await client.get(hooked.path, params=query)
    assert (response.status_code, response.text) == (200, "1158201444")
    assert response.headers["content-type"].startswith("text/plain")
    wrong = await client.get(hooked.path, params=query | {"hub.verify_token": "guess"})
    assert (wrong.status_code, wrong.text) == (403, "Forbidden")
    wrong_url = await client.get(f"/api/v1/webhooks/tokenhook/{hooked.id}/{paystack.token}", params=query)
    assert_problem(wrong_url, 404, "webhook_not_found")
    no_handshake = await client.get(paystack.path, params=query)  # this connector has none
    assert_problem(no_handshake, 404, "webhook_not_found")
    assert nothing_stored(owner_conn)


async def test_a_refusal_never_echoes_the_token(client: httpx.AsyncClient, paystack: Hooked) -> None:
    response = await client.post(paystack.path, content=b"{}", headers=signed(b"[]"))
    problem = assert_problem(response, 401)
    assert problem["instance"] == f"/api/v1/webhooks/paystack_test/{paystack.id}/***"
    assert paystack.token not in response.text


async def test_the_integration_cache_forgets_a_change_at_once(
    settings: Settings, db: Database, paystack: Hooked, owner_conn: psycopg.Connection
) -> None:
    """Cached for an hour here, so only the notification can make the process forget it."""
    cached = settings.model_copy(update={"auth_cache_seconds": 3600.0})
    application = create_app(cached, database=db)
    async with application.router.lifespan_context(application), make_client(application) as client:
        state = application.state.smeflow
        state.connectors.register(PaystackLike())
        state.ingress = Ingress(db, cached, state.connectors, cache=state.auth_cache, cache_seconds=3600.0)
        listening = "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN smeflow_auth'"
        await eventually(lambda: (owner_conn.execute(listening).fetchone() or (0,))[0] > 0, "the listener")
        body = charge_success(8)
        assert (await client.post(paystack.path, content=body, headers=signed(body))).status_code == 200
        owner_conn.execute("UPDATE integrations SET status = 'disabled' WHERE id = %s", (paystack.id,))
        body = charge_success(9)
        still = await client.post(paystack.path, content=body, headers=signed(body))
        assert still.status_code == 200  # served from the cache: nobody said it changed
        async with db.transaction(DbScope.tenant(paystack.tenant_id)) as session:
            await publish_auth_change(session, cache_key(paystack.id))

        async def refused() -> bool:
            body = charge_success(10)
            response = await client.post(paystack.path, content=body, headers=signed(body))
            return response.status_code == 404

        await eventually(refused, "the disabled integration to be refused")
    assert count(owner_conn, "inbox_events") == 2


async def test_the_built_in_paystack_connector_through_the_ingress(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant_a: uuid.UUID,
    owner_conn: psycopg.Connection,
) -> None:
    hooked = await add_integration(db, settings, tenant_a, "paystack", credentials=CREDENTIALS)
    body = charge_success(11, reference="T-211")
    forged = await client.post(hooked.path, content=body, headers=signed(body, "sk_test_forger"))
    assert_problem(forged, 401, "webhook_signature_invalid")
    assert nothing_stored(owner_conn)
    response = await client.post(hooked.path, content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    rows = owner_conn.execute("SELECT event_id, kind, reference FROM inbox_events").fetchall()
    assert rows == [("charge.success:696134711", "payment.succeeded", "T-211")]


async def test_serves_embedded_worker_processes_the_inbox(
    settings: Settings, db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    """With the embedded worker on, an event is taken from the inbox in the API process itself (by
    the channels' ``message.received`` handler, which leaves a message of no conversation channel
    alone)."""
    embedded = settings.model_copy(update={"embedded_worker": True})
    application = create_app(embedded, database=db)
    async with application.router.lifespan_context(application), make_client(application) as client:
        application.state.smeflow.connectors.register(TokenOnly())
        hooked = await add_integration(db, settings, tenant_a, "tokenhook")
        assert (await client.post(hooked.path, data={"id": "m-7", "text": "Habari"})).status_code == 200

        def done() -> bool:
            row = owner_conn.execute("SELECT status FROM inbox_events").fetchone()
            return row is not None and row[0] == "processed"

        await eventually(done, "the embedded worker to take the event")
    row = owner_conn.execute("SELECT attempts, last_error FROM inbox_events").fetchone()
    assert row == (1, None)
    assert owner_conn.execute("SELECT count(*) FROM conversations").fetchone() == (0,)


class Renamed(TokenOnly):
    """A connector whose webhook URLs name it otherwise than its key (as Daraja's must)."""

    key = "renamed_hook"
    webhook_name = "other_name"


async def test_the_url_names_the_connectors_webhook_segment(
    client: httpx.AsyncClient, app: FastAPI, db: Database, settings: Settings, tenant_a: uuid.UUID
) -> None:
    app.state.smeflow.connectors.register(Renamed())
    hooked = await add_integration(db, settings, tenant_a, "renamed_hook")
    by_key = await client.post(hooked.path, data={"id": "m-1"})
    assert_problem(by_key, 404, "webhook_not_found")
    by_name = await client.post(hooked.path.replace("/renamed_hook/", "/other_name/"), data={"id": "m-1"})
    assert (by_name.status_code, by_name.text) == (200, "OK 1")
