"""Bad input over HTTP: a clear problem naming the field, the right status, and nothing written."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from smeflow.api._pagination import encode_cursor
from smeflow.settings import Settings

from .conftest import API, World, assert_problem, fields_of

JSON = {"Content-Type": "application/json"}


def database_state(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Every application table's row count and a digest of its rows."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
    ]
    state = {}
    for table in tables:
        row = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        ).fetchone()
        assert row is not None
        state[table] = (row[0], row[1])
    return state


@contextmanager
def nothing_written(conn: psycopg.Connection) -> Iterator[None]:
    before = database_state(conn)
    yield
    after = database_state(conn)
    changed = {t for t in before if before[t] != after[t]}
    assert not changed, f"a refused request wrote to {changed}"


# (method, path, body, status, the fields the problem must name)
WRITES: list[tuple[str, str, Any, int, set[str]]] = [
    # wrong types
    ("POST", "/users", {"email": 42, "role": "staff"}, 422, {"body.email"}),
    ("POST", "/users", {"email": "a@example.com", "role": ["admin"]}, 422, {"body.role"}),
    ("POST", "/api-keys", {"name": "ci", "scopes": "audit:read"}, 422, {"body.scopes"}),
    (
        "PATCH",
        "/tenant",
        {"residency": {"retention_days": "forever"}},
        422,
        {"body.residency.retention_days"},
    ),
    # unknown fields
    ("POST", "/users", {"email": "a@example.com", "role": "staff", "is_admin": True}, 422, {"body.is_admin"}),
    ("PATCH", "/tenant", {"name": "X", "tier": "enterprise"}, 422, {"body.tier"}),
    ("POST", "/api-keys", {"name": "ci", "tenant_id": str(uuid.uuid4())}, 422, {"body.tenant_id"}),
    # missing fields
    ("POST", "/users", {"role": "staff"}, 422, {"body.email"}),
    ("POST", "/users", {}, 422, {"body.email", "body.role"}),
    ("PATCH", "/users/{user}", {}, 422, {"body.role"}),
    ("POST", "/api-keys", {"role": "staff"}, 422, {"body.name"}),
    ("POST", "/me/mfa/confirm", {}, 422, {"body.code"}),
    # values out of their domain (schema)
    ("POST", "/users", {"email": "not-an-email", "role": "staff"}, 422, {"body.email"}),
    ("POST", "/users", {"email": "a@example.com", "role": "god"}, 422, {"body.role"}),
    (
        "POST",
        "/users",
        {"email": "a@example.com", "role": "staff", "password": "short"},
        422,
        {"body.password"},
    ),
    ("PATCH", "/users/{user}", {"role": "superuser"}, 422, {"body.role"}),
    ("PATCH", "/tenant", {"currency": "KESH"}, 422, {"body.currency"}),  # too long: a field constraint
    ("PATCH", "/tenant", {"name": ""}, 422, {"body.name"}),
    ("POST", "/me/mfa/confirm", {"code": "12345"}, 422, {"body.code"}),
    # values the services refuse
    ("POST", "/api-keys", {"name": "ci", "scopes": ["Not A Scope"]}, 422, {"body.scopes"}),
    ("POST", "/api-keys", {"name": "ci", "scopes": []}, 422, {"body.scopes"}),
    ("POST", "/api-keys", {"name": "   "}, 422, {"body.name"}),
    (
        "POST",
        "/api-keys",
        {"name": "ci", "expires_at": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
        422,
        {"body.expires_at"},
    ),
    # bad ids in the path
    ("GET", "/users/not-a-uuid", None, 422, {"path.user_id"}),
    ("PATCH", "/users/12345", {"role": "staff"}, 422, {"path.user_id"}),
    ("DELETE", "/users/{user}x", None, 422, {"path.user_id"}),
    ("DELETE", "/api-keys/zzz", None, 422, {"path.key_id"}),
]


async def test_invalid_input_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    # one test for all cases (the world costs a second to build); each case says which it is
    for method, path, body, status, fields in WRITES:
        case = f"{method} {path} {body}"
        url = API + path.format(user=world.a.users["staff"])
        with nothing_written(owner_conn):
            response = await client.request(method, url, json=body, headers=world.a.user("owner"))
        assert response.status_code == status, (case, response.text)
        problem = assert_problem(response, status)
        assert fields <= fields_of(problem), (case, problem)
        assert problem["code"] == "validation_failed", case


async def test_operator_bad_tenant_input(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    good = {"slug": "new-co", "name": "New Co", "country": "ZA"}
    cases: list[tuple[dict[str, Any], set[str]]] = [
        (good | {"slug": "Not A Slug!"}, {"body.slug"}),
        (good | {"tier": "platinum"}, {"body.tier"}),
        (good | {"owner": {"email": "nope"}}, {"body.owner.email"}),
        (good | {"owner": {"email": "o@example.com", "password": "short"}}, {"body.owner.password"}),
        (good | {"owner": {"email": "o@example.com", "role": "admin"}}, {"body.owner.role"}),
        ({"name": "New Co", "country": "ZA"}, {"body.slug"}),
        (good | {"slug": world.a.slug}, {"body.slug"}),  # taken: 409 naming the field
    ]
    for body, fields in cases:
        with nothing_written(owner_conn):
            response = await client.post(f"{API}/tenants", json=body, headers=world.operator())
        problem = assert_problem(response, 409 if body.get("slug") == world.a.slug else 422)
        assert fields <= fields_of(problem), (body, problem)
    with nothing_written(owner_conn):
        response = await client.patch(
            f"{API}/tenants/{world.a.id}", json={"tier": "platinum"}, headers=world.operator()
        )
    assert fields_of(assert_problem(response, 422)) == {"body.tier"}
    with nothing_written(owner_conn):
        response = await client.patch(
            f"{API}/tenants/{world.a.id}", json={"status": "deleted"}, headers=world.operator()
        )
    assert fields_of(assert_problem(response, 422)) == {"body.status"}


async def test_tenant_profile_codes_name_their_field(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    """Country, currency, time zone and locale codes that do not exist name their field (not just
    ``body``), in the tenant's own profile and in the operator's new tenant."""
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("PATCH", "/tenant", {"timezone": "Mars/Olympus_Mons"}, "body.timezone"),
        ("PATCH", "/tenant", {"default_locale": "xx_NOWHERE"}, "body.default_locale"),
        ("PATCH", "/tenant", {"currency": "XXY"}, "body.currency"),
        ("POST", "/tenants", {"slug": "new-co", "name": "N", "country": "ZZ"}, "body.country"),
        (
            "POST",
            "/tenants",
            {"slug": "new-co", "name": "N", "country": "KE", "currency": "QQQ"},
            "body.currency",
        ),
    ]
    for method, path, body, field in cases:
        headers = world.operator() if path == "/tenants" else world.a.user("owner")
        with nothing_written(owner_conn):
            response = await client.request(method, API + path, json=body, headers=headers)
        problem = assert_problem(response, 422, "validation_failed")
        assert fields_of(problem) == {field}, (body, problem)


async def test_service_refusals_name_the_body_field(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    """Checks made by the services (not the schema) name the request's field too."""
    owner = world.a.user("owner")
    # a wrong code while enrolling in MFA
    assert (await client.post(f"{API}/me/mfa", headers=owner)).status_code == 200
    with nothing_written(owner_conn):
        response = await client.post(f"{API}/me/mfa/confirm", json={"code": "000000"}, headers=owner)
    assert fields_of(assert_problem(response, 422)) == {"body.code"}
    # an email that is already a member: 409 naming it
    with nothing_written(owner_conn):
        response = await client.post(
            f"{API}/users", json={"email": world.a.email("viewer"), "role": "viewer"}, headers=owner
        )
    assert fields_of(assert_problem(response, 409, "conflict")) == {"body.email"}


async def test_malformed_json_is_400(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    for path, headers in (
        ("/users", world.a.user("owner")),
        ("/api-keys", world.a.user("owner")),
        ("/auth/login", {}),
        ("/auth/refresh", {}),
    ):
        for raw in (b'{"email": ', b"{'email': 'a@example.com'}", b'{"a": 1}}', b"\xff\xfe"):
            with nothing_written(owner_conn):
                response = await client.post(API + path, content=raw, headers=JSON | headers)
            problem = assert_problem(response, 400, "malformed_request")
            assert fields_of(problem) == {"body"}, problem


async def test_oversize_bodies_are_413(
    client: httpx.AsyncClient, world: World, settings: Settings, owner_conn: psycopg.Connection
) -> None:
    limit = settings.max_body_bytes
    padding = "x" * (limit + 1)
    oversize = b'{"email": "big@example.com", "role": "staff", "full_name": "' + padding.encode() + b'"}'
    headers = JSON | world.a.user("owner")

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(oversize), 64 * 1024):
            yield oversize[start : start + 64 * 1024]

    with nothing_written(owner_conn):
        announced = await client.post(f"{API}/users", content=oversize, headers=headers)
    assert_problem(announced, 413, "payload_too_large")
    with nothing_written(owner_conn):
        streamed = await client.post(f"{API}/users", content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers  # sent chunked
    assert_problem(streamed, 413, "payload_too_large")
    with nothing_written(owner_conn):
        login = await client.post(f"{API}/auth/login", content=oversize, headers=JSON)
    assert_problem(login, 413, "payload_too_large")
    # just under the limit is read (and refused for what it says, not for its size)
    fits = b'{"email": "big@example.com", "role": "staff", "full_name": "' + b"x" * 300 + b'"}'
    assert len(fits) < limit
    with nothing_written(owner_conn):
        response = await client.post(f"{API}/users", content=fits, headers=headers)
    assert fields_of(assert_problem(response, 422, "validation_failed")) == {"body.full_name"}


async def test_unreadable_cursors_and_limits_are_422(client: httpx.AsyncClient, world: World) -> None:
    admin = world.a.user("admin")
    bad_cursors = ["!!!", "not base64 at all", "eyJh", encode_cursor({"seq": 1}), encode_cursor("x" * 10)]
    for path in ("/users", "/audit/events"):
        for cursor in bad_cursors:
            response = await client.get(API + path, params={"cursor": cursor}, headers=admin)
            assert fields_of(assert_problem(response, 422, "validation_failed")) == {"query.cursor"}, cursor
        response = await client.get(API + path, params={"cursor": "a" * 600}, headers=admin)
        assert fields_of(assert_problem(response, 422)) == {"query.cursor"}
        for limit in ("0", "201", "-1", "ten", "1.5"):
            response = await client.get(API + path, params={"limit": limit}, headers=admin)
            assert fields_of(assert_problem(response, 422, "validation_failed")) == {"query.limit"}, limit
    for cursor in ["!!!", encode_cursor(5), encode_cursor(["a"])]:
        response = await client.get(f"{API}/tenants", params={"cursor": cursor}, headers=world.operator())
        assert fields_of(assert_problem(response, 422, "validation_failed")) == {"query.cursor"}, cursor
    response = await client.get(f"{API}/tenants", params={"status": "gone"}, headers=world.operator())
    assert fields_of(assert_problem(response, 422)) == {"query.status"}


async def test_bad_login_input(client: httpx.AsyncClient, owner_conn: psycopg.Connection) -> None:
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"email": "a@example.com"}, {"body.password"}),
        ({"email": "a@example.com", "password": "x", "remember": True}, {"body.remember"}),
        ({"email": "a@example.com", "password": "x", "tenant": "Not A Slug"}, {"body.tenant"}),
        ({"email": 5, "password": "x"}, {"body.email"}),
    ]
    for body, fields in cases:
        with nothing_written(owner_conn):
            response = await client.post(f"{API}/auth/login", json=body)
        assert fields_of(assert_problem(response, 422, "validation_failed")) == fields
    with nothing_written(owner_conn):
        response = await client.post(f"{API}/auth/mfa", json={"mfa_token": "x", "code": "abcdef"})
    assert fields_of(assert_problem(response, 422)) == {"body.code"}
