"""The connector SDK: what a connector is and what it declares.

A connector (``mpesa``, ``paystack``, a third party's ``acme_crm``) is a subclass of
:class:`Connector` with

* ``key`` and ``version``, a ``title`` and a ``description``;
* a **credentials model** (pydantic; every secret a ``SecretStr``) and a **config model**
  (non-secret settings such as a shortcode, and ``base_url`` to talk to a sandbox);
* :meth:`Connector.check`, which proves the credentials work (raises :class:`AuthFailed`);
* **actions**: methods decorated with :func:`action`, each with a pydantic input and output
  model, an effect (read / write / money) and a description that doubles as the LLM tool
  description;
* **triggers**: webhooks (:meth:`Connector.verify_webhook`, :meth:`Connector.parse_webhook`,
  :meth:`Connector.webhook_reply`, :meth:`Connector.webhook_handshake`, all on the raw request)
  and polling triggers (:func:`polling`, with a dedupe cursor).

Key contracts:

* A connector instance is shared by every tenant of a process: it keeps no tenant state but
  caches keyed by integration id (an OAuth token, say).
* Everything a connector knows about one tenant's account comes in :class:`Integration`;
  everything it may use to call out comes in :class:`ActionContext` (the HTTP client is bound
  to the integration's base URL and redacts its secrets).
* Write and money actions receive ``ctx.idempotency_key`` and must send it to the provider where
  the provider has a place for it (a reference, a header), so a repeated call is recognised.
* Webhook signatures are checked on the **raw bytes** of the body, never on re-serialised JSON.
"""

from __future__ import annotations

import inspect
import typing
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from smeflow.connectors._errors import InvalidResponse, Rejected

if TYPE_CHECKING:
    from smeflow.connectors._http import ConnectorHttp

Effect = Literal["read", "write", "money"]
WebhookAuth = Literal["signature", "token"]

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


class ConnectorConfig(BaseModel):
    """Non-secret settings of an integration. Subclass it to add a connector's own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s]+$",
        max_length=500,
        description="the provider's API address; empty: its production address (set it to use a sandbox)",
    )


class NoCredentials(BaseModel):
    """The credentials model of a connector that needs none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Integration:
    """One tenant's connected account with one provider, as a connector sees it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    connector: str
    config: BaseModel
    credentials: BaseModel
    #: where the provider must send this integration's callbacks (``…/webhooks/<key>/<id>/<token>``)
    webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action (or :meth:`Connector.check`) may use."""

    integration: Integration
    http: ConnectorHttp
    #: set for write and money actions: the run + step key, to send to the provider
    idempotency_key: str | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())

    @property
    def config(self) -> Any:
        return self.integration.config

    @property
    def credentials(self) -> Any:
        return self.integration.credentials


@dataclass(frozen=True, slots=True)
class ActionDef:
    """One action of a connector, as the registry, the engine and the API see it."""

    name: str
    title: str
    description: str
    effect: Effect
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    func: Callable[[Any, ActionContext, Any], Awaitable[BaseModel]]

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema(mode="serialization")


def action(
    name: str, *, effect: Effect, title: str | None = None
) -> Callable[
    [Callable[[Any, ActionContext, In], Awaitable[Out]]], Callable[[Any, ActionContext, In], Awaitable[Out]]
]:
    """Declare a connector method an action: ``async def stk_push(self, ctx, data: StkPushIn) -> StkPushOut``.

    ``name`` is local to the connector (``"stk_push"``; its full name is ``"mpesa.stk_push"``).
    The method's docstring is the action's description (and its LLM tool description); the
    annotations of ``data`` and of the return value are its input and output models.
    """

    def mark(
        func: Callable[[Any, ActionContext, In], Awaitable[Out]],
    ) -> Callable[[Any, ActionContext, In], Awaitable[Out]]:
        func.__smeflow_action__ = (name, effect, title)  # type: ignore[attr-defined]
        return func

    return mark


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll found, and the cursor to start from next time."""

    events: list[WebhookEvent]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class PollingDef:
    """A polling trigger: ``func(connector, ctx, cursor)`` returns the events after ``cursor``."""

    name: str
    description: str
    interval_seconds: float
    func: Callable[[Any, ActionContext, str | None], Awaitable[PollResult]]


def polling(
    name: str, *, interval_seconds: float = 60.0
) -> Callable[[Callable[[Any, ActionContext, str | None], Awaitable[PollResult]]], Any]:
    """Declare a connector method a polling trigger (its docstring is its description)."""

    def mark(func: Callable[[Any, ActionContext, str | None], Awaitable[PollResult]]) -> Any:
        func.__smeflow_polling__ = (name, interval_seconds)  # type: ignore[attr-defined]
        return func

    return mark


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A webhook delivery as it arrived: raw body bytes, lower-cased headers, the query."""

    method: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    client_ip: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON (:class:`InvalidResponse` if it is not)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise InvalidResponse("the body is not JSON") from None

    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` fields (the last of repeated names)."""
        try:
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True, strict_parsing=bool(self.body)))
        except (UnicodeDecodeError, ValueError):
            raise InvalidResponse("the body is not form-encoded") from None


class WebhookEvent(BaseModel):
    """One thing a webhook delivery says happened, in SMEFlow's words.

    ``kind`` is one of :data:`EVENT_KINDS` (``payment.succeeded``, ``message.received``…);
    ``event_id`` is the provider's id for it (deliveries are deduplicated on it per integration);
    ``reference`` ties it to our record (a payment's reference, a sent message's provider id).
    """

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(min_length=1, max_length=200)
    kind: str
    reference: str | None = None
    data: dict[str, JsonValue] = Field(default_factory=dict)


#: the event kinds built-in connectors emit; handlers subscribe by kind or by prefix (``payment.``)
EVENT_KINDS = (
    "payment.succeeded",  # data: amount_minor, currency, provider_ref, phone?/email?
    "payment.failed",  # data: reason, provider_code
    "payment.reversed",
    "transfer.succeeded",
    "transfer.failed",
    "refund.processed",
    "c2b.validation",  # a customer is paying our paybill: accept or refuse (synchronous)
    "c2b.confirmation",
    "message.received",  # data: channel, from, text, name?
    "message.status",  # data: channel, status (sent/delivered/read/failed), error_code?
    "ussd.session",  # data: session_id, phone, service_code, text
    "voice.call",  # data: session_id, phone, direction, state, digits?, recording_url?
)


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What the ingress answers the provider (USSD wants ``text/plain``, voice XML, Daraja JSON)."""

    status: int = 200
    body: bytes = b'{"ok":true}'
    media_type: str = "application/json"


class Connector:
    """Base of every connector; see the module docstring."""

    key: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    #: the provider's production API address, used unless the integration's config sets ``base_url``
    default_base_url: ClassVar[str]
    credentials_model: ClassVar[type[BaseModel]] = NoCredentials
    config_model: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    #: ISO countries the connector serves (empty: any)
    countries: ClassVar[tuple[str, ...]] = ()
    #: how webhook deliveries prove they come from the provider: a signature over the body, or
    #: only the unguessable token in the URL (plus an optional source-IP allowlist)
    webhook_auth: ClassVar[WebhookAuth | None] = None
    #: the event kinds its webhooks produce
    webhook_events: ClassVar[tuple[str, ...]] = ()
    #: the provider's segment in webhook URLs (``…/webhooks/<name>/…``) when it must not be the
    #: key (Daraja refuses callback URLs containing "mpesa")
    webhook_name: ClassVar[str | None] = None
    #: the provider's documented request rate per integration (calls per second), if any
    rate_limit_per_second: ClassVar[float | None] = None

    @classmethod
    def webhook_segment(cls) -> str:
        """The provider's segment in this connector's webhook URLs."""
        return cls.webhook_name or cls.key

    # --- actions and triggers -------------------------------------------------------------

    @classmethod
    def actions(cls) -> list[ActionDef]:
        """Every action the class declares with :func:`action`, in definition order."""
        found: list[ActionDef] = []
        for attr in _members(cls):
            marker = getattr(attr, "__smeflow_action__", None)
            if marker is None:
                continue
            local, effect, title = marker
            hints = typing.get_type_hints(attr)
            params = list(inspect.signature(attr).parameters)
            input_model = hints.get(params[2]) if len(params) == 3 else None
            output_model = hints.get("return")
            if not (_is_model(input_model) and _is_model(output_model)):
                raise TypeError(
                    f"{cls.__name__}.{attr.__name__}: an action is "
                    "`async def name(self, ctx, data: InputModel) -> OutputModel`"
                )
            doc = inspect.getdoc(attr) or ""
            found.append(
                ActionDef(
                    name=f"{cls.key}.{local}",
                    title=title or local.replace("_", " ").capitalize(),
                    description=doc,
                    effect=effect,
                    input_model=typing.cast(type[BaseModel], input_model),
                    output_model=typing.cast(type[BaseModel], output_model),
                    func=attr,
                )
            )
        return found

    @classmethod
    def polling_triggers(cls) -> list[PollingDef]:
        found = []
        for attr in _members(cls):
            marker = getattr(attr, "__smeflow_polling__", None)
            if marker is not None:
                name, interval = marker
                found.append(PollingDef(f"{cls.key}.{name}", inspect.getdoc(attr) or "", interval, attr))
        return found

    def action(self, name: str) -> ActionDef:
        """The action named ``name`` (full or local), or :class:`LookupError`."""
        local = name.removeprefix(f"{self.key}.")
        for candidate in self.actions():
            if candidate.name == f"{self.key}.{local}":
                return candidate
        raise LookupError(f"{self.key} has no action {name!r}")

    async def call(self, name: str, ctx: ActionContext, data: Mapping[str, Any] | BaseModel) -> BaseModel:
        """Run action ``name`` with ``data`` checked against its input model.

        Bad input is :class:`Rejected` naming every field; an output that does not match the
        output model is :class:`InvalidResponse` (a connector bug or a changed provider).
        """
        definition = self.action(name)
        if isinstance(data, definition.input_model):
            given = data
        else:
            try:
                raw = data.model_dump() if isinstance(data, BaseModel) else data
                given = definition.input_model.model_validate(raw)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in error['loc']) or 'input'}: {error['msg']}"
                    for error in exc.errors()
                )
                raise Rejected(f"{definition.name}: {problems}") from None
        result = await definition.func(self, ctx, given)
        if not isinstance(result, definition.output_model):
            raise InvalidResponse(f"{definition.name} returned {type(result).__name__}, not its output model")
        return result

    # --- credentials ----------------------------------------------------------------------

    async def check(self, ctx: ActionContext) -> None:
        """Prove the integration's credentials work (a cheap authenticated call); raise
        :class:`AuthFailed` if they do not. Connectors with credentials must override it."""
        if self.credentials_model is not NoCredentials:
            raise NotImplementedError(f"{type(self).__name__} must implement check()")

    # --- webhooks -------------------------------------------------------------------------

    def verify_webhook(self, integration: Integration, request: InboundRequest) -> None:
        """Raise :class:`AuthFailed` unless ``request`` provably comes from the provider.

        For ``webhook_auth = "token"`` connectors the ingress has already checked the URL's token
        (and source IP): the default accepts."""
        if self.webhook_auth == "signature":
            raise NotImplementedError(f"{type(self).__name__} must implement verify_webhook()")

    def parse_webhook(self, integration: Integration, request: InboundRequest) -> list[WebhookEvent]:
        """The events a verified delivery carries (:class:`InvalidResponse` if it is malformed)."""
        raise NotImplementedError(f"{type(self).__name__} does not receive webhooks")

    def webhook_reply(
        self, integration: Integration, request: InboundRequest, events: list[WebhookEvent]
    ) -> WebhookReply:
        """The answer to a stored delivery (the default: 200 ``{"ok": true}``)."""
        return WebhookReply()

    def webhook_handshake(self, integration: Integration, request: InboundRequest) -> WebhookReply | None:
        """The answer to a ``GET`` verification handshake (WhatsApp's), or None if there is none."""
        return None


def _members(cls: type) -> list[Any]:
    seen: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if callable(value):
                seen[name] = value
    return list(seen.values())


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


__all__ = [
    "EVENT_KINDS",
    "ActionContext",
    "ActionDef",
    "Connector",
    "ConnectorConfig",
    "Effect",
    "InboundRequest",
    "Integration",
    "NoCredentials",
    "PollResult",
    "PollingDef",
    "WebhookAuth",
    "WebhookEvent",
    "WebhookReply",
    "action",
    "polling",
]
