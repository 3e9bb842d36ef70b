"""Runs over HTTP: a manual run of a published workflow executed by a real worker, its timeline,
the lists and their filters, and what is refused (unpublished, bad input, too small a role); run
control (pause, resume, cancel, retry from the failed step) and the order key.

(Cross-tenant isolation of every run route is in ``test_cross_tenant.py``.)
"""

from __future__ import annotations

import uuid
from typing import Any, get_args

import httpx
import psycopg
from fastapi import FastAPI

from engine.provider import provider
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


# -- run control: cancel, pause, resume, retry (admin and above)


async def started_run(client: httpx.AsyncClient, world: World, workflow_id: str, body: dict[str, Any]) -> str:
    started = await client.post(
        f"{API}/workflows/{workflow_id}/runs", headers=world.a.user("admin"), json=body
    )
    assert started.status_code == 202, started.text
    return str(started.json()["id"])


async def test_pausing_and_resuming_a_run_over_the_api(
    app: FastAPI, client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    workflow_id = await workflow_over_api(client, admin, doubler())
    run_id = await started_run(client, world, workflow_id, {"input": {"amount": 4}})
    url = f"{API}/runs/{run_id}"

    with nothing_written(owner_conn):
        for role in ("staff", "viewer"):
            assert_problem(
                await client.post(f"{url}/pause", headers=world.a.user(role)), 403, "permission_denied"
            )
        body = assert_problem(await client.post(f"{url}/resume", headers=admin), 409, "conflict")
        assert body["detail"] == "Only a paused run can be resumed; this one is queued"
    paused = await client.post(f"{url}/pause", headers=admin)
    assert paused.status_code == 200, paused.text
    run = paused.json()
    assert (run["status"], run["stop_request"], run["stopped_by"]) == (
        "paused",
        None,
        f"user:{world.a.users['admin']}",
    )
    assert run["stopped_at"] is not None
    await drain(app)  # its job finds it paused
    assert (await client.get(url, headers=admin)).json()["status"] == "paused"
    with nothing_written(owner_conn):
        body = assert_problem(await client.post(f"{url}/pause", headers=admin), 409, "conflict")
        assert body["detail"] == "The run is already paused"

    resumed = await client.post(f"{url}/resume", headers=world.a.user("owner"))
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["status"], resumed.json()["stopped_by"]) == ("queued", None)
    await drain(app)
    done = (await client.get(url, headers=admin)).json()
    assert (done["status"], done["output"]) == ("succeeded", {"total": 8})

    with nothing_written(owner_conn):
        body = assert_problem(await client.post(f"{url}/cancel", headers=admin), 409, "conflict")
        assert body["detail"].startswith("The run has already ended (succeeded)")
        body = assert_problem(await client.post(f"{url}/retry", headers=admin), 409, "conflict")
        assert body["detail"] == "Only a failed run can be retried; this one is succeeded"
    audit = await client.get(f"{API}/audit/events", headers=admin, params={"target_id": run_id})
    assert [(e["action"], e["actor_type"]) for e in audit.json()["items"]] == [
        ("run.succeeded", "workflow_run"),
        ("run.resumed", "user"),
        ("run.paused", "user"),
        ("run.started", "user"),
    ]


async def test_cancelling_a_run_over_the_api(
    app: FastAPI, client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    workflow_id = await workflow_over_api(client, world.a.user("admin"), doubler())
    run_id = await started_run(client, world, workflow_id, {"input": {"amount": 4}})
    cancelled = await client.post(f"{API}/runs/{run_id}/cancel", headers=world.a.key())
    assert cancelled.status_code == 200, cancelled.text
    run = cancelled.json()
    assert run["status"] == "cancelled"
    assert run["error"].startswith(f"Cancelled by api_key:{world.a.api_key_id} at ")
    assert run["finished_at"] is not None
    await drain(app)
    got = (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()
    assert (got["status"], got["output"], got["error"]) == ("cancelled", None, run["error"])
    assert (await client.get(f"{API}/runs/{run_id}/events", headers=world.a.user("viewer"))).json()[
        "items"
    ] == []
    listed = await client.get(f"{API}/runs", headers=world.a.user("viewer"), params={"status": "cancelled"})
    assert [r["id"] for r in listed.json()["items"]] == [run_id]


async def test_a_failed_run_is_retried_over_the_api(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    admin = world.a.user("admin")
    with provider() as server:
        server.script("/book", 409, 201)  # refused, then accepted once retried
        definition = doubler()
        definition["nodes"].insert(
            2,
            {
                "id": "book",
                "kind": "action",
                "config": {
                    "action": "http.request",
                    "input": {
                        "url": f"{server.url}/book",
                        "method": "POST",
                        "json": {"total": "=vars.total"},
                    },
                },
            },
        )
        definition["edges"] = [
            {"from": "start", "to": "prep"},
            {"from": "prep", "to": "book"},
            {"from": "book", "to": "done"},
        ]
        workflow_id = await workflow_over_api(client, admin, definition)
        run_id = await started_run(client, world, workflow_id, {"input": {"amount": 5}})
        await drain(app)
        failed = (await client.get(f"{API}/runs/{run_id}", headers=admin)).json()
        assert failed["status"] == "failed"
        assert failed["error"].endswith("refused the request (409)")

        retried = await client.post(f"{API}/runs/{run_id}/retry", headers=admin)
        assert retried.status_code == 200, retried.text
        assert (retried.json()["status"], retried.json()["error"]) == ("queued", None)
        await drain(app)
        calls = server.to("/book")

    done = (await client.get(f"{API}/runs/{run_id}", headers=admin)).json()
    assert (done["status"], done["error"], done["output"]) == ("succeeded", None, {"total": 10})
    assert [call["key"] for call in calls] == [f"{run_id}:book"] * 2
    steps = (await client.get(f"{API}/runs/{run_id}/events", headers=admin)).json()["items"]
    assert [(e["node_id"], e["status"]) for e in steps] == [
        ("start", "succeeded"),
        ("prep", "succeeded"),
        ("book", "failed"),
        ("book", "succeeded"),
        ("done", "succeeded"),
    ]


async def test_an_order_key_is_kept_with_the_run(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    workflow_id = await workflow_over_api(client, world.a.user("admin"), doubler())
    run_id = await started_run(
        client, world, workflow_id, {"input": {"amount": 1}, "order_key": "conversation:9"}
    )
    got = (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()
    assert (got["order_key"], got["stop_request"], got["stopped_by"]) == ("conversation:9", None, None)
    await drain(app)
    assert (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()["status"] == (
        "succeeded"
    )


async def test_bad_control_requests_are_refused_and_write_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    workflow_id = await workflow_over_api(client, admin, doubler())
    runs = f"{API}/workflows/{workflow_id}/runs"
    with nothing_written(owner_conn):
        for body in ({"order_key": ""}, {"order_key": "k" * 201}, {"order_key": 12}, {"order_key": ["a"]}):
            problem = assert_problem(
                await client.post(runs, headers=admin, json=body), 422, "validation_failed"
            )
            assert fields_of(problem) == {"body.order_key"}, body
        for action in ("cancel", "pause", "resume", "retry"):
            problem = assert_problem(
                await client.post(f"{API}/runs/not-a-uuid/{action}", headers=admin), 422, "validation_failed"
            )
            assert fields_of(problem) == {"path.run_id"}
            body = assert_problem(
                await client.post(f"{API}/runs/{uuid.uuid4()}/{action}", headers=admin), 404, "not_found"
            )
            assert body["detail"] == "No such run"
