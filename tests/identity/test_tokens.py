"""Access and MFA tokens: what is accepted, and that everything else is refused."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from smeflow.audit import Actor
from smeflow.core import utcnow
from smeflow.core.sealing import derive_key
from smeflow.errors import NotAuthenticated
from smeflow.identity import (
    ROLES,
    Principal,
    TokenExpired,
    TokenInvalid,
    decode_access_token,
    decode_mfa_token,
    issue_access_token,
    issue_mfa_token,
)
from smeflow.settings import Settings

SETTINGS = Settings(_env_file=None, env="test", secret_key="t" * 40)
OTHER = Settings(_env_file=None, env="test", secret_key="u" * 40)
USER, TENANT, SID = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
ACCESS_KEY = derive_key(SETTINGS.secret_key.get_secret_value(), "jwt/access")


def _token(**overrides: object) -> str:
    return issue_access_token(
        SETTINGS,
        user_id=overrides.get("user_id", USER),  # type: ignore[arg-type]
        tenant_id=overrides.get("tenant_id", TENANT),  # type: ignore[arg-type]
        role=overrides.get("role", "admin"),  # type: ignore[arg-type]
        session_id=SID,
    )


def _payload(**changes: object) -> dict[str, object]:
    now = int(utcnow().timestamp())
    payload: dict[str, object] = {
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "typ": "access",
        "sub": str(USER),
        "tid": str(TENANT),
        "role": "admin",
        "iat": now,
        "exp": now + 600,
        "jti": "abc",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_round_trip_and_principal() -> None:
    claims = decode_access_token(SETTINGS, _token())
    assert (claims.sub, claims.tid, claims.role, claims.sid) == (USER, TENANT, "admin", SID)
    assert claims.exp - claims.iat == timedelta(seconds=SETTINGS.access_token_seconds)
    principal = claims.principal()
    assert principal == Principal(kind="user", tenant_id=TENANT, role="admin", user_id=USER, session_id=SID)
    assert principal.actor == Actor("user", str(USER))


@given(
    user=st.uuids(),
    tenant=st.one_of(st.none(), st.uuids()),
    role=st.sampled_from(ROLES),
    session=st.one_of(st.none(), st.uuids()),
    operator=st.booleans(),
)
def test_any_claims_round_trip(
    user: uuid.UUID, tenant: uuid.UUID | None, role: str, session: uuid.UUID | None, operator: bool
) -> None:
    token = issue_access_token(
        SETTINGS,
        user_id=user,
        tenant_id=tenant,
        role=role if tenant else None,
        session_id=session,
        platform_role="operator" if operator else None,
    )
    claims = decode_access_token(SETTINGS, token)
    assert (claims.sub, claims.tid, claims.sid) == (user, tenant, session)
    assert claims.role == (role if tenant else None)
    assert claims.platform_role == ("operator" if operator else None)


VALID = _token()


@given(data=st.data())
def test_any_changed_character_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(VALID) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != VALID[index]))
    tampered = VALID[:index] + replacement + VALID[index + 1 :]
    with pytest.raises(NotAuthenticated):
        decode_access_token(SETTINGS, tampered)


@given(cut=st.integers(1, len(VALID) - 1), extra=st.text(min_size=1, max_size=5))
def test_truncated_or_extended_tokens_are_refused(cut: int, extra: str) -> None:
    with pytest.raises(NotAuthenticated):
        decode_access_token(SETTINGS, VALID[:-cut])
    with pytest.raises(NotAuthenticated):
        decode_access_token(SETTINGS, VALID + extra)


def test_signature_padding_bits_are_not_ignored() -> None:
    # the last base64 character of a 32-byte signature carries 2 unused bits: a lenient decoder
    # maps several characters to the same bytes; we accept only the canonical one
    head, payload, signature = VALID.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    position = alphabet.index(signature[-1])
    sibling = alphabet[position ^ 1]
    with pytest.raises(TokenInvalid):
        decode_access_token(SETTINGS, f"{head}.{payload}.{signature[:-1]}{sibling}")
    with pytest.raises(TokenInvalid):
        decode_access_token(SETTINGS, f"{head}.{payload}.{signature}=")


def test_forged_tokens_are_refused() -> None:
    with pytest.raises(TokenInvalid):
        decode_access_token(OTHER, VALID)  # another secret key
    unsigned = (
        f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(_payload()).encode())}."
    )
    with pytest.raises(TokenInvalid):
        decode_access_token(SETTINGS, unsigned)
    with pytest.raises(TokenInvalid):
        decode_access_token(SETTINGS, unsigned + "c2ln")
    with warnings.catch_warnings():  # PyJWT rightly finds a 32-byte key short for HS512
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        hs512 = jwt.encode(_payload(), ACCESS_KEY, algorithm="HS512")
    with pytest.raises(TokenInvalid):  # right key, another algorithm
        decode_access_token(SETTINGS, hs512)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenInvalid):
        decode_access_token(SETTINGS, jwt.encode(_payload(), private, algorithm="RS256"))
    assert decode_access_token(SETTINGS, jwt.encode(_payload(), ACCESS_KEY, algorithm="HS256")).sub == USER


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"typ": "mfa"},
        {"typ": None},
        {"jti": None},
        {"sub": None},
        {"sub": "not-a-uuid"},
        {"tid": 42},
        {"role": "superuser"},
        {"tid": None},  # a role outside any tenant
        {"prole": "god"},
        {"iat": int(utcnow().timestamp()) + 3600},  # issued in the future
    ],
)
def test_wrong_claims_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(TokenInvalid) as caught:
        decode_access_token(SETTINGS, jwt.encode(_payload(**changes), ACCESS_KEY, algorithm="HS256"))
    assert caught.value.message == "The token is not valid"  # says nothing about which check failed


def test_expired_tokens_are_refused() -> None:
    old = issue_access_token(
        SETTINGS,
        user_id=USER,
        tenant_id=TENANT,
        role="staff",
        session_id=SID,
        now=utcnow() - timedelta(hours=1),
    )
    with pytest.raises(TokenExpired):
        decode_access_token(SETTINGS, old)
    assert issubclass(TokenExpired, NotAuthenticated)


@pytest.mark.parametrize("junk", ["", "a.b", "a.b.c", "....", "x" * 5000, "é.é.é"])
def test_junk_is_refused(junk: str) -> None:
    with pytest.raises(TokenInvalid):
        decode_access_token(SETTINGS, junk)


def test_mfa_tokens_are_separate() -> None:
    mfa = issue_mfa_token(SETTINGS, user_id=USER, tenant_id=TENANT)
    claims = decode_mfa_token(SETTINGS, mfa)
    assert (claims.sub, claims.tid) == (USER, TENANT)
    assert claims.exp - utcnow() <= timedelta(seconds=SETTINGS.mfa_token_seconds)
    with pytest.raises(TokenInvalid):
        decode_access_token(SETTINGS, mfa)
    with pytest.raises(TokenInvalid):
        decode_mfa_token(SETTINGS, VALID)
    stale = issue_mfa_token(SETTINGS, user_id=USER, tenant_id=None, now=utcnow() - timedelta(minutes=10))
    with pytest.raises(TokenExpired):
        decode_mfa_token(SETTINGS, stale)
    assert decode_mfa_token(SETTINGS, issue_mfa_token(SETTINGS, user_id=USER, tenant_id=None)).tid is None


def test_operator_principal_outside_any_tenant() -> None:
    token = issue_access_token(
        SETTINGS, user_id=USER, tenant_id=None, role=None, session_id=None, platform_role="operator"
    )
    principal = decode_access_token(SETTINGS, token).principal()
    assert principal.tenant_id is None
    assert principal.platform_role == "operator"
    assert principal.actor == Actor("operator", str(USER))
    key = Principal(kind="api_key", tenant_id=TENANT, role="staff", user_id=None, api_key_id=SID)
    assert key.actor == Actor("api_key", str(SID))
