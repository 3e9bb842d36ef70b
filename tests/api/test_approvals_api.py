"""Human approvals over HTTP: a run waits at an approval step, a person decides through the API, a
real worker resumes the run down the way the decision chose; what is refused (deciding twice, too
small a role, another tenant's approval); a due time passing applies the default outcome.

(Cross-tenant isolation of every approval route is in ``test_cross_tenant.py``.)
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI

from smeflow.api._state import AppState

from .conftest import API, World, assert_problem, fields_of
from .test_runs_api import drain, workflow_over_api


def payout(*, role: str = "admin", timeout: float | None = None, default: str = "reject") -> dict[str, Any]:
    """trigger → approval → (approved) pay / (rejected) refuse: each end says which way it went."""
    config: dict[str, Any] = {
        "title": '="Pay out KES " + string(input.amount)',
        "details": {"Amount": "input.amount", "Customer": "input.customer"},
        "role": role,
        "default_outcome": default,
    }
    if timeout is not None:
        config["timeout"] = timeout
    decision = {
        "decision": "nodes.ok.outcome",
        "by": "nodes.ok.decided_by",
        "comment": "nodes.ok.comment",
    }
    return {
        "schema_version": 1,
        "name": "Payout",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "ok", "kind": "approval", "config": config},
            {"id": "pay", "kind": "end", "config": {"output": decision | {"way": '"pay"'}}},
            {"id": "refuse", "kind": "end", "config": {"output": decision | {"way": '"refuse"'}}},
        ],
        "edges": [
            {"from": "start", "to": "ok"},
            {"from": "ok", "to": "pay", "condition": 'nodes.ok.outcome == "approved"'},
            {"from": "ok", "to": "refuse", "condition": 'nodes.ok.outcome == "rejected"'},
        ],
    }


async def waiting_run(
    app: FastAPI, client: httpx.AsyncClient, world: World, definition: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A run of ``definition`` executed up to its approval: the run id and the pending approval."""
    workflow_id = await workflow_over_api(client, world.a.user("admin"), definition)
    started = await client.post(
        f"{API}/workflows/{workflow_id}/runs",
        headers=world.a.user("staff"),
        json={"input": {"amount": 1500, "customer": "Wanjiru"}},
    )
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    await drain(app)
    run = (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()
    assert (run["status"], run["output"], run["error"]) == ("waiting", None, None)
    listed = await client.get(f"{API}/approvals", headers=world.a.user("viewer"), params={"run_id": run_id})
    assert listed.status_code == 200, listed.text
    (approval,) = listed.json()["items"]
    return run_id, approval


async def test_an_approval_round_trip(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    run_id, approval = await waiting_run(app, client, world, payout())
    assert approval["run_id"] == run_id
    assert (approval["node_id"], approval["title"], approval["role"], approval["status"]) == (
        "ok",
        "Pay out KES 1500",
        "admin",
        "pending",
    )
    assert approval["details"] == {"Amount": 1500, "Customer": "Wanjiru"}
    assert (approval["outcome"], approval["decided_by"], approval["due_at"]) == (None, None, None)
    url = f"{API}/approvals/{approval['id']}"
    assert (await client.get(url, headers=world.a.user("viewer"))).json() == approval

    # a second worker pass changes nothing: the run still waits, still one approval
    await app.state.smeflow.runs.defer_run(world.a.id, uuid.UUID(run_id))
    await drain(app)
    assert (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()[
        "status"
    ] == "waiting"
    assert len((await client.get(f"{API}/approvals", headers=world.a.user("viewer"))).json()["items"]) == 1

    admin = world.a.user("admin")
    decided = await client.post(
        f"{url}/decision", headers=admin, json={"outcome": "approve", "comment": "Receipt checked"}
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["status"], body["outcome"], body["comment"]) == ("approved", "approved", "Receipt checked")
    assert body["decided_by"] == f"user:{world.a.users['admin']}"
    assert body["decided_at"] is not None
    assert (await client.get(f"{API}/runs/{run_id}", headers=admin)).json()["status"] == "queued"

    again = await client.post(f"{url}/decision", headers=world.a.user("owner"), json={"outcome": "reject"})
    assert_problem(again, 409, "conflict")

    await drain(app)
    run = (await client.get(f"{API}/runs/{run_id}", headers=admin)).json()
    assert (run["status"], run["error"]) == ("succeeded", None)
    assert run["output"] == {
        "way": "pay",
        "decision": "approved",
        "by": f"user:{world.a.users['admin']}",
        "comment": "Receipt checked",
    }
    steps = (await client.get(f"{API}/runs/{run_id}/events", headers=admin)).json()["items"]
    assert [(e["node_id"], e["status"]) for e in steps] == [
        ("start", "succeeded"),
        ("ok", "waiting"),
        ("ok", "succeeded"),
        ("pay", "succeeded"),
    ]
    assert steps[2]["output"] == {
        "outcome": "approved",
        "comment": "Receipt checked",
        "decided_by": f"user:{world.a.users['admin']}",
    }

    audit = await client.get(f"{API}/audit/events", headers=admin, params={"target_id": approval["id"]})
    (event,) = audit.json()["items"]
    assert (event["action"], event["actor_type"], event["actor_id"]) == (
        "approval.decided",
        "user",
        str(world.a.users["admin"]),
    )
    assert event["data"] == {
        "run_id": run_id,
        "node_id": "ok",
        "status": "approved",
        "outcome": "approved",
        "comment": "Receipt checked",
    }
    run_audit = await client.get(f"{API}/audit/events", headers=admin, params={"target_id": run_id})
    assert [e["action"] for e in run_audit.json()["items"]] == ["run.succeeded", "run.started"]


async def test_a_rejection_routes_the_other_way(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    run_id, approval = await waiting_run(app, client, world, payout(role="staff"))
    staff = world.a.user("staff")
    decided = await client.post(
        f"{API}/approvals/{approval['id']}/decision", headers=staff, json={"outcome": "reject"}
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["comment"]) == ("rejected", None)
    await drain(app)
    run = (await client.get(f"{API}/runs/{run_id}", headers=staff)).json()
    assert run["status"] == "succeeded"
    assert (run["output"]["way"], run["output"]["decision"]) == ("refuse", "rejected")


async def test_too_small_a_role_cannot_decide(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    run_id, approval = await waiting_run(app, client, world, payout(role="owner"))
    url = f"{API}/approvals/{approval['id']}/decision"
    for role in ("staff", "admin"):
        refused = await client.post(url, headers=world.a.user(role), json={"outcome": "approve"})
        body = assert_problem(refused, 403, "permission_denied")
        assert "owner" in body["detail"]
    assert_problem(
        await client.post(url, headers=world.a.user("viewer"), json={"outcome": "approve"}),
        403,
        "permission_denied",
    )
    # an admin API key is an admin: not enough either
    assert_problem(await client.post(url, headers=world.a.key(), json={"outcome": "approve"}), 403)
    still = (await client.get(f"{API}/approvals/{approval['id']}", headers=world.a.user("viewer"))).json()
    assert (still["status"], still["decided_by"]) == ("pending", None)
    assert (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()[
        "status"
    ] == "waiting"
    owner = await client.post(url, headers=world.a.user("owner"), json={"outcome": "approve"})
    assert owner.status_code == 200, owner.text


async def test_another_tenants_approval_is_404(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    _, approval = await waiting_run(app, client, world, payout(role="staff"))
    url = f"{API}/approvals/{approval['id']}"
    for headers in (world.b.user("owner"), world.b.key()):
        assert_problem(await client.get(url, headers=headers), 404, "not_found")
        refused = await client.post(f"{url}/decision", headers=headers, json={"outcome": "approve"})
        assert_problem(refused, 404, "not_found")
        assert (await client.get(f"{API}/approvals", headers=headers)).json()["items"] == []
    assert (await client.get(url, headers=world.a.user("viewer"))).json()["status"] == "pending"


async def test_bad_decisions_name_the_field(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    _, approval = await waiting_run(app, client, world, payout())
    url = f"{API}/approvals/{approval['id']}/decision"
    admin = world.a.user("admin")
    for body, fields in [
        ({"outcome": "approved"}, {"body.outcome"}),
        ({}, {"body.outcome"}),
        ({"outcome": "approve", "comment": "x" * 2001}, {"body.comment"}),
        ({"outcome": "approve", "by": "me"}, {"body.by"}),
    ]:
        problem = assert_problem(await client.post(url, headers=admin, json=body), 422, "validation_failed")
        assert fields_of(problem) == fields, body
    for params, fields in [({"status": "done"}, {"query.status"}), ({"cursor": "MTIz"}, {"query.cursor"})]:
        problem = assert_problem(await client.get(f"{API}/approvals", headers=admin, params=params), 422)
        assert fields_of(problem) == fields, params


async def test_the_due_time_applies_the_default_outcome(
    app: FastAPI, client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    run_id, approval = await waiting_run(app, client, world, payout(timeout=3600, default="approve"))
    assert approval["due_at"] is not None
    assert approval["default_outcome"] == "approve"
    state: AppState = app.state.smeflow
    await state.runs.sweep()  # not due yet: nothing happens
    assert (await client.get(f"{API}/approvals/{approval['id']}", headers=world.a.user("viewer"))).json()[
        "status"
    ] == "pending"

    # the due time passes (moved behind the application's back, not waited for)
    owner_conn.execute(
        "UPDATE approvals SET due_at = now() - interval '1 second' WHERE id = %s", (approval["id"],)
    )
    await state.runs.sweep()
    expired = (await client.get(f"{API}/approvals/{approval['id']}", headers=world.a.user("viewer"))).json()
    assert (expired["status"], expired["outcome"], expired["decided_by"]) == (
        "expired",
        "approved",
        "system:smeflow",
    )
    late = await client.post(
        f"{API}/approvals/{approval['id']}/decision",
        headers=world.a.user("owner"),
        json={"outcome": "reject"},
    )
    assert_problem(late, 409, "conflict")

    await drain(app)
    run = (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()
    assert run["status"] == "succeeded"
    assert (run["output"]["way"], run["output"]["by"]) == ("pay", "system:smeflow")
    audit = await client.get(
        f"{API}/audit/events", headers=world.a.user("admin"), params={"target_id": approval["id"]}
    )
    (event,) = audit.json()["items"]
    assert (event["action"], event["actor_type"], event["data"]["status"]) == (
        "approval.decided",
        "system",
        "expired",
    )


async def test_the_inbox_lists_pending_first_and_filters(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.user("admin")
    _, a1 = await waiting_run(app, client, world, payout())
    _, a2 = await waiting_run(app, client, world, payout() | {"name": "Second payout"})
    _, a3 = await waiting_run(app, client, world, payout() | {"name": "Third payout"})
    decided = await client.post(
        f"{API}/approvals/{a3['id']}/decision", headers=admin, json={"outcome": "reject"}
    )
    assert decided.status_code == 200, decided.text
    listed = (await client.get(f"{API}/approvals", headers=admin)).json()
    assert [a["id"] for a in listed["items"]] == [a2["id"], a1["id"], a3["id"]]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/approvals", headers=admin, params=params)).json()
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a2["id"], a1["id"], a3["id"]]
    pending = (await client.get(f"{API}/approvals", headers=admin, params={"status": "pending"})).json()
    assert [a["id"] for a in pending["items"]] == [a2["id"], a1["id"]]
    rejected = (await client.get(f"{API}/approvals", headers=admin, params={"status": "rejected"})).json()
    assert [a["id"] for a in rejected["items"]] == [a3["id"]]


async def test_an_ended_runs_approval_expires_without_queueing_it(
    app: FastAPI, client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    run_id, approval = await waiting_run(app, client, world, payout(timeout=0.2))
    owner_conn.execute("UPDATE runs SET status = 'cancelled' WHERE id = %s", (run_id,))
    url = f"{API}/approvals/{approval['id']}"
    refused = await client.post(f"{url}/decision", headers=world.a.user("admin"), json={"outcome": "approve"})
    body = assert_problem(refused, 409, "conflict")
    assert "ended" in body["detail"]
    await asyncio.sleep(0.3)
    await app.state.smeflow.runs.sweep()
    expired = (await client.get(url, headers=world.a.user("viewer"))).json()
    assert (expired["status"], expired["outcome"]) == ("expired", "rejected")
    assert (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()[
        "status"
    ] == "cancelled"
