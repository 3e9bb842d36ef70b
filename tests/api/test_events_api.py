"""Events over HTTP: an admin emits an event, a real worker runs the workflows it triggers and
resumes the runs waiting for it; a key is accepted once; too small a role and a bad body are
refused clearly and write nothing.

(Cross-tenant isolation of the route is in ``test_cross_tenant.py``.)
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
from fastapi import FastAPI

from .conftest import API, World, assert_problem, fields_of
from .test_bad_input import nothing_written
from .test_runs_api import drain, workflow_over_api


def welcome() -> dict[str, Any]:
    """Started by ``booking.created``: greets the booking's customer."""
    return {
        "schema_version": 1,
        "name": "Welcome",
        "triggers": [{"kind": "event", "event": "booking.created"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "done", "kind": "end", "config": {"output": {"hello": '"Karibu " + input.customer'}}},
        ],
        "edges": [{"from": "start", "to": "done"}],
    }


def waits_for_payment(match: str | None = None) -> dict[str, Any]:
    """Started by hand: waits for ``payment.succeeded`` (matching ``match``), ends with its amount."""
    return {
        "schema_version": 1,
        "name": "Deposit",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "paid",
                "kind": "wait",
                "config": {"event": {"name": "payment.succeeded", "match": match}},
            },
            {
                "id": "done",
                "kind": "end",
                "config": {"output": {"amount": "nodes.paid.event.payload.amount"}},
            },
        ],
        "edges": [{"from": "start", "to": "paid"}, {"from": "paid", "to": "done"}],
    }


async def test_an_event_starts_and_resumes_runs(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    admin, viewer = world.a.user("admin"), world.a.user("viewer")
    await workflow_over_api(client, admin, welcome())
    deposit_id = await workflow_over_api(client, admin, waits_for_payment("event.booking == input.booking"))
    started = await client.post(
        f"{API}/workflows/{deposit_id}/runs",
        headers=world.a.user("staff"),
        json={"input": {"booking": "B-17"}},
    )
    waiting_id = started.json()["id"]
    await drain(app)
    assert (await client.get(f"{API}/runs/{waiting_id}", headers=viewer)).json()["status"] == "waiting"

    emitted = await client.post(
        f"{API}/events", headers=admin, json={"name": "booking.created", "payload": {"customer": "Wanjiru"}}
    )
    assert emitted.status_code == 202, emitted.text
    body = emitted.json()
    assert (body["name"], body["payload"], body["key"], body["duplicate"]) == (
        "booking.created",
        {"customer": "Wanjiru"},
        None,
        False,
    )
    assert body["created_by"] == f"user:{world.a.users['admin']}"
    assert body["runs_resumed"] == []
    (run_id,) = body["runs_started"]

    paid = await client.post(
        f"{API}/events",
        headers=world.a.key(),
        json={"name": "payment.succeeded", "payload": {"booking": "B-17", "amount": 150000}, "key": "QK7"},
    )
    assert paid.status_code == 202, paid.text
    assert (paid.json()["runs_started"], paid.json()["runs_resumed"]) == ([], [waiting_id])
    again = await client.post(
        f"{API}/events",
        headers=world.a.key(),
        json={"name": "payment.succeeded", "payload": {"booking": "B-17", "amount": 1}, "key": "QK7"},
    )
    assert again.status_code == 202, again.text
    assert (again.json()["id"], again.json()["duplicate"]) == (paid.json()["id"], True)
    assert again.json()["payload"] == {"booking": "B-17", "amount": 150000}
    await drain(app)

    run = (await client.get(f"{API}/runs/{run_id}", headers=viewer)).json()
    assert (run["status"], run["output"], run["created_by"]) == (
        "succeeded",
        {"hello": "Karibu Wanjiru"},
        "event:booking.created",
    )
    resumed = (await client.get(f"{API}/runs/{waiting_id}", headers=viewer)).json()
    assert (resumed["status"], resumed["output"]) == ("succeeded", {"amount": 150000})
    steps = (await client.get(f"{API}/runs/{waiting_id}/events", headers=viewer)).json()["items"]
    assert steps[2]["node_id"] == "paid"
    assert steps[2]["output"]["event"]["payload"] == {"booking": "B-17", "amount": 150000}

    audit = await client.get(f"{API}/audit/events", headers=admin, params={"target_id": paid.json()["id"]})
    (event,) = audit.json()["items"]
    assert (event["action"], event["actor_type"]) == ("event.emitted", "api_key")
    assert event["data"] == {
        "name": "payment.succeeded",
        "key": "QK7",
        "runs_started": [],
        "runs_resumed": [waiting_id],
    }


async def test_what_is_refused_writes_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    # one test for all cases (the world costs seconds to build)
    for role in ("viewer", "staff"):
        with nothing_written(owner_conn):
            refused = await client.post(
                f"{API}/events", headers=world.a.user(role), json={"name": "booking.created"}
            )
        assert_problem(refused, 403, "permission_denied")

    admin = world.a.user("admin") | {"Content-Type": "application/json"}
    cases: list[tuple[str, set[str]]] = [
        ("{}", {"body.name"}),
        ('{"name": "booking created"}', {"body.name"}),
        ('{"name": ".created"}', {"body.name"}),
        ('{"name": 42}', {"body.name"}),
        ('{"name": "' + "a" * 129 + '"}', {"body.name"}),
        ('{"name": "booking.created", "payload": [1, 2]}', {"body.payload"}),
        ('{"name": "booking.created", "payload": "text"}', {"body.payload"}),
        ('{"name": "booking.created", "payload": {"amount": NaN}}', {"body.payload"}),
        ('{"name": "booking.created", "payload": {"note": "nul \\u0000"}}', {"body.payload"}),
        ('{"name": "booking.created", "key": ""}', {"body.key"}),
        ('{"name": "booking.created", "key": "' + "k" * 201 + '"}', {"body.key"}),
        ('{"name": "booking.created", "tenant_id": "someone else"}', {"body.tenant_id"}),
    ]
    for content, fields in cases:
        with nothing_written(owner_conn):
            response = await client.post(f"{API}/events", headers=admin, content=content)
        problem = assert_problem(response, 422, "validation_failed")
        assert fields <= fields_of(problem), (content, problem)
    with nothing_written(owner_conn):
        unreadable = await client.post(f"{API}/events", headers=admin, content='{"name": ')
    assert unreadable.status_code in (400, 422), unreadable.text

    for role in ("admin", "owner"):  # and admins and owners may
        allowed = await client.post(
            f"{API}/events", headers=world.a.user(role), json={"name": "booking.created"}
        )
        assert allowed.status_code == 202, allowed.text
        assert allowed.json()["payload"] == {}
