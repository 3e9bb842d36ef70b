"""Runs over HTTP: a manual run of a published workflow executed by a real worker, its timeline,
the lists and their filters, and what is refused (unpublished, bad input, too small a role).

(Cross-tenant isolation of every run route is in ``test_cross_tenant.py``.)
"""

from __future__ import annotations

from typing import Any, get_args

import httpx
import psycopg
from fastapi import FastAPI

from smeflow.api._state import AppState
from smeflow.engine.run_models import RUN_STATUSES
from smeflow.engine.schemas import RunStatus

from .conftest import API, World, assert_problem, fields_of
from .test_bad_input import nothing_written


def doubler() -> dict[str, Any]:
    """trigger → core.set → end: the run's output is twice its input's amount."""
    return {
        "schema_version": 1,
        "name": "Doubler",
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {
                "id": "prep",
                "kind": "action",
                "config": {"action": "core.set", "input": {"total": "=input.amount * 2"}},
            },
            {"id": "done", "kind": "end", "config": {"output": {"total": "vars.total"}}},
        ],
        "edges": [{"from": "start", "to": "prep"}, {"from": "prep", "to": "done"}],
    }


async def workflow_over_api(
    client: httpx.AsyncClient, headers: dict[str, str], definition: dict[str, Any], *, publish: bool = True
) -> str:
    created = await client.post(
        f"{API}/workflows", headers=headers, json={"name": definition["name"], "definition": definition}
    )
    assert created.status_code == 201, created.text
    workflow_id = str(created.json()["id"])
    if publish:
        published = await client.post(f"{API}/workflows/{workflow_id}/publish", headers=headers)
        assert published.status_code == 201, published.text
    return workflow_id


async def drain(app: FastAPI) -> None:
    """Execute every queued job with a real procrastinate worker, then return."""
    state: AppState = app.state.smeflow
    await state.runs.wait_deferred()
    await state.runs.run_worker(wait=False)


def test_the_status_filter_knows_every_run_status() -> None:
    assert get_args(RunStatus) == RUN_STATUSES


async def test_a_manual_run_over_the_api(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    workflow_id = await workflow_over_api(client, world.a.user("admin"), doubler())
    staff, viewer = world.a.user("staff"), world.a.user("viewer")

    started = await client.post(
        f"{API}/workflows/{workflow_id}/runs", headers=staff, json={"input": {"amount": 21}}
    )
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["workflow_id"], run["version"], run["status"], run["input"], run["output"]) == (
        workflow_id,
        1,
        "queued",
        {"amount": 21},
        None,
    )
    assert run["created_by"] == f"user:{world.a.users['staff']}"
    url = f"{API}/runs/{run['id']}"
    # no worker runs in the tests' app: the run waits in the queue
    assert (await client.get(url, headers=viewer)).json()["status"] == "queued"

    await drain(app)

    got = await client.get(url, headers=viewer)
    assert got.status_code == 200, got.text
    done = got.json()
    assert (done["status"], done["output"], done["error"]) == ("succeeded", {"total": 42}, None)
    assert done["started_at"] is not None
    assert done["finished_at"] is not None
    timeline = await client.get(f"{url}/events", headers=viewer)
    assert timeline.status_code == 200, timeline.text
    assert timeline.json()["run_id"] == run["id"]
    steps = timeline.json()["items"]
    assert [(e["node_id"], e["kind"], e["status"]) for e in steps] == [
        ("start", "trigger", "succeeded"),
        ("prep", "action", "succeeded"),
        ("done", "end", "succeeded"),
    ]
    assert [e["seq"] for e in steps] == sorted(e["seq"] for e in steps)
    assert len({e["seq"] for e in steps}) == 3

    # the start and the end are audited against the run (newest first)
    audit = await client.get(
        f"{API}/audit/events", headers=world.a.user("admin"), params={"target_id": run["id"]}
    )
    assert [e["action"] for e in audit.json()["items"]] == ["run.succeeded", "run.started"]


async def test_listing_runs_newest_first_with_filters_and_pages(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.user("admin")
    doubling = await workflow_over_api(client, admin, doubler())
    other = doubler() | {"name": "Other"}
    second = await workflow_over_api(client, admin, other)
    ids = []
    for workflow_id, amount in [(doubling, 1), (second, 2), (doubling, 3)]:
        started = await client.post(
            f"{API}/workflows/{workflow_id}/runs",
            headers=admin,
            json={"input": {"amount": amount}, "version": 1},
        )
        assert started.status_code == 202, started.text
        ids.append(started.json()["id"])
    await drain(app)
    queued = await client.post(f"{API}/workflows/{doubling}/runs", headers=admin, json={})
    assert queued.status_code == 202, queued.text
    assert queued.json()["input"] == {}
    ids.append(queued.json()["id"])

    viewer = world.a.user("viewer")
    listed = (await client.get(f"{API}/runs", headers=viewer)).json()
    assert [r["id"] for r in listed["items"]] == ids[::-1]
    assert listed["next_cursor"] is None
    assert "input" not in listed["items"][0]
    assert "output" not in listed["items"][0]

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(f"{API}/runs", headers=viewer, params=params)).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]

    by_workflow = (await client.get(f"{API}/runs", headers=viewer, params={"workflow_id": second})).json()
    assert [r["id"] for r in by_workflow["items"]] == [ids[1]]
    by_status = (await client.get(f"{API}/runs", headers=viewer, params={"status": "succeeded"})).json()
    assert [r["id"] for r in by_status["items"]] == ids[2::-1]
    both = {"status": "queued", "workflow_id": doubling}
    assert [
        r["id"] for r in (await client.get(f"{API}/runs", headers=viewer, params=both)).json()["items"]
    ] == [ids[3]]


async def test_an_unpublished_workflow_cannot_run(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    workflow_id = await workflow_over_api(client, admin, doubler(), publish=False)
    with nothing_written(owner_conn):
        response = await client.post(f"{API}/workflows/{workflow_id}/runs", headers=admin, json={"input": {}})
        body = assert_problem(response, 409, "conflict")
        assert "published" in body["detail"]
    assert (await client.get(f"{API}/runs", headers=admin)).json()["items"] == []


async def test_an_unknown_version_is_404(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    workflow_id = await workflow_over_api(client, admin, doubler())
    with nothing_written(owner_conn):
        response = await client.post(
            f"{API}/workflows/{workflow_id}/runs", headers=admin, json={"input": {}, "version": 2}
        )
        assert_problem(response, 404, "not_found")


async def test_bad_input_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    workflow_id = await workflow_over_api(client, admin, doubler())
    runs = f"{API}/workflows/{workflow_id}/runs"
    writes: list[tuple[str, Any, set[str]]] = [
        (runs, {"input": {}, "priority": "high"}, {"body.priority"}),
        (runs, {"input": [1, 2]}, {"body.input"}),
        (runs, {"input": "amount=2"}, {"body.input"}),
        (runs, {"input": None}, {"body.input"}),
        (runs, {"input": {}, "version": 0}, {"body.version"}),
        (runs, {"input": {}, "version": "latest"}, {"body.version"}),
        (runs, {"input": {}, "version": 2**31}, {"body.version"}),
        (runs, [{"input": {}}], {"body"}),
        (f"{API}/workflows/not-a-uuid/runs", {"input": {}}, {"path.workflow_id"}),
    ]
    with nothing_written(owner_conn):
        for path, body, fields in writes:
            response = await client.post(path, headers=admin, json=body)
            problem = assert_problem(response, 422, "validation_failed")
            assert fields_of(problem) == fields, (path, body, problem)
    reads: list[tuple[str, dict[str, Any], set[str]]] = [
        (f"{API}/runs/not-a-uuid", {}, {"path.run_id"}),
        (f"{API}/runs/12345/events", {}, {"path.run_id"}),
        (f"{API}/runs", {"workflow_id": "nope"}, {"query.workflow_id"}),
        (f"{API}/runs", {"status": "done"}, {"query.status"}),
        (f"{API}/runs", {"cursor": "!!"}, {"query.cursor"}),
        (f"{API}/runs", {"cursor": "MTIz"}, {"query.cursor"}),  # a cursor of 123
        (f"{API}/runs", {"cursor": "Im5vcGUi"}, {"query.cursor"}),  # a cursor of "nope"
    ]
    for path, params, fields in reads:
        response = await client.get(path, headers=admin, params=params)
        problem = assert_problem(response, 422)
        assert fields_of(problem) == fields, (path, params, problem)


async def test_a_viewer_cannot_start_a_run(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    workflow_id = await workflow_over_api(client, world.a.user("admin"), doubler())
    with nothing_written(owner_conn):
        response = await client.post(
            f"{API}/workflows/{workflow_id}/runs",
            headers=world.a.user("viewer"),
            json={"input": {"amount": 1}},
        )
        assert_problem(response, 403, "permission_denied")
