"""Web chat over a real uvicorn server and a real WebSocket client: the hosted page and widget,
a visitor's message through the same inbound path as WhatsApp to the workflow and its reply back
live, reconnecting without losing a reply, forged tokens, bad frames, and a staff reply."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from .conversations_kit import (
    API,
    DEADLINE,
    Live,
    World,
    answering,
    app,
    client,
    eventually,
    live,
    reply_flow,
    settings,
    the_conversation,
    world,
)

__all__ = ["app", "client", "live", "settings", "world"]


def ws_url(live: Live, slug: str, **query: str) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{live.url.replace('http://', 'ws://')}/chat/{slug}/ws" + (f"?{params}" if params else "")


async def frame_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind`` (frames of other types are skipped)."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
        if frame["type"] == kind:
            return frame


async def say(ws: ClientConnection, client_id: str, text: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "message", "id": client_id, "text": text}))
    return await frame_of(ws, "ack")


async def test_the_page_and_the_widget_are_small_and_an_unknown_tenant_is_404(
    live: Live, world: World
) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        page = await http.get(f"/chat/{world.a.slug}")
        script = await http.get("/chat/client.js")
        widget = await http.get("/chat/widget.js")
        missing = await http.get("/chat/no-such-salon")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'data-tenant="{world.a.slug}"' in page.text
    assert script.status_code == widget.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "WebSocket" in script.text
    assert "iframe" in widget.text
    assert len(page.content) + len(script.content) < 8 * 1024  # a few KB for a cheap phone
    assert missing.status_code == 404
    with pytest.raises(InvalidStatus):
        async with connect(ws_url(live, "no-such-salon")):
            pass


async def test_a_visitor_talks_to_the_workflow_and_gets_its_reply_live(
    live: Live, world: World, owner_conn: psycopg.Connection
) -> None:
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await answering(http, headers, "web", reply_flow("web"))
        async with connect(ws_url(live, world.a.slug)) as ws:
            hello = await frame_of(ws, "hello")
            assert hello["visitor_id"].startswith("v_")
            ack = await say(ws, "m1", "Do you open on Sunday?")
            reply = await frame_of(ws, "message")
        shown = await the_conversation(http, headers, messages=2)
    assert ack["id"] == "m1"
    assert (reply["direction"], reply["text"]) == ("out", "You said: Do you open on Sunday?")
    assert (shown["channel"], shown["address"], shown["integration_id"]) == ("web", hello["visitor_id"], None)
    assert [m["id"] for m in shown["messages"]] == [ack["message_id"], reply["id"]]

    def finished() -> bool:
        rows = owner_conn.execute("SELECT input->>'channel', status FROM runs").fetchall()
        return rows == [("web", "succeeded")]

    await eventually(finished, "the web run to finish")


async def test_a_visitor_who_reconnects_gets_the_reply_it_missed_and_keeps_its_conversation(
    live: Live, world: World, owner_conn: psycopg.Connection
) -> None:
    headers = world.a.key()
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        await answering(http, headers, "web", reply_flow("web"))
        async with connect(ws_url(live, world.a.slug)) as ws:
            token = (await frame_of(ws, "hello"))["token"]
            ack = await say(ws, "m1", "first")
        # gone before the reply: it is stored, and sent on reconnecting
        await the_conversation(http, headers, messages=2)
        async with connect(ws_url(live, world.a.slug, token=token, after=ack["message_id"])) as ws:
            again = await frame_of(ws, "hello")
            missed = await frame_of(ws, "message")
            resent = await say(ws, "m1", "first")  # the client resends what it was not sure of
            await say(ws, "m2", "second")
            second = await frame_of(ws, "message")
        shown = await the_conversation(http, headers, messages=4)
    assert again["token"] == token
    assert (missed["direction"], missed["text"]) == ("out", "You said: first")
    assert resent["message_id"] == ""  # a duplicate: nothing stored, nothing started
    assert second["text"] == "You said: second"
    assert [(m["direction"], m["text"]) for m in shown["messages"]] == [
        ("in", "first"),
        ("out", "You said: first"),
        ("in", "second"),
        ("out", "You said: second"),
    ]
    assert owner_conn.execute("SELECT count(*) FROM conversations").fetchone() == (1,)


async def test_a_forged_or_other_tenants_token_gets_a_new_visitor(live: Live, world: World) -> None:
    async with connect(ws_url(live, world.b.slug)) as ws:
        b_token = (await frame_of(ws, "hello"))["token"]
    visitor = b_token.split(".")[0]
    for token in (b_token, f"{visitor}.forged", "nonsense"):
        async with connect(ws_url(live, world.a.slug, token=token)) as ws:
            hello = await frame_of(ws, "hello")
        assert hello["token"] != token
        assert hello["visitor_id"] != visitor


async def test_bad_frames_are_refused_naming_the_field_and_store_nothing(
    live: Live, world: World, owner_conn: psycopg.Connection
) -> None:
    async with connect(ws_url(live, world.a.slug)) as ws:
        await frame_of(ws, "hello")
        for frame, field in [
            ("not json", "frame"),
            (json.dumps({"type": "typing"}), "type"),
            (json.dumps({"type": "message", "id": "m1", "text": "  "}), "text"),
            (json.dumps({"type": "message", "id": "m1", "text": "x" * 4097}), "text"),
            (json.dumps({"type": "message", "text": "hello"}), "id"),
        ]:
            await ws.send(frame)
            error = await frame_of(ws, "error")
            assert error["field"] == field, error
            assert error["message"]
    assert owner_conn.execute("SELECT count(*) FROM conversations").fetchone() == (0,)
    assert owner_conn.execute("SELECT count(*) FROM conversation_messages").fetchone() == (0,)


async def test_a_staff_reply_reaches_the_visitor_live(live: Live, world: World) -> None:
    headers = world.a.user("staff")
    async with (
        httpx.AsyncClient(base_url=live.url, timeout=30) as http,
        connect(ws_url(live, world.a.slug)) as ws,
    ):
        await frame_of(ws, "hello")
        await say(ws, "m1", "Can someone help me?")
        shown = await the_conversation(http, headers, messages=1)
        taken = await http.post(f"{API}/conversations/{shown['id']}/takeover", headers=headers)
        assert taken.status_code == 200, taken.text
        replied = await http.post(
            f"{API}/conversations/{shown['id']}/messages",
            headers=headers,
            json={"text": "Karibu! I'm Amani"},
        )
        assert replied.status_code == 201, replied.text
        live_reply = await frame_of(ws, "message")
    assert (live_reply["direction"], live_reply["text"], live_reply["id"]) == (
        "out",
        "Karibu! I'm Amani",
        replied.json()["id"],
    )
