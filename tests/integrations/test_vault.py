"""The credential vault: round trips, tampering, values moved between rows, key rotation."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smeflow.audit import Actor
from smeflow.core.sealing import UnsealError
from smeflow.db import Database, DbScope
from smeflow.integrations import Sealed, Vault, describe, get_integration, open_integration
from smeflow.integrations.schemas import IntegrationCreate
from smeflow.integrations.service import create_integration

from .kit import GOOD_KEY, ping_body, registry

K1 = "first-secret-key-0123456789abcdef0123456789"
K2 = "second-secret-key-0123456789abcdef012345678"
K3 = "third-secret-key-0123456789abcdef0123456789"
T1, T2 = uuid.uuid4(), uuid.uuid4()
I1, I2 = uuid.uuid4(), uuid.uuid4()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
credential_dicts = st.dictionaries(st.text(max_size=20), json_values, max_size=6)


@given(credentials=credential_dicts, token=st.text(min_size=1, max_size=60))
def test_what_is_sealed_opens_to_the_same_credentials_and_token(
    credentials: dict[str, Any], token: str
) -> None:
    vault = Vault(K1)
    sealed = vault.seal(T1, I1, credentials, token)
    assert vault.open(T1, I1, sealed) == (credentials, token)
    assert vault.open_token(T1, I1, sealed) == token
    assert sealed.key_id == vault.current_key_id
    again = vault.seal(T1, I1, credentials, token)
    assert again.wrapped_key != sealed.wrapped_key, "every seal has a fresh data key"
    assert again.credentials != sealed.credentials


def _sealed() -> tuple[Vault, Sealed]:
    vault = Vault(K1)
    return vault, vault.seal(T1, I1, {"api_key": GOOD_KEY, "username": "amani"}, "token-abc")


@pytest.mark.parametrize("part", ["credentials", "webhook_token", "wrapped_key"])
def test_changing_any_stored_byte_is_refused(part: str) -> None:
    vault, sealed = _sealed()
    stored: bytes = getattr(sealed, part)
    for index in range(len(stored)):
        for flip in (0x01, 0x80):
            changed = bytearray(stored)
            changed[index] ^= flip
            tampered = dataclasses.replace(sealed, **{part: bytes(changed)})
            with pytest.raises(UnsealError):
                vault.open(T1, I1, tampered)
            if part != "credentials":
                with pytest.raises(UnsealError):
                    vault.open_token(T1, I1, tampered)
    for cut in (0, 1, len(stored) - 1):
        with pytest.raises(UnsealError):
            vault.open(T1, I1, dataclasses.replace(sealed, **{part: stored[:cut]}))
    with pytest.raises(UnsealError):
        vault.open(T1, I1, dataclasses.replace(sealed, **{part: stored + b"\x00"}))


def test_a_changed_key_id_is_refused() -> None:
    vault, sealed = _sealed()
    with pytest.raises(UnsealError):
        vault.open(T1, I1, dataclasses.replace(sealed, key_id="k1-0000000000000000"))
    other = Vault(K2, [K1])  # knows both keys: the wrong one must still be refused
    with pytest.raises(UnsealError):
        other.open(T1, I1, dataclasses.replace(sealed, key_id=other.current_key_id))


def test_a_value_copied_to_another_integration_or_field_is_refused() -> None:
    vault, first = _sealed()
    second = vault.seal(T1, I2, {"api_key": "another-key-1234"}, "token-def")
    for tenant_id, integration_id in ((T1, I2), (T2, I1), (T2, I2)):
        with pytest.raises(UnsealError):
            vault.open(tenant_id, integration_id, first)
    # only the credentials (or only the token) moved onto the other row, under its data key
    for integration_id, moved in (
        (I2, dataclasses.replace(second, credentials=first.credentials)),
        (I2, dataclasses.replace(second, webhook_token=first.webhook_token)),
        (I2, dataclasses.replace(second, wrapped_key=first.wrapped_key)),
        (I1, dataclasses.replace(first, credentials=first.webhook_token)),  # one row's fields swapped
        (I1, dataclasses.replace(first, webhook_token=first.credentials)),
    ):
        with pytest.raises(UnsealError):
            vault.open(T1, integration_id, moved)
    assert vault.open(T1, I2, second)[0] == {"api_key": "another-key-1234"}


def test_rotation_opens_with_the_retired_key_then_needs_it_no_more() -> None:
    old = Vault(K1)
    sealed = old.seal(T1, I1, {"api_key": GOOD_KEY}, "token-abc")
    rotating = Vault(K2, [K1])
    assert rotating.open(T1, I1, sealed) == ({"api_key": GOOD_KEY}, "token-abc")
    resealed = rotating.reseal(T1, I1, sealed)
    assert resealed.key_id == rotating.current_key_id != sealed.key_id
    assert resealed.wrapped_key != sealed.wrapped_key
    assert resealed.credentials != sealed.credentials
    after = Vault(K2)  # the old key is dropped from the settings
    assert after.open(T1, I1, resealed) == ({"api_key": GOOD_KEY}, "token-abc")
    with pytest.raises(UnsealError, match="no longer has"):
        after.open(T1, I1, sealed)
    with pytest.raises(UnsealError):
        Vault(K3).open(T1, I1, resealed)


async def test_sealed_columns_copied_onto_another_row_do_not_open(
    db: Database, tenant_a: uuid.UUID, owner_conn: psycopg.Connection
) -> None:
    vault, connectors = Vault(K1), registry()
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        first = await create_integration(
            session, Actor.system(), tenant_a, connectors, vault, IntegrationCreate(**ping_body("Till 1"))
        )
        second = await create_integration(
            session,
            Actor.system(),
            tenant_a,
            connectors,
            vault,
            IntegrationCreate(**ping_body("Till 2", key="another-key-1234")),
        )
    owner_conn.execute(
        "UPDATE integrations AS t SET sealed_credentials = s.sealed_credentials, wrapped_key = s.wrapped_key,"
        " sealed_webhook_token = s.sealed_webhook_token, key_id = s.key_id"
        " FROM integrations AS s WHERE t.id = %s AND s.id = %s",
        (second.id, first.id),
    )
    async with db.transaction(DbScope.tenant(tenant_a)) as session:
        opened = await open_integration(session, tenant_a, first.id, connectors, vault, public_url=None)
        assert opened.integration.credentials.api_key.get_secret_value() == GOOD_KEY  # type: ignore[attr-defined]
        with pytest.raises(UnsealError):
            await open_integration(session, tenant_a, second.id, connectors, vault, public_url=None)
        shown = describe(await get_integration(session, tenant_a, second.id), vault, public_url="https://x")
    assert (shown.credentials_readable, shown.credentials_set, shown.webhook_url) == (False, [], None)
