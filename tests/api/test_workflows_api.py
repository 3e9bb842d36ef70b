"""Workflows over HTTP: the builder's round trip, who may do what, and bad input.

(Cross-tenant isolation of every workflow route is in ``test_cross_tenant.py``.)
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from engine.salon import salon
from smeflow.engine.definitions import NODE_KINDS, validate_definition

from .conftest import API, World, assert_problem, fields_of
from .test_bad_input import nothing_written


def broken() -> dict[str, Any]:
    definition = salon()
    definition["nodes"][2]["config"]["default"] = "nowhere"
    definition["edges"].append({"from": "start", "to": "ghost"})
    return definition


async def test_builder_round_trip(client: httpx.AsyncClient, world: World) -> None:
    admin = world.a.user("admin")
    # a new workflow starts as an invalid draft, saved anyway, with its problems
    created = await client.post(
        f"{API}/workflows", headers=admin, json={"name": "Salon booking", "description": "Books visits"}
    )
    assert created.status_code == 201, created.text
    workflow = created.json()
    url = f"{API}/workflows/{workflow['id']}"
    assert (workflow["status"], workflow["latest_version"], workflow["definition"]) == ("draft", None, {})
    assert {p["path"] for p in workflow["problems"]} >= {"schema_version", "nodes", "edges"}
    assert workflow["created_by"] == f"user:{world.a.users['admin']}"

    # the builder saves a valid draft, then publishes it
    saved = await client.patch(url, headers=admin, json={"definition": salon()})
    assert saved.status_code == 200, saved.text
    assert (saved.json()["problems"], saved.json()["definition"]) == ([], salon())
    first = await client.post(f"{url}/publish", headers=admin, json={"note": "opening day"})
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["note"], first.json()["definition"]) == (
        1,
        "opening day",
        salon(),
    )

    # a second version, published by an API key without a note
    changed = salon()
    changed["nodes"][4]["config"]["duration"] = 1800
    assert (await client.patch(url, headers=admin, json={"definition": changed})).status_code == 200
    second = await client.post(f"{url}/publish", headers=world.a.key())
    assert second.status_code == 201, second.text
    assert (second.json()["version"], second.json()["published_by"]) == (2, f"api_key:{world.a.api_key_id}")

    # reading: the workflow, the list, the versions, one version, the diff
    viewer = world.a.user("viewer")
    got = (await client.get(url, headers=viewer)).json()
    assert (got["status"], got["latest_version"], got["definition"], got["problems"]) == (
        "active",
        2,
        changed,
        [],
    )
    listed = (await client.get(f"{API}/workflows", headers=viewer)).json()
    assert [(w["name"], w["latest_version"]) for w in listed["items"]] == [("Salon booking", 2)]
    assert "definition" not in listed["items"][0]
    versions = (await client.get(f"{url}/versions", headers=viewer)).json()
    assert [(v["version"], v["note"]) for v in versions["items"]] == [(2, ""), (1, "opening day")]
    assert "definition" not in versions["items"][0]
    page = (await client.get(f"{url}/versions", params={"limit": 1}, headers=viewer)).json()
    rest = (
        await client.get(
            f"{url}/versions", params={"limit": 1, "cursor": page["next_cursor"]}, headers=viewer
        )
    ).json()
    assert [v["version"] for v in page["items"] + rest["items"]] == [2, 1]
    assert rest["next_cursor"] is None
    one = (await client.get(f"{url}/versions/1", headers=viewer)).json()
    assert one["definition"] == salon()
    diff = await client.get(f"{url}/diff", params={"from": 1, "to": 2}, headers=viewer)
    assert diff.status_code == 200, diff.text
    assert diff.json() == {
        "workflow_id": workflow["id"],
        "from_version": 1,
        "to_version": 2,
        "changes": [
            {
                "change": "node_changed",
                "id": "hold",
                "changes": [{"path": "config.duration", "before": 900, "after": 1800}],
            }
        ],
    }
    assert_problem(await client.get(f"{url}/versions/3", headers=viewer), 404, "not_found")

    # archived: readable, but no more edits or publishes
    archived = await client.post(f"{url}/archive", headers=admin)
    assert (archived.status_code, archived.json()["status"]) == (200, "archived")
    assert_problem(await client.post(f"{url}/publish", headers=admin), 409, "conflict")
    assert_problem(await client.patch(url, headers=admin, json={"name": "Again"}), 409, "conflict")
    assert (await client.get(f"{url}/versions/2", headers=viewer)).status_code == 200

    # every change is in the audit log
    events = (
        await client.get(f"{API}/audit/events", params={"target_id": workflow["id"]}, headers=admin)
    ).json()
    assert [e["action"] for e in reversed(events["items"])] == [
        "workflow.created",
        "workflow.updated",
        "workflow.published",
        "workflow.updated",
        "workflow.published",
        "workflow.archived",
    ]


async def test_node_kinds_for_the_builder(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{API}/node-kinds", headers=world.a.user("viewer"))
    assert response.status_code == 200, response.text
    kinds = response.json()["kinds"]
    assert set(kinds) == set(NODE_KINDS)
    assert all(isinstance(schema, dict) and schema for schema in kinds.values())


async def test_viewer_reads_but_does_not_write(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin, viewer, staff = world.a.user("admin"), world.a.user("viewer"), world.a.user("staff")
    created = await client.post(
        f"{API}/workflows", headers=admin, json={"name": "Flow", "definition": salon()}
    )
    url = f"{API}/workflows/{created.json()['id']}"
    assert (await client.post(f"{url}/publish", headers=admin)).status_code == 201
    for headers in (viewer, staff):
        assert (await client.get(url, headers=headers)).status_code == 200
        assert (await client.get(f"{url}/versions/1", headers=headers)).status_code == 200
        with nothing_written(owner_conn):
            for method, path, body in (
                ("POST", f"{API}/workflows", {"name": "Mine"}),
                ("PATCH", url, {"name": "Mine"}),
                ("POST", f"{url}/publish", None),
                ("POST", f"{url}/archive", None),
            ):
                response = await client.request(method, path, json=body, headers=headers)
                assert_problem(response, 403, "permission_denied")


async def test_publishing_an_invalid_draft_names_every_problem(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    created = await client.post(
        f"{API}/workflows", headers=admin, json={"name": "Flow", "definition": broken()}
    )
    assert created.status_code == 201
    problems = created.json()["problems"]
    assert problems == [
        {"path": p.path, "code": p.code, "message": p.message} for p in validate_definition(broken())
    ]
    assert len(problems) >= 2
    with nothing_written(owner_conn):
        response = await client.post(f"{API}/workflows/{created.json()['id']}/publish", headers=admin)
    body = assert_problem(response, 422, "validation_failed")
    assert [(e["field"], e["code"], e["message"]) for e in body["errors"]] == [
        (f"definition.{p['path']}", p["code"], p["message"]) for p in problems
    ]


# (method, path, body, the fields the problem must name); {wf} is a workflow of tenant A
BAD: list[tuple[str, str, Any, set[str]]] = [
    ("POST", "/workflows", {}, {"body.name"}),
    ("POST", "/workflows", {"name": "   "}, {"body.name"}),
    ("POST", "/workflows", {"name": "x" * 201}, {"body.name"}),
    ("POST", "/workflows", {"name": "X", "definition": ["a list"]}, {"body.definition"}),
    ("POST", "/workflows", {"name": "X", "definition": {"a": "nul\u0000"}}, {"body.definition"}),
    ("POST", "/workflows", {"name": "X", "description": "d" * 2001}, {"body.description"}),
    ("POST", "/workflows", {"name": "X", "status": "active"}, {"body.status"}),
    ("PATCH", "/workflows/{wf}", {"definition": "text"}, {"body.definition"}),
    ("PATCH", "/workflows/{wf}", {"latest_version": 7}, {"body.latest_version"}),
    ("PATCH", "/workflows/not-a-uuid", {"name": "X"}, {"path.workflow_id"}),
    ("POST", "/workflows/{wf}/publish", {"note": "n" * 1001}, {"body.note"}),
    ("POST", "/workflows/{wf}/publish", {"version": 9}, {"body.version"}),
    ("GET", "/workflows/{wf}/versions/0", None, {"path.version"}),
    ("GET", "/workflows/{wf}/versions/latest", None, {"path.version"}),
    ("GET", "/workflows/{wf}/diff", None, {"query.from", "query.to"}),
    ("GET", "/workflows/{wf}/diff?from=0&to=1", None, {"query.from"}),
    ("GET", "/workflows?status=deleted", None, {"query.status"}),
    ("GET", "/workflows?cursor=!!!", None, {"query.cursor"}),
    ("GET", "/workflows/{wf}/versions?cursor=ImEi", None, {"query.cursor"}),  # a string, not a number
]


async def test_bad_input_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    admin = world.a.user("admin")
    created = await client.post(
        f"{API}/workflows", headers=admin, json={"name": "Taken", "definition": salon()}
    )
    wf = created.json()["id"]
    for method, path, body, fields in BAD:
        case = f"{method} {path} {body}"
        with nothing_written(owner_conn):
            response = await client.request(method, API + path.format(wf=wf), json=body, headers=admin)
        problem = assert_problem(response, 422, "validation_failed")
        assert fields == fields_of(problem), (case, problem)

    # a name already taken: 409 naming it
    with nothing_written(owner_conn):
        response = await client.post(f"{API}/workflows", headers=admin, json={"name": "Taken"})
    assert fields_of(assert_problem(response, 409, "conflict")) == {"body.name"}
    # NaN is not JSON a definition may hold (Python's parser lets it through)
    with nothing_written(owner_conn):
        response = await client.post(
            f"{API}/workflows",
            headers=admin | {"Content-Type": "application/json"},
            content=b'{"name": "N", "definition": {"timeout": NaN}}',
        )
    assert fields_of(assert_problem(response, 422, "validation_failed")) == {"body.definition"}
