"""Authentication over HTTP: logins, tenant choice, refresh rotation, logout, MFA, API key
revocation, forged tokens, and the brake on password guessing."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
import orjson
import psycopg
import pyotp
import pytest

from smeflow.audit import Actor
from smeflow.core import utcnow
from smeflow.core.sealing import derive_key
from smeflow.db import Database, DbScope
from smeflow.identity import add_member, decode_access_token, issue_access_token
from smeflow.settings import Settings

from .conftest import API, PASSWORD, World, assert_problem, make_tenant, set_password


@dataclass
class Seat:
    email: str
    tenant_slug: str
    tenant_id: uuid.UUID
    user_id: uuid.UUID


@pytest.fixture
async def seat(db: Database, settings: Settings, owner_conn: psycopg.Connection) -> Seat:
    """One tenant with one admin who has a password (cheaper than the whole world)."""
    tenant = await make_tenant(db, settings, "kisumu-dairy", "KE", roles=("admin",))
    set_password(owner_conn, tenant.email("admin"))
    return Seat(tenant.email("admin"), tenant.slug, tenant.id, tenant.users["admin"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: httpx.AsyncClient, email: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD} | extra)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def me_status(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return (await client.get(f"{API}/me", headers=headers)).status_code


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient, seat: Seat) -> None:
    wrong = await client.post(f"{API}/auth/login", json={"email": seat.email, "password": "not the password"})
    unknown = await client.post(
        f"{API}/auth/login", json={"email": "who@nowhere.example", "password": PASSWORD}
    )
    other_tenant = await client.post(
        f"{API}/auth/login", json={"email": seat.email, "password": PASSWORD, "tenant": "some-other-shop"}
    )
    bodies = [assert_problem(r, 401) for r in (wrong, unknown, other_tenant)]
    assert {(b["code"], b["title"], b["detail"]) for b in bodies} == {
        (bodies[0]["code"], bodies[0]["title"], bodies[0]["detail"])
    }
    assert "email" not in {e.get("field") for b in bodies for e in b.get("errors", [])}
    # and the right password works (the refusals were for the credentials, nothing else)
    tokens = (await login(client, seat.email.upper()))["tokens"]
    assert tokens["tenant_id"] == str(seat.tenant_id)
    assert tokens["role"] == "admin"
    assert await me_status(client, bearer(tokens["access_token"])) == 200


async def test_a_user_of_two_tenants_must_choose(
    client: httpx.AsyncClient, db: Database, settings: Settings, seat: Seat
) -> None:
    other = await make_tenant(db, settings, "eldoret-feeds", "KE", roles=())
    async with db.transaction(DbScope.tenant(other.id)) as session:
        await add_member(session, Actor.system(), other.id, seat.email, "viewer")

    response = await client.post(f"{API}/auth/login", json={"email": seat.email, "password": PASSWORD})
    problem = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in problem["errors"]] == ["body.tenant"]
    assert sorted(problem["tenants"]) == sorted([seat.tenant_slug, other.slug])

    chosen = (await login(client, seat.email, tenant=other.slug))["tokens"]
    assert chosen["tenant_id"] == str(other.id)
    assert chosen["role"] == "viewer"
    me = (await client.get(f"{API}/me", headers=bearer(chosen["access_token"]))).json()
    assert me["tenant"]["slug"] == other.slug
    assert me["role"] == "viewer"
    first = (await login(client, seat.email, tenant=seat.tenant_slug))["tokens"]
    assert first["tenant_id"] == str(seat.tenant_id)
    assert first["role"] == "admin"


async def test_refresh_rotates_and_reuse_revokes_the_login(client: httpx.AsyncClient, seat: Seat) -> None:
    first = (await login(client, seat.email))["tokens"]
    other_login = (await login(client, seat.email))["tokens"]

    response = await client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert await me_status(client, bearer(second["access_token"])) == 200

    # the rotated token again: somebody else holds it. The whole login is revoked at once.
    reused = await client.post(f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reused, 401)
    for access in (first["access_token"], second["access_token"]):
        assert_problem(await client.get(f"{API}/me", headers=bearer(access)), 401)
    after = await client.post(f"{API}/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_problem(after, 401)
    # another login of the same person is not affected
    assert await me_status(client, bearer(other_login["access_token"])) == 200

    for junk in ("nope", f"{uuid.uuid4()}.{'x' * 43}", first["refresh_token"] + "x"):
        assert_problem(await client.post(f"{API}/auth/refresh", json={"refresh_token": junk}), 401)


async def test_logout_ends_the_login(client: httpx.AsyncClient, seat: Seat) -> None:
    tokens = (await login(client, seat.email))["tokens"]
    other = (await login(client, seat.email))["tokens"]
    headers = bearer(tokens["access_token"])
    assert await me_status(client, headers) == 200
    response = await client.post(f"{API}/auth/logout", headers=headers)
    assert response.status_code == 204, response.text
    assert_problem(await client.get(f"{API}/me", headers=headers), 401)
    assert_problem(
        await client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 401
    )
    assert await me_status(client, bearer(other["access_token"])) == 200

    # logging out by refresh token ends that login too
    response = await client.post(
        f"{API}/auth/logout",
        headers=bearer(other["access_token"]),
        json={"refresh_token": other["refresh_token"]},
    )
    assert response.status_code == 204
    assert_problem(await client.get(f"{API}/me", headers=bearer(other["access_token"])), 401)


async def test_mfa_enrolment_then_two_step_login(client: httpx.AsyncClient, seat: Seat) -> None:
    headers = bearer((await login(client, seat.email))["tokens"]["access_token"])
    enrolment = await client.post(f"{API}/me/mfa", headers=headers)
    assert enrolment.status_code == 200, enrolment.text
    secret = enrolment.json()["secret"]
    assert secret in enrolment.json()["otpauth_uri"]
    totp = pyotp.TOTP(secret)
    now = time.time()

    # not active until confirmed: logging in still needs only the password
    assert (await login(client, seat.email))["tokens"] is not None
    confirmed = await client.post(f"{API}/me/mfa/confirm", json={"code": totp.at(now)}, headers=headers)
    assert confirmed.status_code == 204, confirmed.text
    me = (await client.get(f"{API}/me", headers=headers)).json()
    assert me["user"]["mfa_enabled"] is True

    challenge = await login(client, seat.email)
    assert challenge["mfa_required"] is True
    assert challenge["tokens"] is None
    mfa_token = challenge["mfa_token"]
    # the challenge is no access token
    assert_problem(await client.get(f"{API}/me", headers=bearer(mfa_token)), 401)
    # the code that confirmed enrolment is spent
    spent = await client.post(f"{API}/auth/mfa", json={"mfa_token": mfa_token, "code": totp.at(now)})
    assert_problem(spent, 401)
    wrong = str((int(totp.at(now + 30)) + 1) % 1_000_000).zfill(6)
    assert_problem(await client.post(f"{API}/auth/mfa", json={"mfa_token": mfa_token, "code": wrong}), 401)

    code = totp.at(now + 30)  # the next step's code: within the accepted drift, and not yet used
    response = await client.post(f"{API}/auth/mfa", json={"mfa_token": mfa_token, "code": code})
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["tenant_id"] == str(seat.tenant_id)
    assert await me_status(client, bearer(tokens["access_token"])) == 200

    # the same code again, even with a fresh challenge: refused
    replay = await client.post(f"{API}/auth/mfa", json={"mfa_token": mfa_token, "code": code})
    assert_problem(replay, 401)
    fresh = (await login(client, seat.email))["mfa_token"]
    assert_problem(await client.post(f"{API}/auth/mfa", json={"mfa_token": fresh, "code": code}), 401)
    # a forged challenge
    forged = jwt.encode({"sub": str(seat.user_id), "typ": "mfa"}, "k" * 64, algorithm="HS256")
    assert_problem(await client.post(f"{API}/auth/mfa", json={"mfa_token": forged, "code": code}), 401)


async def test_revoked_api_key_is_refused_on_the_next_request(client: httpx.AsyncClient, seat: Seat) -> None:
    admin = bearer((await login(client, seat.email))["tokens"]["access_token"])
    created = await client.post(f"{API}/api-keys", headers=admin, json={"name": "till", "role": "staff"})
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    assert await me_status(client, {"X-API-Key": key}) == 200
    assert await me_status(client, bearer(key)) == 200  # an API key also works as a bearer token

    listed = (await client.get(f"{API}/api-keys", headers=admin)).json()["items"]
    assert key not in str(listed)  # the key itself is shown once, never listed

    revoked = await client.delete(f"{API}/api-keys/{key_id}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert_problem(await client.get(f"{API}/me", headers={"X-API-Key": key}), 401)
    assert_problem(await client.get(f"{API}/me", headers=bearer(key)), 401)
    # revoking again is harmless
    assert (await client.delete(f"{API}/api-keys/{key_id}", headers=admin)).status_code == 200


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


async def test_expired_and_forged_tokens_are_401(
    client: httpx.AsyncClient, settings: Settings, seat: Seat
) -> None:
    real = (await login(client, seat.email))["tokens"]["access_token"]
    claims = decode_access_token(settings, real)
    payload = jwt.decode(real, options={"verify_signature": False})
    our_key = derive_key(settings.secret_key.get_secret_value(), "jwt/access")

    def sign(changes: dict[str, Any], key: bytes | str = our_key) -> str:
        return jwt.encode(payload | changes, key, algorithm="HS256")

    # controls: a token we sign ourselves the way the server does is accepted
    assert await me_status(client, bearer(sign({}))) == 200
    fresh = issue_access_token(
        settings, user_id=claims.sub, tenant_id=claims.tid, role=claims.role, session_id=claims.sid
    )
    assert await me_status(client, bearer(fresh)) == 200

    expired = issue_access_token(
        settings,
        user_id=claims.sub,
        tenant_id=claims.tid,
        role=claims.role,
        session_id=claims.sid,
        now=utcnow() - timedelta(seconds=settings.access_token_seconds + 60),
    )
    assert_problem(await client.get(f"{API}/me", headers=bearer(expired)), 401, "token_expired")

    header = {"alg": "none", "typ": "JWT"}
    forged = {
        "wrong key": sign({}, b"another-secret-" * 4),
        "wrong audience": sign({"aud": "someone-else"}),
        "wrong issuer": sign({"iss": "https://evil.example"}),
        "mfa key": jwt.encode(
            payload, derive_key(settings.secret_key.get_secret_value(), "jwt/mfa"), algorithm="HS256"
        ),
        "another user": sign({"sub": str(uuid.uuid4())}),
        "another tenant": sign({"tid": str(uuid.uuid4())}),
        "alg none, no signature": f"{_b64(header)}.{_b64(payload)}.",
        "alg none, old signature": f"{_b64(header)}.{_b64(payload)}.{real.split('.')[2]}",
        "tampered role": ".".join(
            [real.split(".")[0], _b64(payload | {"role": "owner"}), real.split(".")[2]]
        ),
        "HS512": jwt.encode(payload, our_key * 2, algorithm="HS512"),
        "garbage": "a.b.c",
    }
    for name, token in forged.items():
        response = await client.get(f"{API}/me", headers=bearer(token))
        body = assert_problem(response, 401)
        assert body["code"] in ("token_invalid", "invalid_credentials", "not_authenticated"), name
    # the real token still works: nothing above spoiled it
    assert await me_status(client, bearer(real)) == 200


async def test_eleventh_rapid_login_attempt_is_429(client: httpx.AsyncClient) -> None:
    email = "guess.me@nowhere.example"
    for attempt in range(10):
        response = await client.post(
            f"{API}/auth/login", json={"email": email, "password": f"guess {attempt}"}
        )
        assert_problem(response, 401)
    blocked = await client.post(f"{API}/auth/login", json={"email": email.upper(), "password": "guess 11"})
    assert_problem(blocked, 429, "rate_limited")
    assert int(blocked.headers["retry-after"]) >= 1
    # other addresses are not affected
    other = await client.post(f"{API}/auth/login", json={"email": "other@nowhere.example", "password": "x"})
    assert_problem(other, 401)


async def test_one_time_code_guessing_is_braked(client: httpx.AsyncClient, seat: Seat) -> None:
    headers = bearer((await login(client, seat.email))["tokens"]["access_token"])
    secret = (await client.post(f"{API}/me/mfa", headers=headers)).json()["secret"]
    totp = pyotp.TOTP(secret)
    now = time.time()
    assert (
        await client.post(f"{API}/me/mfa/confirm", json={"code": totp.at(now)}, headers=headers)
    ).status_code == 204
    valid = {totp.at(now + delta) for delta in (-30, 0, 30, 60)}
    guesses = (code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)

    async def guess(challenge: str, code: str) -> httpx.Response:
        return await client.post(f"{API}/auth/mfa", json={"mfa_token": challenge, "code": code})

    # per challenge: five wrong codes, then the challenge is braked (even for a right code)
    first = (await login(client, seat.email))["mfa_token"]
    for _ in range(5):
        assert_problem(await guess(first, next(guesses)), 401)
    blocked = await guess(first, totp.at(now + 30))
    assert_problem(blocked, 429, "rate_limited")
    assert int(blocked.headers["retry-after"]) >= 1
    # per account: fresh challenges do not reset the count; the 11th code is braked
    second = (await login(client, seat.email))["mfa_token"]
    for _ in range(5):
        assert_problem(await guess(second, next(guesses)), 401)
    third = (await login(client, seat.email))["mfa_token"]
    blocked = await guess(third, totp.at(now + 30))
    assert_problem(blocked, 429, "rate_limited")
    assert int(blocked.headers["retry-after"]) >= 1


async def test_membership_changes_apply_to_live_logins(
    client: httpx.AsyncClient, db: Database, settings: Settings, owner_conn: psycopg.Connection
) -> None:
    tenant = await make_tenant(db, settings, "thika-motors", "KE", roles=("admin", "staff", "viewer"))
    set_password(owner_conn, *(tenant.email(r) for r in ("admin", "staff", "viewer")))
    admin, staff, viewer = [
        bearer((await login(client, tenant.email(r)))["tokens"]["access_token"])
        for r in ("admin", "staff", "viewer")
    ]
    assert_problem(await client.get(f"{API}/api-keys", headers=staff), 403)
    promoted = await client.patch(
        f"{API}/users/{tenant.users['staff']}", json={"role": "admin"}, headers=admin
    )
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "admin"
    # the same access token now carries the new role
    assert (await client.get(f"{API}/api-keys", headers=staff)).status_code == 200
    assert (await client.get(f"{API}/me", headers=staff)).json()["role"] == "admin"

    removed = await client.delete(f"{API}/users/{tenant.users['viewer']}", headers=admin)
    assert removed.status_code == 204
    assert_problem(await client.get(f"{API}/me", headers=viewer), 401)
    assert_problem(await client.get(f"{API}/users/{tenant.users['viewer']}", headers=admin), 404)


async def test_a_suspended_tenant_is_shut_out(client: httpx.AsyncClient, world: World) -> None:
    a, b = world.a, world.b
    suspended = await client.patch(
        f"{API}/tenants/{a.id}", json={"status": "suspended"}, headers=world.operator()
    )
    assert suspended.status_code == 200
    assert suspended.json()["status"] == "suspended"
    assert_problem(await client.get(f"{API}/me", headers=a.user("owner")), 401)
    assert_problem(await client.get(f"{API}/me", headers=a.key()), 401)
    refused = await client.post(f"{API}/auth/login", json={"email": a.email("owner"), "password": PASSWORD})
    assert_problem(refused, 401)
    assert (await client.get(f"{API}/me", headers=b.user("owner"))).status_code == 200
    # the operator still sees it, and can bring it back
    assert (await client.get(f"{API}/tenants/{a.id}", headers=world.operator())).status_code == 200
    back = await client.patch(f"{API}/tenants/{a.id}", json={"status": "active"}, headers=world.operator())
    assert back.status_code == 200
    assert (await client.get(f"{API}/me", headers=a.key())).status_code == 200
    assert (await client.get(f"{API}/me", headers=a.user("owner"))).status_code == 200
