"""The integrations service on the real database: create, update, delete (audited, no secret in
the audit log), open, check against a loopback provider over real HTTP, rotate keys."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from pydantic import BaseModel, SecretStr, field_validator

from smeflow.audit import Actor, verify_chain
from smeflow.connectors import ConnectorRegistry, HttpFactory, default_registry
from smeflow.core.sealing import UnsealError
from smeflow.db import Database, DbScope
from smeflow.errors import Conflict, NotFound, ValidationFailed
from smeflow.identity import Principal
from smeflow.integrations import (
    ConnectorNotInstalled,
    IntegrationDisabled,
    Sealed,
    Vault,
    check_integration,
    create_integration,
    delete_integration,
    get_integration,
    list_integrations,
    open_integration,
    rotate_keys,
    sealed_of,
    update_integration,
)
from smeflow.integrations._validation import checked
from smeflow.integrations.models import Integration
from smeflow.integrations.schemas import ConnectorOut, IntegrationCreate, IntegrationUpdate

from .kit import BAD_KEY, GOOD_KEY, GOOD_SECRET, OTHER_SECRET, Ping, ping_body, provider, registry

K1 = "first-secret-key-0123456789abcdef0123456789"
K2 = "second-secret-key-0123456789abcdef012345678"
K3 = "third-secret-key-0123456789abcdef0123456789"
ACTOR = Actor("user", "11111111-1111-1111-1111-111111111111")
SECRETS = (GOOD_KEY, BAD_KEY, GOOD_SECRET, OTHER_SECRET)


@pytest.fixture
def connectors() -> ConnectorRegistry:
    return registry()


@pytest.fixture
async def http() -> AsyncIterator[HttpFactory]:
    factory = HttpFactory()
    yield factory
    await factory.aclose()


async def _create(
    db: Database, tenant_id: uuid.UUID, connectors: ConnectorRegistry, vault: Vault, **body: object
) -> Integration:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        return await create_integration(
            session, ACTOR, tenant_id, connectors, vault, IntegrationCreate(**body)
        )  # type: ignore[arg-type]


def _tokens(owner_conn: psycopg.Connection, vault: Vault) -> list[str]:
    """Every integration's webhook token (they must not be in the audit log either)."""
    rows = owner_conn.execute(
        "SELECT tenant_id, id, sealed_credentials, sealed_webhook_token, wrapped_key, key_id"
        " FROM integrations"
    ).fetchall()
    return [vault.open_token(r[0], r[1], Sealed(bytes(r[2]), bytes(r[3]), bytes(r[4]), r[5])) for r in rows]


def assert_no_secret_stored(owner_conn: psycopg.Connection, vault: Vault) -> None:
    """No credential or webhook token in the audit log, nor in clear anywhere in integrations."""
    audit = " ".join(r[0] for r in owner_conn.execute("SELECT data::text FROM audit_events").fetchall())
    for secret in (*SECRETS, *_tokens(owner_conn, vault)):
        assert secret not in audit, "a secret is in the audit log"
    for row in owner_conn.execute("SELECT * FROM integrations").fetchall():
        text = " ".join(bytes(v).hex() if isinstance(v, memoryview | bytes) else str(v) for v in row)
        raw = b" ".join(bytes(v) for v in row if isinstance(v, memoryview | bytes))
        for secret in SECRETS:
            assert secret not in text
            assert secret.encode() not in raw


async def test_create_update_delete_are_audited_without_any_secret(
    db: Database, tenant_a: uuid.UUID, connectors: ConnectorRegistry, owner_conn: psycopg.Connection
) -> None:
    vault = Vault(K1)
    row = await _create(db, tenant_a, connectors, vault, **ping_body("Till 1"))
    assert (row.connector, row.name, row.status, row.key_id) == (
        "ping",
        "Till 1",
        "active",
        vault.current_key_id,
    )
    assert row.config == {"account": "123456", "region": "ke", "base_url": None}
    assert row.created_by == f"user:{ACTOR.id}"
    first_token = vault.open_token(tenant_a, row.id, sealed_of(row))

    patch = IntegrationUpdate(
        name="Till 1 (Westlands)",
        status="disabled",
        config={"account": "654321", "region": "ng"},
        credentials={"api_key": BAD_KEY, "username": "amani"},
    )
    wrapped_before = row.wrapped_key
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        row = await update_integration(session, ACTOR, tenant_a, connectors, vault, row.id, patch)
    assert (row.name, row.status, row.config["account"]) == ("Till 1 (Westlands)", "disabled", "654321")
    assert row.wrapped_key != wrapped_before, "new credentials are sealed under a fresh data key"
    credentials, token = vault.open(tenant_a, row.id, sealed_of(row))
    assert credentials == {"api_key": BAD_KEY, "username": "amani"}
    assert token == first_token, "the webhook URL survives new credentials"

    # a patch that changes nothing writes nothing
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await update_integration(
            session, ACTOR, tenant_a, connectors, vault, row.id, IntegrationUpdate(name=row.name)
        )
    assert_no_secret_stored(owner_conn, vault)

    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        await delete_integration(session, ACTOR, tenant_a, row.id)
    events = owner_conn.execute(
        "SELECT action, target_id, actor_id, data FROM audit_events WHERE tenant_id = %s ORDER BY seq",
        (tenant_a,),
    ).fetchall()
    assert [e[0] for e in events] == ["integration.created", "integration.updated", "integration.deleted"]
    assert {e[1] for e in events} == {str(row.id)}
    assert {e[2] for e in events} == {ACTOR.id}
    created, updated, deleted = (e[3] for e in events)
    assert created["credentials_set"] == ["api_key"]
    assert created["config"] == {"account": "123456", "region": "ke", "base_url": None}
    assert updated["changed"] == ["config", "credentials", "name", "status"]
    assert updated["credentials_set"] == ["api_key", "username"]
    assert updated["name"] == ["Till 1", "Till 1 (Westlands)"]
    assert deleted == {"connector": "ping", "name": "Till 1 (Westlands)"}
    assert owner_conn.execute("SELECT count(*) FROM integrations").fetchone() == (0,)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await verify_chain(session, tenant_a)).ok


async def test_bad_config_and_credentials_name_every_field_and_write_nothing(
    db: Database, tenant_a: uuid.UUID, connectors: ConnectorRegistry, owner_conn: psycopg.Connection
) -> None:
    vault = Vault(K1)
    body = {
        "connector": "ping",
        "name": "Till",
        "config": {"account": "12", "region": "za", "colour": "red"},
        "credentials": {"api_key": "sk_9z7Q", "pin": "1234"},
    }
    with pytest.raises(ValidationFailed) as caught:
        await _create(db, tenant_a, connectors, vault, **body)
    fields = {f.field for f in caught.value.fields}
    assert fields == {
        "config.account",
        "config.region",
        "config.colour",
        "credentials.api_key",
        "credentials.pin",
    }
    assert "sk_9z7Q" not in str(caught.value) + " ".join(f.message for f in caught.value.fields)
    with pytest.raises(ValidationFailed) as missing:
        await _create(db, tenant_a, connectors, vault, connector="ping", name="Till")
    assert {f.field for f in missing.value.fields} == {"config.account", "credentials.api_key"}
    with pytest.raises(ValidationFailed) as unknown:
        await _create(db, tenant_a, connectors, vault, connector="mpesa", name="Till")
    assert [f.field for f in unknown.value.fields] == ["connector"]
    assert "ping, signed" in unknown.value.message
    assert owner_conn.execute("SELECT count(*) FROM integrations").fetchone() == (0,)
    assert owner_conn.execute("SELECT count(*) FROM audit_events").fetchone() == (0,)


async def test_names_are_unique_per_tenant(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID, connectors: ConnectorRegistry
) -> None:
    vault = Vault(K1)
    await _create(db, tenant_a, connectors, vault, **ping_body("Till"))
    await _create(db, tenant_b, connectors, vault, **ping_body("Till"))  # another tenant: fine
    with pytest.raises(Conflict) as caught:
        await _create(db, tenant_a, connectors, vault, **ping_body("Till"))
    assert [f.field for f in caught.value.fields] == ["name"]
    other = await _create(db, tenant_a, connectors, vault, **ping_body("Till 2"))
    with pytest.raises(Conflict):
        async with db.transaction(DbScope.tenant(tenant_a)) as session:
            await update_integration(
                session, ACTOR, tenant_a, connectors, vault, other.id, IntegrationUpdate(name="Till")
            )
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        names = [r.name for r in await list_integrations(session, tenant_a, limit=10)]
    assert names == ["Till", "Till 2"]


async def test_another_tenants_integration_is_not_found(
    db: Database, tenant_a: uuid.UUID, tenant_b: uuid.UUID, connectors: ConnectorRegistry
) -> None:
    vault = Vault(K1)
    row = await _create(db, tenant_a, connectors, vault, **ping_body())
    intruder = Principal(kind="user", tenant_id=tenant_b, role="owner", user_id=uuid.uuid4())
    async with db.transaction(DbScope.tenant(tenant_b)) as session:
        with pytest.raises(NotFound):
            await get_integration(session, tenant_b, row.id)
        with pytest.raises(NotFound):  # even naming A as the tenant: RLS shows B's rows only
            await get_integration(session, tenant_a, row.id)
        with pytest.raises(NotFound):
            await open_integration(session, tenant_b, row.id, connectors, vault, public_url=None)
        with pytest.raises(NotFound):
            await delete_integration(session, intruder, tenant_a, row.id)
        with pytest.raises(NotFound):
            await update_integration(
                session, intruder, tenant_b, connectors, vault, row.id, IntegrationUpdate(name="Mine")
            )
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        assert (await get_integration(session, tenant_a, row.id)).name == "Till 1"


async def test_open_gives_the_connector_its_decrypted_credentials(
    db: Database, tenant_a: uuid.UUID, connectors: ConnectorRegistry
) -> None:
    vault = Vault(K1)
    row = await _create(db, tenant_a, connectors, vault, **ping_body())
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        opened = await open_integration(
            session, tenant_a, row.id, connectors, vault, public_url="https://flow.example"
        )
        assert opened.connector.key == "ping"
        assert opened.integration.credentials.api_key.get_secret_value() == GOOD_KEY  # type: ignore[attr-defined]
        assert GOOD_KEY not in repr(opened.integration)
        assert opened.integration.config.account == "123456"  # type: ignore[attr-defined]
        assert (opened.integration.webhook_url or "").startswith(
            f"https://flow.example/api/v1/webhooks/ping/{row.id}/"
        )
        with pytest.raises(ConnectorNotInstalled):
            await open_integration(session, tenant_a, row.id, ConnectorRegistry(), vault, public_url=None)
        await update_integration(
            session, ACTOR, tenant_a, connectors, vault, row.id, IntegrationUpdate(status="disabled")
        )
        with pytest.raises(IntegrationDisabled):
            await open_integration(session, tenant_a, row.id, connectors, vault, public_url=None)


async def test_check_asks_the_provider_over_http_and_records_the_outcome(
    db: Database, tenant_a: uuid.UUID, connectors: ConnectorRegistry, http: HttpFactory
) -> None:
    vault = Vault(K1)
    with provider() as running:
        good = await _create(db, tenant_a, connectors, vault, **ping_body("Good", base_url=running.url))
        bad = await _create(
            db, tenant_a, connectors, vault, **ping_body("Bad", key=BAD_KEY, base_url=running.url)
        )
        signed = await _create(
            db,
            tenant_a,
            connectors,
            vault,
            connector="signed",
            name="Shop",
            config={"base_url": running.url},
            credentials={"secret_key": GOOD_SECRET},
        )
        ok = await check_integration(db, ACTOR, tenant_a, good.id, connectors, vault, http)
        refused = await check_integration(db, ACTOR, tenant_a, bad.id, connectors, vault, http)
        signed_ok = await check_integration(db, ACTOR, tenant_a, signed.id, connectors, vault, http)
    assert (ok.ok, ok.error, ok.error_code) == (True, None, None)
    assert signed_ok.ok
    assert (refused.ok, refused.error, refused.error_code) == (
        False,
        "the provider refused the API key",
        "connector_auth_failed",
    )
    assert running.calls == [
        ("/me", f"Bearer {GOOD_KEY}"),
        ("/me", f"Bearer {BAD_KEY}"),
        ("/balance", f"Bearer {GOOD_SECRET}"),
    ]
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        good_row = await get_integration(session, tenant_a, good.id)
        bad_row = await get_integration(session, tenant_a, bad.id)
    assert (good_row.checked_at, good_row.check_error) == (ok.checked_at, None)
    assert (bad_row.checked_at, bad_row.check_error) == (
        refused.checked_at,
        "the provider refused the API key",
    )

    # the provider is gone: a transient failure, said without the key
    down = await check_integration(db, ACTOR, tenant_a, good.id, connectors, vault, http)
    assert (down.ok, down.error_code) == (False, "connector_unavailable")
    assert GOOD_KEY not in (down.error or "")
    assert running.url.split("//")[1] in (down.error or "")


async def test_rotation_reseals_every_tenants_integrations_once(
    db: Database,
    tenant_a: uuid.UUID,
    tenant_b: uuid.UUID,
    connectors: ConnectorRegistry,
    owner_conn: psycopg.Connection,
) -> None:
    old = Vault(K1)
    a1 = await _create(db, tenant_a, connectors, old, **ping_body("A1"))
    await _create(db, tenant_a, connectors, old, **ping_body("A2", key="another-key-1234"))
    await _create(
        db, tenant_b, connectors, old, connector="signed", name="B1", credentials={"secret_key": GOOD_SECRET}
    )

    lost = await rotate_keys(db, Vault(K3))  # the old key is not given: nothing can be re-sealed
    assert (lost.resealed, len(lost.failed), lost.tenants) == (0, 3, 2)
    assert owner_conn.execute("SELECT DISTINCT key_id FROM integrations").fetchall() == [
        (old.current_key_id,)
    ]

    rotating = Vault(K2, [K1])
    report = await rotate_keys(db, rotating)
    assert (report.resealed, report.failed) == (3, [])
    assert (await rotate_keys(db, rotating)).resealed == 0, "a second rotation re-seals nothing"
    assert owner_conn.execute("SELECT DISTINCT key_id FROM integrations").fetchall() == [
        (rotating.current_key_id,)
    ]
    after = Vault(K2)  # the old key retired for good
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        opened = await open_integration(session, tenant_a, a1.id, connectors, after, public_url=None)
        assert opened.integration.credentials.api_key.get_secret_value() == GOOD_KEY  # type: ignore[attr-defined]
    events = owner_conn.execute(
        "SELECT tenant_id, data FROM audit_events WHERE action = 'integration.resealed'"
    ).fetchall()
    assert sorted(str(t) for t, _ in events) == sorted([str(tenant_a)] * 2 + [str(tenant_b)])
    assert {(d["from_key_id"], d["to_key_id"]) for _, d in events} == {
        (old.current_key_id, rotating.current_key_id)
    }
    for tenant_id in (tenant_a, tenant_b):
        async with db.transaction(DbScope.tenant(tenant_id)) as session:
            assert (await verify_chain(session, tenant_id)).ok
    assert_no_secret_stored(owner_conn, after)


def test_a_connectors_own_validator_quoting_a_credential_is_masked() -> None:
    class Quoting(BaseModel):
        api_key: SecretStr

        @field_validator("api_key", mode="before")
        @classmethod
        def _prefixed(cls, value: str) -> str:
            if not value.startswith("pk_"):
                raise ValueError(f"{value} does not start with pk_")
            return value

    class Quoter(Ping):
        key = "quoter"
        credentials_model = Quoting

    with pytest.raises(ValidationFailed) as caught:
        checked(Quoter(), {"account": "123456"}, {"api_key": "sk_live_LEAKED-0042"})
    (problem,) = caught.value.fields
    assert problem.field == "credentials.api_key"
    assert problem.message == "*** does not start with pk_"
    assert "LEAKED" not in caught.value.message
    config, credentials = checked(Quoter(), {"account": "123456"}, {"api_key": "pk_fine_0001"})
    assert credentials == {"api_key": "pk_fine_0001"}, "sealed with the real value, not a mask"
    assert config == {"account": "123456", "region": "ke", "base_url": None}


async def test_new_credentials_repair_an_integration_whose_key_was_lost(
    db: Database, tenant_a: uuid.UUID, connectors: ConnectorRegistry, owner_conn: psycopg.Connection
) -> None:
    """Sealed under a key the deployment no longer has: replacing the credentials works (with a
    new webhook URL, since the old token cannot be read), and the audit record says so."""
    lost = await _create(db, tenant_a, connectors, Vault(K1), **ping_body())
    now = Vault(K2)
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        with pytest.raises(UnsealError):
            await open_integration(session, tenant_a, lost.id, connectors, now, public_url=None)
        patch = IntegrationUpdate(credentials={"api_key": "another-key-1234"})
        row = await update_integration(session, ACTOR, tenant_a, connectors, now, lost.id, patch)
        assert row.key_id == now.current_key_id
        opened = await open_integration(session, tenant_a, lost.id, connectors, now, public_url=None)
    assert opened.integration.credentials.api_key.get_secret_value() == "another-key-1234"  # type: ignore[attr-defined]
    (data,) = owner_conn.execute(
        "SELECT data FROM audit_events WHERE action = 'integration.updated'"
    ).fetchone() or (None,)
    assert data["webhook_url_renewed"] is True
    assert data["changed"] == ["credentials"]


def test_every_installed_connector_describes_itself_for_the_builder() -> None:
    """``GET /api/v1/connectors`` shows every connector of the default registry: each has JSON
    Schemas for its credentials, config and actions, and its secrets are marked write-only."""
    installed = default_registry().all()
    assert installed, "the built-in connectors are registered"
    for connector in installed:
        shown = ConnectorOut.of(connector)
        assert shown.credentials_schema.get("type") == "object", shown.key
        assert shown.config_schema["properties"]["base_url"], shown.key
        for name, info in type(connector).credentials_model.model_fields.items():
            if info.annotation in (SecretStr, SecretStr | None):
                assert '"writeOnly": true' in json.dumps(shown.credentials_schema["properties"][name]), name
        for act in shown.actions:
            assert act.name.startswith(f"{shown.key}.")
            assert act.input_schema.get("type") == act.output_schema.get("type") == "object", act.name
