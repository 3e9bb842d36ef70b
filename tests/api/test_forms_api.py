"""Forms over HTTP: a run waits at a form step, staff answer it through the API, a real worker
resumes the run with the answers; what is refused (bad answers naming each field and writing
nothing, answering twice, a viewer, another tenant's form); the list (pending by default, status
filter, pages).

(Cross-tenant isolation of every form route is in ``test_cross_tenant.py``.)
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI

from .conftest import API, World, assert_problem, fields_of
from .test_bad_input import nothing_written
from .test_runs_api import drain, workflow_over_api


def intake(name: str = "Clinic intake") -> dict[str, Any]:
    """trigger → intake (form) → done (what the answers say)."""
    fields = [
        {"name": "patient", "type": "short_text", "label": "Patient's name"},
        {"name": "phone", "type": "phone", "label": "Phone number"},
        {"name": "visit", "type": "datetime", "label": "When do you want to come?"},
        {"name": "id", "type": "national_id", "label": "NIN", "required": False},
        {"name": "stars", "type": "rating", "label": "How was your last visit?", "required": False},
    ]
    return {
        "schema_version": 1,
        "name": name,
        "triggers": [{"kind": "manual"}],
        "nodes": [
            {"id": "start", "kind": "trigger"},
            {"id": "intake", "kind": "form", "config": {"title": "Before your visit", "fields": fields}},
            {
                "id": "done",
                "kind": "end",
                "config": {
                    "output": {
                        "patient": "nodes.intake.answers.patient",
                        "visit": "nodes.intake.answers.visit",
                        "by": "nodes.intake.answered_by",
                    }
                },
            },
        ],
        "edges": [{"from": "start", "to": "intake"}, {"from": "intake", "to": "done"}],
    }


ANSWERS = {
    "patient": "Adaeze Okafor",
    "phone": "+234 803 123 4567",
    "visit": "2025-06-02T10:00:00+01:00",
    "id": {"country": "NG", "kind": "nin", "number": "12345678901"},
}


async def waiting_form(
    app: FastAPI, client: httpx.AsyncClient, world: World, definition: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """A run executed up to its form: the run id and the pending form."""
    workflow_id = await workflow_over_api(client, world.a.user("admin"), definition or intake())
    started = await client.post(f"{API}/workflows/{workflow_id}/runs", headers=world.a.user("staff"), json={})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    await drain(app)
    run = (await client.get(f"{API}/runs/{run_id}", headers=world.a.user("viewer"))).json()
    assert (run["status"], run["output"]) == ("waiting", None)
    listed = await client.get(f"{API}/forms", headers=world.a.user("viewer"), params={"run_id": run_id})
    assert listed.status_code == 200, listed.text
    (form,) = listed.json()["items"]
    return run_id, form


async def test_a_form_round_trip(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    run_id, form = await waiting_form(app, client, world)
    assert (form["run_id"], form["node_id"], form["title"], form["status"]) == (
        run_id,
        "intake",
        "Before your visit",
        "pending",
    )
    assert [(f["name"], f["type"], f["required"]) for f in form["fields"]] == [
        ("patient", "short_text", True),
        ("phone", "phone", True),
        ("visit", "datetime", True),
        ("id", "national_id", False),
        ("stars", "rating", False),
    ]
    assert (form["answers"], form["answered_by"], form["answered_at"]) == (None, None, None)
    url = f"{API}/forms/{form['id']}"
    assert (await client.get(url, headers=world.a.user("viewer"))).json() == form

    staff = world.a.user("staff")
    answered = await client.post(f"{url}/answers", headers=staff, json={"answers": ANSWERS})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["status"], body["answered_by"]) == ("answered", f"user:{world.a.users['staff']}")
    assert body["answered_at"] is not None
    assert body["answers"] == {
        "patient": "Adaeze Okafor",
        "phone": "+2348031234567",
        "visit": "2025-06-02T10:00:00+01:00",
        "id": {"country": "NG", "kind": "nin", "number": "12345678901"},
        "stars": None,
    }
    assert (await client.get(f"{API}/runs/{run_id}", headers=staff)).json()["status"] == "queued"
    again = await client.post(f"{url}/answers", headers=world.a.user("owner"), json={"answers": ANSWERS})
    assert "already been answered" in assert_problem(again, 409, "conflict")["detail"]

    await drain(app)
    run = (await client.get(f"{API}/runs/{run_id}", headers=staff)).json()
    assert (run["status"], run["error"]) == ("succeeded", None)
    assert run["output"] == {
        "patient": "Adaeze Okafor",
        "visit": "2025-06-02T10:00:00+01:00",
        "by": f"user:{world.a.users['staff']}",
    }
    steps = (await client.get(f"{API}/runs/{run_id}/events", headers=staff)).json()["items"]
    assert [(e["node_id"], e["status"]) for e in steps] == [
        ("start", "succeeded"),
        ("intake", "waiting"),
        ("intake", "succeeded"),
        ("done", "succeeded"),
    ]
    assert steps[2]["output"] == {"answers": body["answers"], "answered_by": body["answered_by"]}

    admin = world.a.user("admin")
    audit = await client.get(f"{API}/audit/events", headers=admin, params={"target_id": form["id"]})
    (event,) = audit.json()["items"]
    assert (event["action"], event["actor_type"], event["actor_id"]) == (
        "form.answered",
        "user",
        str(world.a.users["staff"]),
    )
    assert event["data"] == {
        "run_id": run_id,
        "node_id": "intake",
        "answered": ["patient", "phone", "visit", "id"],
    }
    assert "Adaeze" not in audit.text  # the answers themselves stay out of the audit log


async def test_bad_answers_name_each_field_and_write_nothing(
    app: FastAPI, client: httpx.AsyncClient, world: World, owner_conn: psycopg.Connection
) -> None:
    run_id, form = await waiting_form(app, client, world)
    url = f"{API}/forms/{form['id']}/answers"
    staff = world.a.user("staff")
    cases: list[tuple[Any, set[str]]] = [
        ({"answers": ANSWERS | {"phone": "0803 123 4567"}}, {"body.answers.phone"}),
        ({"answers": ANSWERS | {"visit": "2025-06-02T10:00:00"}}, {"body.answers.visit"}),
        (
            {"answers": ANSWERS | {"id": {"country": "NG", "kind": "nin", "number": "123"}}},
            {"body.answers.id.number"},
        ),
        ({"answers": ANSWERS | {"stars": 9}}, {"body.answers.stars"}),
        ({"answers": ANSWERS | {"allergies": "none"}}, {"body.answers.allergies"}),
        ({"answers": {"patient": "Ada"}}, {"body.answers.phone", "body.answers.visit"}),
        ({"answers": []}, {"body.answers"}),
        ({}, {"body.answers"}),
        ({"answers": ANSWERS, "by": "me"}, {"body.by"}),
    ]
    with nothing_written(owner_conn):
        for body, fields in cases:
            problem = assert_problem(
                await client.post(url, headers=staff, json=body), 422, "validation_failed"
            )
            assert fields_of(problem) == fields, body
        problem = assert_problem(
            await client.post(url, headers=staff, json={"answers": ANSWERS | {"phone": "0803", "stars": 0}}),
            422,
        )
        assert "Phone number (must be a phone number in international form" in problem["detail"]
        assert {e["field"]: e["code"] for e in problem["errors"]} == {
            "body.answers.phone": "invalid",
            "body.answers.stars": "out_of_range",
        }
        # a viewer may read but not answer
        refused = await client.post(url, headers=world.a.user("viewer"), json={"answers": ANSWERS})
        assert_problem(refused, 403, "permission_denied")
    still = (await client.get(f"{API}/forms/{form['id']}", headers=staff)).json()
    assert (still["status"], still["answers"]) == ("pending", None)
    assert (await client.get(f"{API}/runs/{run_id}", headers=staff)).json()["status"] == "waiting"


async def test_another_tenants_form_is_404(app: FastAPI, client: httpx.AsyncClient, world: World) -> None:
    _, form = await waiting_form(app, client, world)
    url = f"{API}/forms/{form['id']}"
    for headers in (world.b.user("owner"), world.b.key()):
        assert_problem(await client.get(url, headers=headers), 404, "not_found")
        refused = await client.post(f"{url}/answers", headers=headers, json={"answers": ANSWERS})
        assert_problem(refused, 404, "not_found")
        for status in ("pending", "all"):
            listed = await client.get(f"{API}/forms", headers=headers, params={"status": status})
            assert listed.json()["items"] == []
    assert (await client.get(url, headers=world.a.user("viewer"))).json()["status"] == "pending"


async def test_the_list_shows_pending_forms_unless_asked(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    _, f1 = await waiting_form(app, client, world)
    _, f2 = await waiting_form(app, client, world, intake("Second intake"))
    _, f3 = await waiting_form(app, client, world, intake("Third intake"))
    staff = world.a.user("staff")
    answered = await client.post(f"{API}/forms/{f2['id']}/answers", headers=staff, json={"answers": ANSWERS})
    assert answered.status_code == 200, answered.text

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["items"]]

    assert ids(await client.get(f"{API}/forms", headers=staff)) == [f3["id"], f1["id"]]
    assert ids(await client.get(f"{API}/forms", headers=staff, params={"status": "answered"})) == [f2["id"]]
    everything = [f3["id"], f1["id"], f2["id"]]  # pending first, then newest first
    assert ids(await client.get(f"{API}/forms", headers=staff, params={"status": "all"})) == everything
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, "status": "all"} | ({"cursor": cursor} if cursor else {})
        page = await client.get(f"{API}/forms", headers=staff, params=params)
        seen += ids(page)
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    for params, fields in [
        ({"status": "done"}, {"query.status"}),
        ({"cursor": "MTIz"}, {"query.cursor"}),
        ({"run_id": "nope"}, {"query.run_id"}),
    ]:
        problem = assert_problem(await client.get(f"{API}/forms", headers=staff, params=params), 422)
        assert fields_of(problem) == fields, params
    problem = assert_problem(await client.get(f"{API}/forms/{uuid.uuid4()}", headers=staff), 404, "not_found")
    assert problem["detail"] == "No such form"
    assert_problem(await client.get(f"{API}/forms/not-a-uuid", headers=staff), 422)
