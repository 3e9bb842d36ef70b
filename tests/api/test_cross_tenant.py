"""Tenant isolation and authorization over HTTP, for every route of the API.

The routes are enumerated from the application: a new route under ``/api/v1`` without an entry
in :data:`CASES` fails :func:`test_every_route_has_a_case`, so nobody can add an endpoint that
this matrix does not cover.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from engine.salon import salon
from integrations.connectors import PaystackLike, charge_success, paystack_signature
from integrations.kit import ping_body, registry
from integrations.rows import PAYSTACK_SECRET, add_integration
from smeflow.agents.schemas import AgentConfig, AgentCreate
from smeflow.agents.service import create_agent
from smeflow.api._state import AppState
from smeflow.audit import Actor
from smeflow.bookings import add_time_off, create_booking, create_service, create_staff, zone_of
from smeflow.bookings.schemas import BookingIn, HoursIn, ServiceIn, StaffIn, TimeOffIn
from smeflow.channels._conversations import add_message, conversation_for
from smeflow.core.money import Money
from smeflow.db import Database, DbScope
from smeflow.engine.runtime import start_run
from smeflow.engine.runtime._approvals import open_approval
from smeflow.engine.runtime._forms import open_form
from smeflow.engine.workflows import create_workflow, publish
from smeflow.identity import Principal, create_api_key
from smeflow.integrations import Vault, create_integration
from smeflow.integrations.schemas import IntegrationCreate
from smeflow.payments import Observed
from smeflow.payments.service import apply, create_payment
from smeflow.settings import Settings

from .conftest import API, ROLES, TenantWorld, World, api_routes, assert_problem, permissions_of
from .test_events_api import waits_for_payment
from .test_runs_api import drain, workflow_over_api


@dataclass(frozen=True)
class Case:
    """How to call one route: a body (and query) its own tenant would accept, and whether it is
    public."""

    body: dict[str, Any] | None = None
    public: bool = False
    query: dict[str, Any] | None = None


CASES: dict[tuple[str, str], Case] = {
    ("POST", f"{API}/auth/login"): Case(public=True),
    ("POST", f"{API}/auth/mfa"): Case(public=True),
    ("POST", f"{API}/auth/refresh"): Case(public=True),
    ("POST", f"{API}/auth/logout"): Case(),
    ("GET", f"{API}/me"): Case(),
    ("POST", f"{API}/me/mfa"): Case(),
    ("POST", f"{API}/me/mfa/confirm"): Case(body={"code": "123456"}),
    ("POST", f"{API}/me/mfa/disable"): Case(body={"code": "123456"}),
    ("GET", f"{API}/tenants"): Case(),
    ("POST", f"{API}/tenants"): Case(body={"slug": "new-co", "name": "New Co", "country": "ZA"}),
    ("GET", f"{API}/tenants/{{tenant_id}}"): Case(),
    ("PATCH", f"{API}/tenants/{{tenant_id}}"): Case(body={"name": "Renamed"}),
    ("GET", f"{API}/tenant"): Case(),
    ("PATCH", f"{API}/tenant"): Case(body={"name": "Renamed"}),
    ("GET", f"{API}/users"): Case(),
    ("POST", f"{API}/users"): Case(body={"email": "new.member@example.com", "role": "viewer"}),
    ("GET", f"{API}/users/{{user_id}}"): Case(),
    ("PATCH", f"{API}/users/{{user_id}}"): Case(body={"role": "viewer"}),
    ("DELETE", f"{API}/users/{{user_id}}"): Case(),
    ("GET", f"{API}/api-keys"): Case(),
    ("POST", f"{API}/api-keys"): Case(body={"name": "ci", "role": "viewer"}),
    ("GET", f"{API}/api-keys/{{key_id}}"): Case(),
    ("DELETE", f"{API}/api-keys/{{key_id}}"): Case(),
    ("GET", f"{API}/audit/events"): Case(),
    ("GET", f"{API}/audit/verify"): Case(),
    ("GET", f"{API}/node-kinds"): Case(),
    ("GET", f"{API}/workflows"): Case(),
    ("POST", f"{API}/workflows"): Case(body={"name": "New flow", "definition": {}}),
    ("GET", f"{API}/workflows/{{workflow_id}}"): Case(),
    ("PATCH", f"{API}/workflows/{{workflow_id}}"): Case(body={"description": "Changed"}),
    ("POST", f"{API}/workflows/{{workflow_id}}/publish"): Case(body={"note": "again"}),
    ("POST", f"{API}/workflows/{{workflow_id}}/archive"): Case(),
    ("GET", f"{API}/workflows/{{workflow_id}}/versions"): Case(),
    ("GET", f"{API}/workflows/{{workflow_id}}/versions/{{version}}"): Case(),
    ("GET", f"{API}/workflows/{{workflow_id}}/diff"): Case(query={"from": 1, "to": 2}),
    ("POST", f"{API}/workflows/{{workflow_id}}/webhook-secret"): Case(),
    ("POST", f"{API}/workflows/{{workflow_id}}/runs"): Case(
        body={"input": {"phone": "+254700000001", "customer": "Wanjiru"}}
    ),
    ("GET", f"{API}/runs"): Case(),
    ("GET", f"{API}/runs/{{run_id}}"): Case(),
    ("GET", f"{API}/runs/{{run_id}}/events"): Case(),
    ("POST", f"{API}/runs/{{run_id}}/cancel"): Case(),
    ("POST", f"{API}/runs/{{run_id}}/pause"): Case(),
    ("POST", f"{API}/runs/{{run_id}}/resume"): Case(),
    ("POST", f"{API}/runs/{{run_id}}/retry"): Case(),
    ("GET", f"{API}/approvals"): Case(),
    ("GET", f"{API}/approvals/{{approval_id}}"): Case(),
    ("POST", f"{API}/approvals/{{approval_id}}/decision"): Case(body={"outcome": "approve", "comment": "ok"}),
    # signed with the workflow's secret, not a login: its isolation is in test_hooks_api.py
    ("POST", f"{API}/hooks/{{tenant_slug}}/{{workflow_id_or_name}}"): Case(public=True),
    # authenticated by the integration's URL token (and signature): see test_webhooks_are_apart below
    ("POST", f"{API}/webhooks/{{provider}}/{{integration_id}}/{{token}}"): Case(public=True),
    ("GET", f"{API}/webhooks/{{provider}}/{{integration_id}}/{{token}}"): Case(public=True),
    ("GET", f"{API}/forms"): Case(),
    ("GET", f"{API}/forms/{{form_id}}"): Case(),
    ("POST", f"{API}/forms/{{form_id}}/answers"): Case(body={"answers": {"service": "Braids"}}),
    ("POST", f"{API}/events"): Case(body={"name": "booking.created", "payload": {"customer": "Wanjiru"}}),
    ("GET", f"{API}/connectors"): Case(),
    ("GET", f"{API}/integrations"): Case(),
    ("POST", f"{API}/integrations"): Case(body=ping_body("New till")),
    ("GET", f"{API}/integrations/{{integration_id}}"): Case(),
    ("PATCH", f"{API}/integrations/{{integration_id}}"): Case(body={"name": "Renamed", "status": "disabled"}),
    ("DELETE", f"{API}/integrations/{{integration_id}}"): Case(),
    ("POST", f"{API}/integrations/{{integration_id}}/check"): Case(),
    ("GET", f"{API}/payments"): Case(),
    ("POST", f"{API}/payments"): Case(
        body={"integration": "Till", "amount_minor": 150000, "currency": "KES", "phone": "0712345678"}
    ),
    ("GET", f"{API}/payments/{{payment_id}}"): Case(),
    ("POST", f"{API}/payments/{{payment_id}}/check"): Case(),
    ("GET", f"{API}/agents"): Case(),
    ("POST", f"{API}/agents"): Case(body={"name": "Concierge", "type": "mentor"}),
    ("GET", f"{API}/agents/{{agent_id}}"): Case(),
    ("PATCH", f"{API}/agents/{{agent_id}}"): Case(body={"status": "disabled"}),
    ("DELETE", f"{API}/agents/{{agent_id}}"): Case(),
    ("POST", f"{API}/agents/{{agent_id}}/try"): Case(body={"text": "Habari, nataka kupanga miadi kesho"}),
    ("GET", f"{API}/usage"): Case(),
    ("GET", f"{API}/booking-services"): Case(),
    ("POST", f"{API}/booking-services"): Case(
        body={"name": "Cornrows", "duration_minutes": 90, "price_minor": 300000, "deposit_minor": 50000}
    ),
    ("GET", f"{API}/booking-services/{{booking_service_id}}"): Case(),
    ("PATCH", f"{API}/booking-services/{{booking_service_id}}"): Case(body={"price_minor": 350000}),
    ("DELETE", f"{API}/booking-services/{{booking_service_id}}"): Case(),
    ("GET", f"{API}/staff"): Case(),
    ("POST", f"{API}/staff"): Case(body={"name": "New stylist"}),
    ("GET", f"{API}/staff/{{staff_id}}"): Case(),
    ("PATCH", f"{API}/staff/{{staff_id}}"): Case(body={"name": "Renamed stylist"}),
    ("DELETE", f"{API}/staff/{{staff_id}}"): Case(),
    ("GET", f"{API}/time-off"): Case(),
    ("POST", f"{API}/time-off"): Case(body={"starts_on": "2031-12-25", "ends_on": "2031-12-26"}),
    ("DELETE", f"{API}/time-off/{{time_off_id}}"): Case(),
    ("GET", f"{API}/availability"): Case(),
    ("GET", f"{API}/bookings"): Case(),
    ("POST", f"{API}/bookings"): Case(
        body={
            "service_id": str(uuid.UUID(int=1)),
            "start_at": "2035-03-05T10:00:00+03:00",
            "customer_name": "Wanjiru",
            "customer_phone": "+254712345678",
        }
    ),
    ("GET", f"{API}/bookings/calendar"): Case(),
    ("GET", f"{API}/bookings/export.csv"): Case(),
    ("GET", f"{API}/bookings/export.ics"): Case(),
    ("GET", f"{API}/bookings/{{booking_id}}"): Case(),
    ("PATCH", f"{API}/bookings/{{booking_id}}"): Case(body={"notes": "Bring photos of the style"}),
    ("POST", f"{API}/bookings/{{booking_id}}/cancel"): Case(body={"reason": "travelling"}),
    ("GET", f"{API}/conversations"): Case(),
    ("GET", f"{API}/conversations/{{conversation_id}}"): Case(),
    ("POST", f"{API}/conversations/{{conversation_id}}/takeover"): Case(),
    ("POST", f"{API}/conversations/{{conversation_id}}/handback"): Case(),
    ("POST", f"{API}/conversations/{{conversation_id}}/messages"): Case(body={"text": "Karibu tena"}),
    ("GET", f"{API}/conversation-workflows"): Case(),
    ("PUT", f"{API}/conversation-workflows"): Case(body={"channel": "web", "workflow_id": str(uuid.uuid4())}),
}

# The resource a path parameter names, in a tenant.
ID_PARAMS = (
    "tenant_id",
    "user_id",
    "key_id",
    "workflow_id",
    "version",
    "run_id",
    "approval_id",
    "tenant_slug",
    "workflow_id_or_name",
    "form_id",
    "integration_id",
    "payment_id",
    "agent_id",
    "conversation_id",
    "provider",
    "token",
    "booking_service_id",
    "staff_id",
    "time_off_id",
    "booking_id",
)

# Each tenant's workflow (published twice) and a run of it, made by the ``world`` fixture below.
WORKFLOWS: dict[uuid.UUID, uuid.UUID] = {}
RUNS: dict[uuid.UUID, uuid.UUID] = {}
APPROVALS: dict[uuid.UUID, uuid.UUID] = {}
FORMS: dict[uuid.UUID, uuid.UUID] = {}
INTEGRATIONS: dict[uuid.UUID, uuid.UUID] = {}
PAYMENTS: dict[uuid.UUID, uuid.UUID] = {}
AGENTS: dict[uuid.UUID, uuid.UUID] = {}
BOOKING_SERVICES: dict[uuid.UUID, uuid.UUID] = {}
STAFF: dict[uuid.UUID, uuid.UUID] = {}
TIME_OFF: dict[uuid.UUID, uuid.UUID] = {}
BOOKINGS: dict[uuid.UUID, uuid.UUID] = {}
CONVERSATIONS: dict[uuid.UUID, uuid.UUID] = {}
WORKFLOW_NAME = "Booking funnel"


async def published_workflow(db: Database, tenant_id: uuid.UUID) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        workflow, problems = await create_workflow(
            session, Actor.system(), tenant_id, WORKFLOW_NAME, salon(), "Books salon visits"
        )
        assert problems == []
        await publish(session, Actor.system(), tenant_id, workflow.id, "first")
        await publish(session, Actor.system(), tenant_id, workflow.id, "second")
        return workflow.id


async def queued_run(db: Database, tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> uuid.UUID:
    """A run of the workflow, accepted (``queued``) and never executed."""
    async with db.transaction(DbScope.tenant(tenant_id)) as session:
        data = {"phone": "+254700000002", "customer": "Achieng"}
        run = await start_run(session, Actor.system(), tenant_id, workflow_id, data)
        return run.id


def approval_title(slug: str) -> str:
    return f"Approve the booking at {slug}"


async def pending_approval(db: Database, t: TenantWorld, run_id: uuid.UUID) -> uuid.UUID:
    """A pending approval of the run, as its approval step opens it (any staff may decide it)."""
    opened = await open_approval(
        db,
        t.id,
        run_id,
        "approve",
        title=approval_title(t.slug),
        details={"Deposit": 150000, "Customer": f"customer of {t.slug}"},
        role="staff",
        timeout_seconds=None,
        default_outcome="reject",
    )
    return opened.id


def form_title(slug: str) -> str:
    return f"Book a visit at {slug}"


async def pending_form(db: Database, t: TenantWorld, run_id: uuid.UUID) -> uuid.UUID:
    """A pending form of the run, as its form step opens it."""
    options = ["Haircut", "Braids", f"Special of {t.slug}"]
    fields = [{"name": "service", "type": "single_choice", "label": "Which service?", "options": options}]
    opened = await open_form(db, t.id, run_id, "ask", title=form_title(t.slug), fields=fields)
    return opened.id


def integration_name(slug: str) -> str:
    return f"Till of {slug}"


async def connected_integration(db: Database, settings: Settings, t: TenantWorld) -> uuid.UUID:
    """An integration of the tenant (sealed with the app's secret key, so the API can show it)."""
    async with db.transaction(DbScope.tenant(t.id)) as session:
        row = await create_integration(
            session,
            Actor.system(),
            t.id,
            registry(),
            Vault.from_settings(settings),
            IntegrationCreate(**ping_body(integration_name(t.slug))),
        )
        return row.id


def payment_reference(slug: str) -> str:
    return f"deposit-{slug}"


async def settled_payment(db: Database, t: TenantWorld) -> uuid.UUID:
    """A payment of the tenant through its integration, already succeeded (a check asks nobody)."""
    async with db.transaction(DbScope.tenant(t.id)) as session:
        payment, _ = await create_payment(
            session,
            t.id,
            integration_id=INTEGRATIONS[t.id],
            connector="ping",
            reference=payment_reference(t.slug),
            amount=Money(150000, "KES"),
            phone="+254712345678",
        )
        await apply(session, payment, Observed("succeeded", 150000, "KES", f"RCPT-{t.slug}"), cause="query")
        return payment.id


def agent_name(slug: str) -> str:
    return f"Receptionist of {slug}"


async def offline_agent(db: Database, t: TenantWorld) -> uuid.UUID:
    async with db.transaction(DbScope.tenant(t.id)) as session:
        body = AgentCreate(name=agent_name(t.slug), type="automator", config=AgentConfig())
        agent = await create_agent(session, Actor.system(), t.id, body, {})
        return agent.id


def service_name(slug: str) -> str:
    return f"Braids at {slug}"


def staff_name(slug: str) -> str:
    return f"Stylist of {slug}"


def customer_name(slug: str) -> str:
    return f"Customer of {slug}"


async def booked_visit(db: Database, t: TenantWorld) -> None:
    """A service, a staff member who offers it every day, a day off and a booking (far ahead)."""
    async with db.transaction(DbScope.tenant(t.id)) as session:
        service = await create_service(
            session,
            Actor.system(),
            t.id,
            ServiceIn(name=service_name(t.slug), duration_minutes=60, price_minor=300000),
        )
        hours = [HoursIn(weekday=d, starts=time(8), ends=time(18)) for d in range(7)]
        staff = await create_staff(
            session,
            Actor.system(),
            t.id,
            StaffIn(name=staff_name(t.slug), service_ids=[service.id], hours=hours),
        )
        off = await add_time_off(
            session,
            Actor.system(),
            t.id,
            TimeOffIn(staff_id=staff.id, starts_on=date(2035, 1, 1), ends_on=date(2035, 1, 2)),
        )
        zone = await zone_of(session, t.id)
        booking = await create_booking(
            session,
            Actor.system(),
            t.id,
            BookingIn(
                service_id=service.id,
                start_at=datetime(2035, 3, 5, 10, tzinfo=zone),
                customer_name=customer_name(t.slug),
                customer_phone="+254712345678",
            ),
        )
        BOOKING_SERVICES[t.id], STAFF[t.id], TIME_OFF[t.id], BOOKINGS[t.id] = (
            service.id,
            staff.id,
            off.id,
            booking.id,
        )


async def web_conversation(db: Database, t: TenantWorld) -> uuid.UUID:
    """A web chat conversation of the tenant with one message from its visitor."""
    async with db.transaction(DbScope.tenant(t.id)) as session:
        conversation = await conversation_for(session, t.id, "web", None, f"v_{t.slug}")
        await add_message(
            session, conversation, "in", f"Hello {t.slug}", provider_message_id="visitor:1", status="received"
        )
        return conversation.id


@pytest.fixture
async def world(world: World, db: Database, settings: Settings) -> World:
    """The API tests' world, each tenant with a workflow published as versions 1 and 2, a run of
    it, a pending approval and a pending form of that run, and an integration."""
    for t in (world.a, world.b):
        WORKFLOWS[t.id] = await published_workflow(db, t.id)
        RUNS[t.id] = await queued_run(db, t.id, WORKFLOWS[t.id])
        APPROVALS[t.id] = await pending_approval(db, t, RUNS[t.id])
        FORMS[t.id] = await pending_form(db, t, RUNS[t.id])
        INTEGRATIONS[t.id] = await connected_integration(db, settings, t)
        PAYMENTS[t.id] = await settled_payment(db, t)
        AGENTS[t.id] = await offline_agent(db, t)
        await booked_visit(db, t)
        CONVERSATIONS[t.id] = await web_conversation(db, t)
    return world


def ids_of(t: TenantWorld) -> dict[str, str]:
    return {
        "tenant_id": str(t.id),
        "user_id": str(t.users["admin"]),
        "key_id": str(t.api_key_id),
        "workflow_id": str(WORKFLOWS[t.id]),
        "version": "1",
        "run_id": str(RUNS[t.id]),
        "approval_id": str(APPROVALS[t.id]),
        "tenant_slug": t.slug,
        "workflow_id_or_name": str(WORKFLOWS[t.id]),
        "form_id": str(FORMS[t.id]),
        "integration_id": str(INTEGRATIONS[t.id]),
        "payment_id": str(PAYMENTS[t.id]),
        "agent_id": str(AGENTS[t.id]),
        "booking_service_id": str(BOOKING_SERVICES[t.id]),
        "staff_id": str(STAFF[t.id]),
        "time_off_id": str(TIME_OFF[t.id]),
        "booking_id": str(BOOKINGS[t.id]),
        "conversation_id": str(CONVERSATIONS[t.id]),
    }


def random_ids() -> dict[str, str]:
    return {name: str(uuid.uuid4()) for name in ID_PARAMS} | {"version": "1"}


def permission(app: FastAPI, method: str, path: str) -> str:
    dependant = next(d for m, p, d in api_routes(app) if (m, p) == (method, path))
    (found,) = permissions_of(dependant)
    return found


def allowed(app: FastAPI, principal: Principal, perm: str) -> bool:
    state: AppState = app.state.smeflow
    obj, _, act = perm.partition(":")
    return state.authorizer.allowed(principal, obj, act)


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    principal: Principal


def callers_of(t: TenantWorld) -> list[Caller]:
    """Every member of ``t`` (one per role) and its admin API key."""
    people = [
        Caller(role, t.user(role), Principal(kind="user", tenant_id=t.id, role=role, user_id=t.users[role]))
        for role in ROLES
    ]
    key = Principal(
        kind="api_key",
        tenant_id=t.id,
        role="admin",
        user_id=None,
        api_key_id=t.api_key_id,
        scopes=frozenset({"*"}),
    )
    return [*people, Caller("api key", t.key(), key)]


def operator_of(world: World) -> Caller:
    principal = Principal(
        kind="user", tenant_id=None, role=None, user_id=world.operator_id, platform_role="operator"
    )
    return Caller("operator", world.operator(), principal)


async def call(
    client: httpx.AsyncClient, method: str, path: str, ids: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    case = CASES[(method, path)]
    return await client.request(
        method, path.format(**ids), json=case.body, params=case.query, headers=headers
    )


def test_every_route_has_a_case(app: FastAPI) -> None:
    routes = {(method, path) for method, path, _ in api_routes(app)}
    assert routes, "no routes found under /api/v1"
    assert routes - set(CASES) == set(), "add these routes to CASES (and so to the cross-tenant matrix)"
    assert set(CASES) - routes == set(), "these CASES name routes that no longer exist"
    for _, path, _ in api_routes(app):
        params = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert params <= set(ID_PARAMS), f"{path}: teach the matrix which resource {params} names"


def test_every_protected_route_declares_a_permission(app: FastAPI) -> None:
    for method, path, dependant in api_routes(app):
        declared = permissions_of(dependant)
        if CASES[(method, path)].public:
            assert declared == set(), f"{method} {path} is public but checks {declared}"
        else:
            assert len(declared) == 1, f"{method} {path} must declare one permission with require(...)"


async def test_no_credentials_is_401_on_every_protected_route(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    ids = ids_of(world.a)
    bad_credentials: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-API-Key": "smf_AAAAAAAAAA_" + "x" * 43},
        {"Authorization": "Bearer smf_nope"},
    ]
    checked = 0
    for method, path, _ in api_routes(app):
        if CASES[(method, path)].public:
            continue
        for headers in bad_credentials:
            response = await call(client, method, path, ids, headers)
            body = assert_problem(response, 401)
            assert body["code"] in ("not_authenticated", "invalid_credentials", "token_invalid"), body
            checked += 1
    assert checked >= 5 * 20
    # and nothing of tenant A changed under those calls
    response = await client.get(f"{API}/tenant", headers=world.a.user("admin"))
    assert response.json()["name"] == world.a.slug


async def test_another_tenants_resources_are_404_never_403(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """B's people and key get, for A's resource ids, exactly what they get for ids that exist
    nowhere: 404 where their role would be allowed in their own tenant, else the 403 of the
    permission check (which does not depend on the id)."""
    a_ids, hidden = ids_of(world.a), set()
    for method, path, _ in api_routes(app):
        if not any(f"{{{p}}}" in path for p in ID_PARAMS) or CASES[(method, path)].public:
            continue
        perm = permission(app, method, path)
        for caller in callers_of(world.b):
            nowhere = await call(client, method, path, random_ids(), caller.headers)
            response = await call(client, method, path, a_ids, caller.headers)
            where = f"{caller.name} of B: {method} {path}"
            if allowed(app, caller.principal, perm):
                body = assert_problem(response, 404, "not_found")
                hidden.add((caller.name, method, path))
            else:
                # operator-only routes (tenants/{tenant_id}): refused whatever the id
                body = assert_problem(response, 403, "permission_denied")
            assert nowhere.status_code == response.status_code, where
            assert nowhere.json()["detail"] == body["detail"], where
    for example in [
        ("viewer", "GET", f"{API}/users/{{user_id}}"),
        ("admin", "PATCH", f"{API}/users/{{user_id}}"),
        ("owner", "DELETE", f"{API}/users/{{user_id}}"),
        ("api key", "DELETE", f"{API}/users/{{user_id}}"),
        ("admin", "GET", f"{API}/api-keys/{{key_id}}"),
        ("api key", "DELETE", f"{API}/api-keys/{{key_id}}"),
        ("viewer", "GET", f"{API}/workflows/{{workflow_id}}"),
        ("viewer", "GET", f"{API}/workflows/{{workflow_id}}/versions/{{version}}"),
        ("viewer", "GET", f"{API}/workflows/{{workflow_id}}/diff"),
        ("admin", "PATCH", f"{API}/workflows/{{workflow_id}}"),
        ("admin", "POST", f"{API}/workflows/{{workflow_id}}/publish"),
        ("api key", "POST", f"{API}/workflows/{{workflow_id}}/archive"),
        ("admin", "POST", f"{API}/workflows/{{workflow_id}}/webhook-secret"),
        ("staff", "POST", f"{API}/workflows/{{workflow_id}}/runs"),
        ("viewer", "GET", f"{API}/runs/{{run_id}}"),
        ("api key", "GET", f"{API}/runs/{{run_id}}/events"),
        ("admin", "POST", f"{API}/runs/{{run_id}}/cancel"),
        ("owner", "POST", f"{API}/runs/{{run_id}}/pause"),
        ("api key", "POST", f"{API}/runs/{{run_id}}/resume"),
        ("admin", "POST", f"{API}/runs/{{run_id}}/retry"),
        ("viewer", "GET", f"{API}/approvals/{{approval_id}}"),
        ("staff", "POST", f"{API}/approvals/{{approval_id}}/decision"),
        ("owner", "POST", f"{API}/approvals/{{approval_id}}/decision"),
        ("api key", "POST", f"{API}/approvals/{{approval_id}}/decision"),
        ("viewer", "GET", f"{API}/forms/{{form_id}}"),
        ("staff", "POST", f"{API}/forms/{{form_id}}/answers"),
        ("api key", "POST", f"{API}/forms/{{form_id}}/answers"),
        ("viewer", "GET", f"{API}/integrations/{{integration_id}}"),
        ("admin", "PATCH", f"{API}/integrations/{{integration_id}}"),
        ("owner", "DELETE", f"{API}/integrations/{{integration_id}}"),
        ("api key", "POST", f"{API}/integrations/{{integration_id}}/check"),
        ("viewer", "GET", f"{API}/payments/{{payment_id}}"),
        ("staff", "POST", f"{API}/payments/{{payment_id}}/check"),
        ("api key", "POST", f"{API}/payments/{{payment_id}}/check"),
        ("viewer", "GET", f"{API}/agents/{{agent_id}}"),
        ("admin", "PATCH", f"{API}/agents/{{agent_id}}"),
        ("owner", "DELETE", f"{API}/agents/{{agent_id}}"),
        ("api key", "POST", f"{API}/agents/{{agent_id}}/try"),
        ("viewer", "GET", f"{API}/booking-services/{{booking_service_id}}"),
        ("admin", "PATCH", f"{API}/booking-services/{{booking_service_id}}"),
        ("viewer", "GET", f"{API}/staff/{{staff_id}}"),
        ("owner", "DELETE", f"{API}/staff/{{staff_id}}"),
        ("api key", "DELETE", f"{API}/time-off/{{time_off_id}}"),
        ("viewer", "GET", f"{API}/bookings/{{booking_id}}"),
        ("staff", "PATCH", f"{API}/bookings/{{booking_id}}"),
        ("staff", "POST", f"{API}/bookings/{{booking_id}}/cancel"),
        ("viewer", "GET", f"{API}/conversations/{{conversation_id}}"),
        ("staff", "POST", f"{API}/conversations/{{conversation_id}}/takeover"),
        ("staff", "POST", f"{API}/conversations/{{conversation_id}}/handback"),
        ("staff", "POST", f"{API}/conversations/{{conversation_id}}/messages"),
        ("api key", "POST", f"{API}/conversations/{{conversation_id}}/messages"),
    ]:
        assert example in hidden

    # A's resources are untouched: the member keeps its role, the key works, the name stays
    admin = world.a.user("admin")
    member = await client.get(f"{API}/users/{world.a.users['admin']}", headers=admin)
    assert member.status_code == 200
    assert member.json()["role"] == "admin"
    key = await client.get(f"{API}/api-keys/{world.a.api_key_id}", headers=world.a.key())
    assert key.status_code == 200
    assert key.json()["revoked_at"] is None
    tenant = await client.get(f"{API}/tenant", headers=admin)
    assert tenant.json()["name"] == world.a.slug
    workflow = await client.get(f"{API}/workflows/{WORKFLOWS[world.a.id]}", headers=admin)
    assert workflow.status_code == 200
    assert (workflow.json()["status"], workflow.json()["latest_version"]) == ("active", 2)
    assert workflow.json()["description"] == "Books salon visits"
    runs = await client.get(f"{API}/runs", headers=admin)
    assert [(r["id"], r["status"]) for r in runs.json()["items"]] == [(str(RUNS[world.a.id]), "queued")]
    approval = await client.get(f"{API}/approvals/{APPROVALS[world.a.id]}", headers=admin)
    assert (approval.json()["status"], approval.json()["decided_by"]) == ("pending", None)
    form = await client.get(f"{API}/forms/{FORMS[world.a.id]}", headers=admin)
    assert (form.json()["status"], form.json()["answers"]) == ("pending", None)
    conversation = await client.get(f"{API}/conversations/{CONVERSATIONS[world.a.id]}", headers=admin)
    assert conversation.status_code == 200, conversation.text
    assert (conversation.json()["mode"], len(conversation.json()["messages"])) == ("bot", 1)
    integration = await client.get(f"{API}/integrations/{INTEGRATIONS[world.a.id]}", headers=admin)
    assert integration.status_code == 200, integration.text
    shown = integration.json()
    assert (shown["name"], shown["status"], shown["checked_at"]) == (
        integration_name(world.a.slug),
        "active",
        None,
    )


async def test_lists_never_show_another_tenants_rows(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.user("admin")
    # some activity in A, so its lists and audit log have rows B could see by mistake
    added = await client.post(
        f"{API}/users", headers=admin, json={"email": "extra@amani-salon.example", "role": "staff"}
    )
    assert added.status_code == 201, added.text
    created = await client.post(f"{API}/api-keys", headers=admin, json={"name": "till", "role": "staff"})
    assert created.status_code == 201, created.text
    patched = await client.patch(f"{API}/tenant", headers=admin, json={"name": "Amani Salon Ltd"})
    assert patched.status_code == 200, patched.text

    a = world.a
    markers = {
        str(a.id),
        a.slug,
        "Amani Salon Ltd",
        "amani-salon.example",
        str(a.api_key_id),
        a.api_key[4:14],  # the key's prefix
        added.json()["user_id"],
        created.json()["id"],
        created.json()["prefix"],
        *(str(u) for u in a.users.values()),
        str(WORKFLOWS[a.id]),
        str(RUNS[a.id]),
        "Achieng",  # the input of A's run
        str(APPROVALS[a.id]),
        approval_title(a.slug),
        f"customer of {a.slug}",
        str(FORMS[a.id]),
        form_title(a.slug),
        f"Special of {a.slug}",
        str(INTEGRATIONS[a.id]),
        integration_name(a.slug),
        str(PAYMENTS[a.id]),
        payment_reference(a.slug),
        f"RCPT-{a.slug}",
        str(AGENTS[a.id]),
        agent_name(a.slug),
        str(BOOKING_SERVICES[a.id]),
        service_name(a.slug),
        str(STAFF[a.id]),
        staff_name(a.slug),
        str(TIME_OFF[a.id]),
        str(BOOKINGS[a.id]),
        customer_name(a.slug),
    }
    listed = 0
    for method, path, _ in api_routes(app):
        if method != "GET" or "{" in path or CASES[(method, path)].public:
            continue
        for caller in callers_of(world.b):
            for query in ({}, {"limit": 200}):
                if query and path.endswith(("/me", "/tenant", "/verify", "/api-keys", "/node-kinds")):
                    continue  # not paginated
                response = await client.get(path, params=query, headers=caller.headers)
                assert response.status_code in (200, 403), (caller.name, path, response.text)
                leaked = {m for m in markers if m in response.text}
                assert not leaked, f"{caller.name} of B sees A's {leaked} in {path}"
                listed += response.status_code == 200
    assert listed >= 10

    # the lists are not empty: B sees its own rows
    own = await client.get(f"{API}/users", headers=world.b.user("viewer"))
    assert {m["email"] for m in own.json()["items"]} == {world.b.email(r) for r in ROLES}
    own_runs = await client.get(f"{API}/runs", headers=world.b.user("viewer"))
    assert [r["id"] for r in own_runs.json()["items"]] == [str(RUNS[world.b.id])]
    own_approvals = await client.get(f"{API}/approvals", headers=world.b.user("viewer"))
    assert [r["id"] for r in own_approvals.json()["items"]] == [str(APPROVALS[world.b.id])]
    own_forms = await client.get(f"{API}/forms", headers=world.b.user("viewer"))
    assert [r["id"] for r in own_forms.json()["items"]] == [str(FORMS[world.b.id])]
    own_integrations = await client.get(f"{API}/integrations", headers=world.b.user("viewer"))
    assert [r["id"] for r in own_integrations.json()["items"]] == [str(INTEGRATIONS[world.b.id])]
    own_payments = await client.get(f"{API}/payments", headers=world.b.user("viewer"))
    assert [r["id"] for r in own_payments.json()["items"]] == [str(PAYMENTS[world.b.id])]
    # and filtering on A's ids finds nothing
    runs = await client.get(
        f"{API}/runs", params={"workflow_id": str(WORKFLOWS[a.id])}, headers=world.b.user("admin")
    )
    assert runs.status_code == 200
    assert runs.json()["items"] == []
    for target in (str(a.id), str(a.users["admin"]), added.json()["user_id"]):
        events = await client.get(
            f"{API}/audit/events", params={"target_id": target}, headers=world.b.user("admin")
        )
        assert events.status_code == 200
        assert events.json()["items"] == []


async def test_too_small_a_role_is_403(
    app: FastAPI, client: httpx.AsyncClient, world: World, db: Database
) -> None:
    a = world.a
    async with db.transaction(DbScope.tenant(a.id)) as session:
        scoped_key, scoped = await create_api_key(
            session, Actor.system(), a.id, "read-only", "admin", ["users:read", "me:read"]
        )
    scoped_principal = Principal(
        kind="api_key",
        tenant_id=a.id,
        role="admin",
        user_id=None,
        api_key_id=scoped.id,
        scopes=frozenset(scoped.scopes),
    )
    callers = [
        *callers_of(a),
        Caller("users:read key", {"X-API-Key": scoped_key}, scoped_principal),
        operator_of(world),
    ]
    ids, refused, served = ids_of(a), set(), set()
    for method, path, _ in api_routes(app):
        case = CASES[(method, path)]
        if case.public:
            continue
        perm = permission(app, method, path)
        for caller in callers:
            if allowed(app, caller.principal, perm):
                if method == "GET":
                    response = await call(client, method, path, ids, caller.headers)
                    assert response.status_code == 200, (caller.name, path, response.text)
                    served.add((caller.name, method, path))
                continue
            response = await call(client, method, path, ids, caller.headers)
            assert_problem(response, 403, "permission_denied")
            refused.add((caller.name, method, path))

    # the examples of the issue, so the matrix cannot silently allow everything
    assert ("viewer", "POST", f"{API}/users") in refused
    assert ("staff", "GET", f"{API}/api-keys") in refused
    assert ("staff", "POST", f"{API}/api-keys") in refused
    assert ("admin", "GET", f"{API}/tenants") in refused
    assert ("owner", "POST", f"{API}/tenants") in refused
    assert ("admin", "PATCH", f"{API}/tenants/{{tenant_id}}") in refused
    assert ("users:read key", "POST", f"{API}/users") in refused
    assert ("users:read key", "GET", f"{API}/audit/events") in refused
    assert ("operator", "GET", f"{API}/users") in refused
    assert ("viewer", "GET", f"{API}/users") in served
    assert ("users:read key", "GET", f"{API}/users") in served
    assert ("operator", "GET", f"{API}/tenants/{{tenant_id}}") in served
    assert ("viewer", "GET", f"{API}/node-kinds") in served
    assert ("viewer", "GET", f"{API}/workflows/{{workflow_id}}/diff") in served
    assert ("viewer", "POST", f"{API}/workflows") in refused
    assert ("staff", "PATCH", f"{API}/workflows/{{workflow_id}}") in refused
    assert ("staff", "POST", f"{API}/workflows/{{workflow_id}}/publish") in refused
    assert ("staff", "POST", f"{API}/workflows/{{workflow_id}}/webhook-secret") in refused
    assert ("users:read key", "GET", f"{API}/workflows") in refused
    assert ("operator", "GET", f"{API}/workflows") in refused
    assert ("viewer", "POST", f"{API}/workflows/{{workflow_id}}/runs") in refused
    assert ("users:read key", "GET", f"{API}/runs") in refused
    assert ("operator", "GET", f"{API}/runs") in refused
    assert ("viewer", "GET", f"{API}/runs/{{run_id}}/events") in served
    for action in ("cancel", "pause", "resume", "retry"):  # run control: admin and above
        assert ("staff", "POST", f"{API}/runs/{{run_id}}/{action}") in refused
        assert ("users:read key", "POST", f"{API}/runs/{{run_id}}/{action}") in refused
        assert ("operator", "POST", f"{API}/runs/{{run_id}}/{action}") in refused
    assert ("viewer", "GET", f"{API}/approvals") in served
    assert ("viewer", "GET", f"{API}/approvals/{{approval_id}}") in served
    assert ("viewer", "POST", f"{API}/approvals/{{approval_id}}/decision") in refused
    assert ("users:read key", "GET", f"{API}/approvals") in refused
    assert ("operator", "POST", f"{API}/approvals/{{approval_id}}/decision") in refused
    assert ("viewer", "GET", f"{API}/forms") in served
    assert ("viewer", "GET", f"{API}/forms/{{form_id}}") in served
    assert ("viewer", "POST", f"{API}/forms/{{form_id}}/answers") in refused
    assert ("users:read key", "GET", f"{API}/forms") in refused
    assert ("operator", "POST", f"{API}/forms/{{form_id}}/answers") in refused
    assert ("staff", "POST", f"{API}/events") in refused
    assert ("users:read key", "POST", f"{API}/events") in refused
    assert ("operator", "POST", f"{API}/events") in refused
    assert ("viewer", "GET", f"{API}/connectors") in served
    assert ("viewer", "GET", f"{API}/integrations/{{integration_id}}") in served
    assert ("staff", "POST", f"{API}/integrations") in refused
    assert ("staff", "PATCH", f"{API}/integrations/{{integration_id}}") in refused
    assert ("viewer", "POST", f"{API}/integrations/{{integration_id}}/check") in refused
    assert ("users:read key", "GET", f"{API}/integrations") in refused
    assert ("operator", "GET", f"{API}/integrations") in refused
    assert ("operator", "GET", f"{API}/connectors") in refused
    assert ("viewer", "GET", f"{API}/availability") in served
    assert ("viewer", "GET", f"{API}/bookings/export.ics") in served
    assert ("viewer", "POST", f"{API}/bookings") in refused
    assert ("staff", "POST", f"{API}/booking-services") in refused
    assert ("staff", "PATCH", f"{API}/staff/{{staff_id}}") in refused
    assert ("staff", "POST", f"{API}/time-off") in refused
    assert ("operator", "GET", f"{API}/bookings") in refused
    assert ("viewer", "GET", f"{API}/conversations/{{conversation_id}}") in served
    assert ("viewer", "POST", f"{API}/conversations/{{conversation_id}}/takeover") in refused
    assert ("viewer", "POST", f"{API}/conversations/{{conversation_id}}/messages") in refused
    assert ("viewer", "PUT", f"{API}/conversation-workflows") in refused
    assert ("operator", "GET", f"{API}/conversations") in refused

    # the refused writes changed nothing
    members = await client.get(f"{API}/users", headers=a.user("admin"))
    assert {m["email"] for m in members.json()["items"]} == {a.email(r) for r in ROLES}
    assert (await client.get(f"{API}/tenant", headers=a.user("admin"))).json()["name"] == a.slug
    listed = await client.get(f"{API}/workflows", headers=a.user("admin"))
    assert [(w["name"], w["status"], w["latest_version"]) for w in listed.json()["items"]] == [
        (WORKFLOW_NAME, "active", 2)
    ]
    runs = await client.get(f"{API}/runs", headers=a.user("admin"))
    assert [r["id"] for r in runs.json()["items"]] == [str(RUNS[a.id])]
    approval = await client.get(f"{API}/approvals/{APPROVALS[a.id]}", headers=a.user("admin"))
    assert approval.json()["status"] == "pending"
    form = await client.get(f"{API}/forms/{FORMS[a.id]}", headers=a.user("admin"))
    assert form.json()["status"] == "pending"
    integration = await client.get(f"{API}/integrations/{INTEGRATIONS[a.id]}", headers=a.user("admin"))
    assert (integration.json()["name"], integration.json()["status"]) == (integration_name(a.slug), "active")


@pytest.mark.parametrize("role", ["viewer", "staff"])
async def test_api_key_cannot_act_above_its_scopes(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    """A key made with a small role is refused what that role may not do."""
    created = await client.post(
        f"{API}/api-keys", headers=world.a.user("admin"), json={"name": role, "role": role}
    )
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    assert (await client.get(f"{API}/users", headers=key)).status_code == 200
    response = await client.post(
        f"{API}/users", headers=key, json={"email": "x@example.com", "role": "viewer"}
    )
    assert_problem(response, 403, "permission_denied")
    assert_problem(await client.get(f"{API}/api-keys", headers=key), 403, "permission_denied")


async def test_an_event_reaches_only_its_own_tenant(
    app: FastAPI, client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    """Both tenants' booking funnels start on ``booking.created``, and A has a run waiting for
    ``payment.succeeded``: B's events start B's funnel only and resume nothing of A."""
    a_admin = world.a.user("admin")
    waiting = await workflow_over_api(client, a_admin, waits_for_payment())
    started = await client.post(f"{API}/workflows/{waiting}/runs", headers=a_admin, json={"input": {}})
    await drain(app)
    waiting_run = started.json()["id"]
    assert (await client.get(f"{API}/runs/{waiting_run}", headers=a_admin)).json()["status"] == "waiting"

    # A payload the funnel's input schema refuses: the event is still taken, the funnel is skipped.
    refused = await client.post(
        f"{API}/events", headers=world.b.user("admin"), json={"name": "booking.created", "payload": {}}
    )
    assert refused.status_code == 202, refused.text
    assert refused.json()["runs_started"] == []
    assert refused.json()["runs_skipped"] == {str(WORKFLOWS[world.b.id]): "input.phone: is required"}

    payload = {"phone": "+2348031234567"}
    for headers in (world.b.user("admin"), world.b.user("owner"), world.b.key()):
        for name in ("booking.created", "payment.succeeded"):
            emitted = await client.post(
                f"{API}/events", headers=headers, json={"name": name, "payload": payload}
            )
            assert emitted.status_code == 202, emitted.text
            assert emitted.json()["runs_resumed"] == []
            if name == "booking.created":
                (run_id,) = emitted.json()["runs_started"]
                run = await client.get(f"{API}/runs/{run_id}", headers=world.b.user("viewer"))
                assert run.json()["workflow_id"] == str(WORKFLOWS[world.b.id])
            else:
                assert emitted.json()["runs_started"] == []
    await drain(app)

    a_runs = (await client.get(f"{API}/runs", headers=a_admin)).json()["items"]
    # A's runs are the two it started itself; the one waiting for a payment still waits.
    assert sorted(r["id"] for r in a_runs) == sorted([str(RUNS[world.a.id]), waiting_run])
    assert [r["status"] for r in a_runs if r["id"] == waiting_run] == ["waiting"]
    assert owner_conn.execute(
        "SELECT count(*) FROM events WHERE tenant_id = %s", (world.a.id,)
    ).fetchone() == (0,)
    assert owner_conn.execute("SELECT count(*) FROM event_deliveries").fetchone() == (0,)
    b_runs = (await client.get(f"{API}/runs", headers=world.b.user("admin"))).json()["items"]
    assert len(b_runs) == 1 + 3  # its own queued run and the three its events started


async def test_webhooks_are_apart(
    app: FastAPI,
    client: httpx.AsyncClient,
    world: World,
    db: Database,
    settings: Settings,
    owner_conn: psycopg.Connection,
) -> None:
    """A tenant's webhook token opens only its own integration: with another tenant's integration
    id it is the 404 of an id that exists nowhere, and stores nothing in either tenant."""
    app.state.smeflow.connectors.register(PaystackLike())
    credentials = {"secret_key": PAYSTACK_SECRET}
    a = await add_integration(db, settings, world.a.id, "paystack_test", credentials=credentials)
    b = await add_integration(db, settings, world.b.id, "paystack_test", credentials=credentials)
    body = charge_success(1)
    headers = {"x-paystack-signature": paystack_signature(PAYSTACK_SECRET, body)}
    base = f"{API}/webhooks/paystack_test"
    nowhere = await client.post(f"{base}/{uuid.uuid4()}/{b.token}", content=body, headers=headers)
    expected = assert_problem(nowhere, 404, "webhook_not_found")["detail"]
    for method in ("POST", "GET"):
        for path in (f"{base}/{a.id}/{b.token}", f"{base}/{b.id}/{a.token}"):
            response = await client.request(
                method, path, content=body if method == "POST" else None, headers=headers
            )
            assert assert_problem(response, 404, "webhook_not_found")["detail"] == expected
            assert a.token not in response.text
            assert b.token not in response.text
    assert owner_conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (0,)
    assert owner_conn.execute("SELECT count(*) FROM inbox_events").fetchone() == (0,)

    own = await client.post(a.path, content=body, headers=headers)
    assert own.status_code == 200, own.text
    rows = owner_conn.execute("SELECT tenant_id, integration_id FROM inbox_events").fetchall()
    assert rows == [(world.a.id, a.id)]
