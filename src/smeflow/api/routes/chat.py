"""Web chat: the hosted chat page ``GET /chat/{tenant_slug}``, its script, the embeddable
``GET /chat/widget.js``, and the visitor's WebSocket ``/chat/{tenant_slug}/ws``.

No login: a visitor gets a signed visitor token in the first frame (``hello``) and sends it back
(``?token=``) when reconnecting, with the id of the last message it saw (``?after=``) to get what
it missed. Frames are JSON:

* visitor → ``{"type": "message", "id": "<client id>", "text": "…"}`` (the client id makes a
  message resent after a reconnect harmless);
* server → ``{"type": "hello", "token", "visitor_id"}``, ``{"type": "ack", "id", "message_id"}``,
  ``{"type": "message", "id", "direction", "text", "at"}`` (the conversation's messages, live),
  ``{"type": "error", "field", "message"}`` for a frame that cannot be taken (nothing stored).

A visitor's message goes the same way as a WhatsApp or SMS message (channel ``web``, see
:mod:`smeflow.channels._inbound`); replies come back live from any process through the chat hub.
An unknown or inactive tenant is 404 (the socket is closed with code 4404).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import uuid
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from smeflow.api._state import AppState
from smeflow.channels._conversations import list_messages
from smeflow.channels._inbound import Inbound, receive
from smeflow.channels._webchat import ChatHub, new_visitor, visitor_of
from smeflow.channels.models import Conversation, ConversationMessage
from smeflow.db import DbScope
from smeflow.errors import SMEFlowError
from smeflow.tenancy.models import Tenant

router = APIRouter(tags=["chat"], include_in_schema=False)

MAX_TEXT = 4096
NOT_FOUND_CLOSE = 4404
_JS = "application/javascript; charset=utf-8"
_CACHE = {"Cache-Control": "public, max-age=300"}


@cache
def _asset(name: str) -> str:
    return resources.files("smeflow.api").joinpath("static", "chat", name).read_text("utf-8")


async def _tenant(state: AppState, slug: str) -> Tenant | None:
    async with state.db.transaction(DbScope.platform()) as session:
        query = select(Tenant).where(Tenant.slug == slug, Tenant.status == "active")
        return (await session.execute(query)).scalar_one_or_none()


@router.get("/chat/widget.js", summary="The embeddable chat widget")
async def widget() -> Response:
    return Response(_asset("widget.js"), media_type=_JS, headers=_CACHE)


@router.get("/chat/client.js", summary="The chat page's script")
async def client_script() -> Response:
    return Response(_asset("client.js"), media_type=_JS, headers=_CACHE)


@router.get("/chat/{tenant_slug}", summary="The tenant's hosted chat page", response_class=HTMLResponse)
async def chat_page(tenant_slug: str, request: Request) -> HTMLResponse:
    tenant = await _tenant(request.app.state.smeflow, tenant_slug)
    if tenant is None:
        return HTMLResponse("<!doctype html><title>Not found</title><p>There is no such chat.</p>", 404)
    page = (
        _asset("page.html")
        .replace("__SLUG__", html.escape(tenant.slug))
        .replace("__NAME__", html.escape(tenant.name))
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


def _frame(message: ConversationMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "id": str(message.id),
        "direction": message.direction,
        "text": message.text,
        "at": message.at.isoformat(),
    }


class _Visit:
    """One open chat connection."""

    def __init__(
        self, websocket: WebSocket, state: AppState, hub: ChatHub, tenant_id: uuid.UUID, visitor: str
    ):
        self.ws = websocket
        self.state = state
        self.hub = hub
        self.tenant_id = tenant_id
        self.visitor = visitor
        self.conversation_id: uuid.UUID | None = None
        self.queue: asyncio.Queue[uuid.UUID] | None = None
        self.followed = asyncio.Event()
        self.sent: set[uuid.UUID] = set()

    def _scope(self) -> DbScope:
        return DbScope.tenant(self.tenant_id)

    async def find(self) -> None:
        async with self.state.db.transaction(self._scope()) as session:
            found = await session.execute(
                select(Conversation.id).where(
                    Conversation.tenant_id == self.tenant_id,
                    Conversation.channel == "web",
                    Conversation.integration_id.is_(None),
                    Conversation.address == self.visitor,
                )
            )
            conversation_id = found.scalar_one_or_none()
        if conversation_id is not None:
            self.follow(conversation_id)

    def follow(self, conversation_id: uuid.UUID) -> None:
        if self.conversation_id is None:
            self.conversation_id = conversation_id
            self.queue = self.hub.subscribe(self.tenant_id, conversation_id)
            self.followed.set()

    def close(self) -> None:
        if self.conversation_id is not None and self.queue is not None:
            self.hub.unsubscribe(self.tenant_id, self.conversation_id, self.queue)

    async def catch_up(self, after: uuid.UUID | None, *, outgoing_only: bool = False) -> None:
        """Send the stored messages after ``after`` not sent on this connection yet."""
        if self.conversation_id is None:
            return
        async with self.state.db.transaction(self._scope()) as session:
            messages = await list_messages(session, self.tenant_id, self.conversation_id, after_id=after)
        for message in messages:
            if message.id in self.sent or (outgoing_only and message.direction != "out"):
                continue
            self.sent.add(message.id)
            await self.ws.send_json(_frame(message))

    async def push(self) -> None:
        """Send the conversation's announced messages as they come."""
        await self.followed.wait()  # no conversation yet: it opens with the visitor's first message
        assert self.queue is not None
        while True:
            message_id = await self.queue.get()
            if message_id in self.sent:
                continue
            async with self.state.db.transaction(self._scope()) as session:
                message = (
                    await session.execute(
                        select(ConversationMessage).where(
                            ConversationMessage.tenant_id == self.tenant_id,
                            ConversationMessage.id == message_id,
                        )
                    )
                ).scalar_one_or_none()
            if message is not None and message.id not in self.sent:
                self.sent.add(message.id)
                await self.ws.send_json(_frame(message))

    async def error(self, field: str, message: str) -> None:
        await self.ws.send_json({"type": "error", "field": field, "message": message})

    async def take(self) -> None:
        """Receive the visitor's frames until they leave."""
        while True:
            raw = await self.ws.receive_text()
            try:
                frame = json.loads(raw)
            except ValueError:
                await self.error("frame", "a frame is a JSON object")
                continue
            if not isinstance(frame, dict) or frame.get("type") != "message":
                await self.error("type", 'the only frame a visitor sends is {"type": "message", ...}')
                continue
            text, client_id = frame.get("text"), frame.get("id")
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
                await self.error("text", f"a message is a text of 1 to {MAX_TEXT} characters")
                continue
            if not isinstance(client_id, str) or not 1 <= len(client_id) <= 100:
                await self.error(
                    "id", "each message needs an id of 1 to 100 characters, unique to the visitor"
                )
                continue
            await self.message(client_id, text)

    async def message(self, client_id: str, text: str) -> None:
        inbound = Inbound("web", self.visitor, text, f"visitor:{client_id}")
        try:
            async with self.state.db.transaction(self._scope()) as session:
                received = await receive(session, self.tenant_id, inbound, queue=self.state.runs)
                conversation_id = received.conversation.id
                message_id = received.message.id if received.message is not None else None
        except SMEFlowError as exc:
            await self.error("text", exc.message)
            return
        if message_id is not None:
            self.sent.add(message_id)
        self.follow(conversation_id)
        await self.ws.send_json({"type": "ack", "id": client_id, "message_id": str(message_id or "")})
        await self.catch_up(message_id, outgoing_only=True)  # a reply that came before we listened


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.websocket("/chat/{tenant_slug}/ws")
async def chat_socket(
    websocket: WebSocket, tenant_slug: str, token: str | None = None, after: str | None = None
) -> None:
    state: AppState = websocket.app.state.smeflow
    hub: ChatHub = websocket.app.state.chat_hub
    tenant = await _tenant(state, tenant_slug)
    if tenant is None:
        await websocket.close(code=NOT_FOUND_CLOSE)
        return
    await websocket.accept()
    visitor = visitor_of(state.settings, tenant.id, token)
    if visitor is None:
        visitor, token = new_visitor(state.settings, tenant.id)
    await websocket.send_json({"type": "hello", "token": token, "visitor_id": visitor})
    visit = _Visit(websocket, state, hub, tenant.id, visitor)
    await visit.find()
    pusher = asyncio.create_task(visit.push(), name="smeflow-chat-push")
    try:
        await visit.catch_up(_uuid(after))
        await visit.take()
    except WebSocketDisconnect:
        pass
    finally:
        pusher.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await pusher
        visit.close()


__all__ = ["router"]
