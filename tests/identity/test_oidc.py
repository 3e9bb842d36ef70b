"""OIDC bearer tokens against a real (tiny) issuer on loopback: discovery, JWKS, key rotation,
and mapping verified claims to SMEFlow users, memberships and roles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from smeflow.db import Database, DbScope
from smeflow.errors import InvalidCredentials, PermissionDenied, Unavailable
from smeflow.identity import (
    ExternalIdentity,
    Membership,
    OidcVerifier,
    TokenExpired,
    TokenInvalid,
    User,
    map_oidc_principal,
    oidc_role,
)
from smeflow.settings import OidcSettings

from .conftest import Seat, audit_actions

AUDIENCE = "smeflow-api"


class Issuer:
    """A Keycloak-like issuer: signing keys, a discovery document and a JWKS, over real HTTP."""

    def __init__(self) -> None:
        self.private: dict[str, Any] = {}
        self.published: list[str] = []
        self.hits: dict[str, int] = {"discovery": 0, "jwks": 0}
        self.failing = False
        self.url = ""

    def add_key(self, kid: str, kind: str = "RSA", publish: bool = True) -> None:
        if kind == "RSA":
            self.private[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in self.published:
            key = self.private[kid]
            if isinstance(key, rsa.RSAPrivateKey):
                jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
                alg = "RS256"
            else:
                jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
                alg = "ES256"
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        keys.append({"kty": "RSA", "kid": "enc-key", "use": "enc", "n": "AQAB", "e": "AQAB"})  # ignored
        return {"keys": keys}

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "kc-user-1",
            "iat": now,
            "exp": now + 300,
            "email": "wanjiru@alpha.example.com",
            "email_verified": True,
            "name": "Wanjiru",
            "smeflow_tenant": "alpha",
            "realm_access": {"roles": ["offline_access", "smeflow-staff", "smeflow-admin"]},
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, kid: str = "k1", **changes: Any) -> str:
        key = self.private[kid]
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(self.claims(**changes), key, algorithm=alg, headers={"kid": kid})


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        issuer = self.server.issuer
        if issuer.failing:
            self.send_error(503)
            return
        if self.path == "/realms/smeflow/.well-known/openid-configuration":
            issuer.hits["discovery"] += 1
            body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/protocol/openid-connect/certs"}
        elif self.path == "/realms/smeflow/protocol/openid-connect/certs":
            issuer.hits["jwks"] += 1
            body = issuer.jwks()
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    issuer: Issuer


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.issuer = Issuer()
    server.issuer.url = f"http://127.0.0.1:{server.server_address[1]}/realms/smeflow"
    server.issuer.add_key("k1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.issuer
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _oidc(issuer: Issuer, **changes: Any) -> OidcSettings:
    return OidcSettings(issuer=issuer.url, audience=AUDIENCE, jwks_cache_seconds=600, **changes)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_valid_tokens_through_discovery_and_cache(issuer: Issuer, http: httpx.AsyncClient) -> None:
    clock = Clock()
    verifier = OidcVerifier(_oidc(issuer), http, clock=clock)
    claims = await verifier.verify(issuer.token())
    assert claims["sub"] == "kc-user-1"
    assert claims["iss"] == issuer.url
    await verifier.verify(issuer.token(sub="kc-user-2"))
    assert issuer.hits == {"discovery": 1, "jwks": 1}  # cached
    clock.now += 601  # the cache expires: fetched again (discovery is remembered)
    await verifier.verify(issuer.token())
    assert issuer.hits == {"discovery": 1, "jwks": 2}
    issuer.add_key("ec1", kind="EC")
    clock.now += 601
    assert (await verifier.verify(issuer.token("ec1")))["sub"] == "kc-user-1"


async def test_jwks_url_from_settings(issuer: Issuer, http: httpx.AsyncClient) -> None:
    verifier = OidcVerifier(_oidc(issuer, jwks_url=issuer.url + "/protocol/openid-connect/certs"), http)
    await verifier.verify(issuer.token())
    assert issuer.hits == {"discovery": 0, "jwks": 1}


async def test_refusals(issuer: Issuer, http: httpx.AsyncClient) -> None:
    verifier = OidcVerifier(_oidc(issuer), http, clock=Clock())
    await verifier.verify(issuer.token())
    issuer.add_key("rogue", publish=False)
    rogue = issuer.token("rogue")
    _head, payload, signature = rogue.split(".")
    forged_head = _b64(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
    public_pem = (
        issuer.private["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    confused_head = _b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    confused_sig = _b64(hmac.new(public_pem, f"{confused_head}.{payload}".encode(), hashlib.sha256).digest())
    cases = {
        "wrong issuer": issuer.token(iss="http://127.0.0.1:1/realms/other"),
        "wrong audience": issuer.token(aud="another-client"),
        "no expiry": issuer.token(exp=None),
        "signed by an unpublished key, claiming a published kid": f"{forged_head}.{payload}.{signature}",
        "HS256 keyed with the public key": f"{confused_head}.{payload}.{confused_sig}",
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'kid': 'k1'}).encode())}.{payload}.",
        "garbage": "not.a.token",
    }
    for name, token in cases.items():
        try:
            await verifier.verify(token)
        except TokenInvalid:
            continue
        pytest.fail(f"accepted: {name}")
    with pytest.raises(TokenExpired):
        await verifier.verify(issuer.token(exp=int(time.time()) - 120, iat=int(time.time()) - 600))
    # ES256 is allowed by default, but not when the settings say RS256 (and HS256 is never allowed)
    issuer.add_key("ec1", kind="EC")
    only_rs = OidcVerifier(_oidc(issuer, algorithms=["RS256", "HS256"]), http)
    with pytest.raises(TokenInvalid):
        await only_rs.verify(issuer.token("ec1"))


async def test_key_rotation_refetches_at_most_every_ten_seconds(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    verifier = OidcVerifier(_oidc(issuer), http, clock=clock)
    await verifier.verify(issuer.token("k1"))
    assert issuer.hits["jwks"] == 1
    # the issuer rotates: k2 replaces k1; the first k2 token triggers a refetch
    issuer.add_key("k2")
    issuer.published.remove("k1")
    clock.now += 10
    assert (await verifier.verify(issuer.token("k2")))["sub"] == "kc-user-1"
    assert issuer.hits["jwks"] == 2
    # unknown kids: one refetch, then none for 10 s however many tokens come
    issuer.add_key("k3", publish=False)
    clock.now += 10
    for _ in range(5):
        with pytest.raises(TokenInvalid):
            await verifier.verify(issuer.token("k3"))
    assert issuer.hits["jwks"] == 3
    issuer.published.append("k3")
    clock.now += 5
    with pytest.raises(TokenInvalid):  # published now, but we may not ask again yet
        await verifier.verify(issuer.token("k3"))
    assert issuer.hits["jwks"] == 3
    clock.now += 5
    await verifier.verify(issuer.token("k3"))
    assert issuer.hits["jwks"] == 4


async def test_issuer_outage(issuer: Issuer, http: httpx.AsyncClient) -> None:
    clock = Clock()
    verifier = OidcVerifier(_oidc(issuer), http, clock=clock)
    await verifier.verify(issuer.token())
    issuer.failing = True
    clock.now += 601  # the cache is stale and the issuer is down: the keys we have keep working
    await verifier.verify(issuer.token())
    cold = OidcVerifier(_oidc(issuer), http, clock=clock)
    for _ in range(2):  # the second within 10 s does not ask again, and still says "unavailable"
        with pytest.raises(Unavailable):
            await cold.verify(issuer.token())
    hits = dict(issuer.hits)
    issuer.failing = False
    clock.now += 10
    await cold.verify(issuer.token())
    assert issuer.hits["jwks"] == hits["jwks"] + 1
    unreachable = OidcVerifier(OidcSettings(issuer="http://127.0.0.1:9/realms/x", audience=AUDIENCE), http)
    with pytest.raises(Unavailable):
        await unreachable.verify(issuer.token())


def test_role_mapping(issuer: Issuer) -> None:
    settings = _oidc(issuer)
    assert oidc_role(settings, issuer.claims()) == "admin"
    assert (
        oidc_role(settings, issuer.claims(realm_access={"roles": ["smeflow-viewer", "smeflow-owner"]}))
        == "owner"
    )
    assert oidc_role(settings, issuer.claims(realm_access={"roles": ["admin", "smeflow-root"]})) is None
    assert oidc_role(settings, issuer.claims(realm_access="admin")) is None
    assert oidc_role(settings, issuer.claims(realm_access=None)) is None
    nested = _oidc(issuer, roles_claim="resource_access.smeflow.roles", role_prefix="")
    assert oidc_role(nested, {"resource_access": {"smeflow": {"roles": ["staff"]}}}) == "staff"


async def _map(db: Database, settings: OidcSettings, claims: dict[str, Any]) -> Any:
    async with db.transaction(DbScope.auth()) as s:
        return await map_oidc_principal(s, settings, claims)


async def test_first_sight_provisions_then_finds(
    db: Database, issuer: Issuer, http: httpx.AsyncClient, tenant_a: uuid.UUID
) -> None:
    settings = _oidc(issuer)
    claims = await OidcVerifier(settings, http).verify(issuer.token())
    principal = await _map(db, settings, claims)
    assert (principal.kind, principal.tenant_id, principal.role, principal.tier) == (
        "user",
        tenant_a,
        "admin",
        "free",
    )
    assert await audit_actions(db, tenant_a) == ["user.created", "membership.created"]
    again = await _map(db, settings, claims)
    assert again.user_id == principal.user_id
    assert len(await audit_actions(db, tenant_a)) == 2
    async with db.transaction(DbScope.auth()) as s:
        user = await s.get(User, principal.user_id)
        assert user is not None
        assert user.email == "wanjiru@alpha.example.com"
        assert user.password_hash is None
        link = await s.get(ExternalIdentity, (issuer.url, "kc-user-1"))
        assert link is not None
        assert link.user_id == principal.user_id
    # the issuer demotes her: the membership follows, audited
    demoted = await _map(db, settings, issuer.claims(realm_access={"roles": ["smeflow-viewer"]}))
    assert demoted.role == "viewer"
    assert (await audit_actions(db, tenant_a))[-1] == "membership.updated"
    async with db.transaction(DbScope.tenant(tenant_a)) as s:
        role = (
            await s.execute(select(Membership.role).where(Membership.user_id == principal.user_id))
        ).scalar_one()
    assert role == "viewer"


async def test_existing_account_is_linked_by_verified_email(
    db: Database, issuer: Issuer, owner_a: Seat, owner_conn: psycopg.Connection
) -> None:
    settings = _oidc(issuer, auto_provision=False)
    claims = issuer.claims(email=owner_a.email.upper(), realm_access={"roles": ["smeflow-owner"]})
    with pytest.raises(PermissionDenied):  # unverified email: no linking, and no account to provision
        await _map(db, _oidc(issuer), {**claims, "email_verified": False})
    principal = await _map(db, settings, claims)
    assert (principal.user_id, principal.role) == (owner_a.user_id, "owner")
    # found by (issuer, subject) from now on, whatever the email claim says
    assert (await _map(db, settings, {**claims, "email": "changed@example.com"})).user_id == owner_a.user_id
    owner_conn.execute("UPDATE users SET status = 'disabled' WHERE id = %s", (owner_a.user_id,))
    with pytest.raises(InvalidCredentials):
        await _map(db, settings, claims)


async def test_refusals_when_mapping(
    db: Database, issuer: Issuer, tenant_a: uuid.UUID, make_tenant: Any
) -> None:
    settings = _oidc(issuer)
    suspended = await make_tenant("sleepy", status="suspended")
    for changes in (
        {"realm_access": {"roles": ["offline_access"]}},  # no SMEFlow role
        {"smeflow_tenant": None},
        {"smeflow_tenant": "no-such-tenant"},
        {"smeflow_tenant": "sleepy"},
        {"email": None},  # a new identity with no email cannot be provisioned
    ):
        with pytest.raises(PermissionDenied):
            await _map(db, settings, issuer.claims(**changes))
    with pytest.raises(PermissionDenied):  # no auto-provisioning, and nobody to link to
        await _map(db, _oidc(issuer, auto_provision=False), issuer.claims())
    with pytest.raises(TokenInvalid):
        await _map(db, settings, issuer.claims(sub=None))
    assert await audit_actions(db, tenant_a) == []
    assert await audit_actions(db, suspended) == []
