"""Agents over the API: create, change, refuse what the tenant's policy or the agent's type does
not allow (and store nothing), ask one, and read usage."""

from __future__ import annotations

import httpx
import pytest

from api.conftest import API, World, assert_problem, fields_of
from smeflow.db import Database, DbScope
from smeflow.tenancy.models import Tenant


async def _allow(db: Database, world: World, *providers: str) -> None:
    async with db.transaction(DbScope.platform()) as session:
        tenant = await session.get(Tenant, world.a.id)
        assert tenant is not None
        tenant.residency = dict(tenant.residency) | {"llm_providers": ["offline", *providers]}


async def _count(client: httpx.AsyncClient, world: World) -> int:
    listed = await client.get(f"{API}/agents", headers=world.a.user("viewer"))
    assert listed.status_code == 200, listed.text
    return len(listed.json())


async def test_create_change_and_delete_an_agent(client: httpx.AsyncClient, world: World) -> None:
    admin = world.a.user("admin")
    body = {"name": "Receptionist", "type": "automator", "config": {"languages": ["sw", "en"]}}
    created = await client.post(f"{API}/agents", headers=admin, json=body)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert (agent["name"], agent["type"], agent["status"], agent["config"]["model"]) == (
        "Receptionist",
        "automator",
        "active",
        "offline",
    )
    again = await client.post(f"{API}/agents", headers=admin, json=body)
    assert fields_of(assert_problem(again, 409, "conflict")) == {"body.name"}

    changed = await client.patch(f"{API}/agents/{agent['id']}", headers=admin, json={"status": "disabled"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "disabled"
    staff = await client.patch(f"{API}/agents/{agent['id']}", headers=world.a.user("staff"), json={})
    assert_problem(staff, 403, "permission_denied")

    events = await client.get(f"{API}/audit/events", params={"target_id": agent["id"]}, headers=admin)
    assert [e["action"] for e in events.json()["items"]] == ["agent.updated", "agent.created"]

    gone = await client.delete(f"{API}/agents/{agent['id']}", headers=admin)
    assert gone.status_code == 204
    assert_problem(await client.get(f"{API}/agents/{agent['id']}", headers=admin), 404, "not_found")


async def test_a_provider_the_residency_policy_forbids_is_refused(
    client: httpx.AsyncClient, world: World, db: Database
) -> None:
    admin = world.a.user("admin")
    body = {"name": "Clever", "type": "automator", "config": {"model": "openai:gpt-4o-mini"}}
    refused = await client.post(f"{API}/agents", headers=admin, json=body)
    problem = assert_problem(refused, 422, "validation_failed")
    assert fields_of(problem) == {"body.config.model"}
    assert "residency policy does not allow the provider 'openai'" in problem["detail"]
    assert await _count(client, world) == 0

    await _allow(db, world, "openai")
    allowed = await client.post(f"{API}/agents", headers=admin, json=body)
    assert allowed.status_code == 201, allowed.text
    other = {"name": "Claude", "type": "mentor", "config": {"model": "anthropic:claude-3-5-haiku-latest"}}
    assert_problem(await client.post(f"{API}/agents", headers=admin, json=other), 422, "validation_failed")
    unknown = {"name": "Who", "type": "mentor", "config": {"model": "acme:large"}}
    problem = assert_problem(await client.post(f"{API}/agents", headers=admin, json=unknown), 422)
    assert fields_of(problem) == {"body.config.model"}
    assert await _count(client, world) == 1


async def test_a_mentor_may_not_change_anything_and_routes_must_exist(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.user("admin")
    writes = {"name": "Advisor", "type": "mentor", "config": {"tools": ["http.request", "core.log"]}}
    problem = assert_problem(await client.post(f"{API}/agents", headers=admin, json=writes), 422)
    assert fields_of(problem) == {"body.config.tools[0]"}
    assert "a mentor only advises" in problem["detail"]
    unknown = {"name": "Doer", "type": "automator", "config": {"tools": ["nope.nothing"]}}
    problem = assert_problem(await client.post(f"{API}/agents", headers=admin, json=unknown), 422)
    assert fields_of(problem) == {"body.config.tools[0]"}

    lonely = {"name": "Boss", "type": "supervisor", "config": {"routes": {"book": "Booker"}}}
    problem = assert_problem(await client.post(f"{API}/agents", headers=admin, json=lonely), 422)
    assert "no agent named 'Booker'" in problem["detail"]
    booker = {"name": "Booker", "type": "automator"}
    assert (await client.post(f"{API}/agents", headers=admin, json=booker)).status_code == 201
    routed = await client.post(f"{API}/agents", headers=admin, json=lonely)
    assert routed.status_code == 201, routed.text
    not_supervisor = {"name": "Other", "type": "automator", "config": {"routes": {"book": "Booker"}}}
    assert_problem(await client.post(f"{API}/agents", headers=admin, json=not_supervisor), 422)
    assert await _count(client, world) == 2


@pytest.mark.parametrize(
    ("text", "intent", "language"),
    [("Habari, nataka kupanga miadi kesho saa nne asubuhi", "book", "sw"), ("STOP", "opt_out", None)],
)
async def test_ask_an_offline_agent(
    client: httpx.AsyncClient, world: World, text: str, intent: str, language: str | None
) -> None:
    admin = world.a.user("admin")
    body = {"name": "Receptionist", "type": "automator", "config": {"languages": ["sw", "en"]}}
    agent = (await client.post(f"{API}/agents", headers=admin, json=body)).json()
    answered = await client.post(f"{API}/agents/{agent['id']}/try", headers=admin, json={"text": text})
    assert answered.status_code == 200, answered.text
    result = answered.json()
    assert result["output"]["intent"] == intent
    assert result["output"]["mode"] == "offline"
    assert result["output"]["reply"]
    if language:
        assert result["output"]["language"] == language
    assert (result["cost_micros"], result["model"]) == (0, "offline")


async def test_usage_starts_empty_and_checks_its_period(client: httpx.AsyncClient, world: World) -> None:
    viewer = world.a.user("viewer")
    usage = await client.get(f"{API}/usage", headers=viewer)
    assert usage.status_code == 200, usage.text
    report = usage.json()
    assert report["total"]["calls"] == 0
    assert report["currency"] == "KES"
    assert report["budget_micros"] == 200_000_000  # the business tier's
    backwards = await client.get(
        f"{API}/usage", params={"since": "2026-12-02", "until": "2026-12-01"}, headers=viewer
    )
    assert fields_of(assert_problem(backwards, 422)) == {"query.since"}


async def test_a_supervisor_routes_by_intent_and_escalates_what_it_cannot_place(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.user("admin")
    for name in ("Booker", "Concierge"):
        body = {"name": name, "type": "automator" if name == "Booker" else "mentor"}
        assert (await client.post(f"{API}/agents", headers=admin, json=body)).status_code == 201
    boss = {
        "name": "Front desk",
        "type": "supervisor",
        "config": {"routes": {"book": "Booker", "reschedule": "Booker"}, "default_route": "Concierge"},
    }
    supervisor = (await client.post(f"{API}/agents", headers=admin, json=boss)).json()

    async def ask(text: str) -> dict[str, object]:
        answered = await client.post(
            f"{API}/agents/{supervisor['id']}/try", headers=admin, json={"text": text}
        )
        assert answered.status_code == 200, answered.text
        output: dict[str, object] = answered.json()["output"]
        return output

    booked = await ask("I want to book a haircut tomorrow at 10")
    assert (booked["routed_to"], booked["route_intent"], booked["agent"]) == ("Booker", "book", "Booker")
    asked = await ask("How much is a manicure?")
    assert (asked["routed_to"], asked["agent"]) == ("Concierge", "Concierge")
    unclear = await ask("The capital of France is Paris")
    assert (unclear["routed_to"], unclear["escalate"]) == (None, True)
