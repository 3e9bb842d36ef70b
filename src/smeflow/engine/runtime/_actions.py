"""Actions: what an ``action`` node calls. An action has a name, a declared effect (read / write /
money), a pydantic input model (its form in the builder, its tool schema for agents) and an async
``run``. Write and money actions receive an idempotency key and are journaled by the runtime.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from smeflow.engine.runtime._errors import StepFailed, TransientStepError
from smeflow.engine.runtime._http import BlockedDestination

logger = logging.getLogger(__name__)

Effect = Literal["read", "write", "money"]
JOURNALED_EFFECTS = frozenset({"write", "money"})


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action may use: whose run it is, its idempotency key, an HTTP client."""

    tenant_id: uuid.UUID
    run_id: uuid.UUID
    node_id: str
    idempotency_key: str
    http: httpx.AsyncClient


class Action(ABC):
    """A registered action. Subclasses set ``name``, ``effect`` and ``input_model``."""

    name: str
    effect: Effect
    input_model: type[BaseModel]
    #: the action's output is merged into the run's ``vars``
    sets_vars: ClassVar[bool] = False

    def effect_for(self, data: BaseModel) -> Effect:
        """The effect of this call (an HTTP GET reads, a POST writes); the declared one by default."""
        return self.effect

    @abstractmethod
    async def run(self, ctx: ActionContext, data: Any) -> JsonValue:
        """Do it; return a JSON value. Raise :class:`StepFailed` (or :class:`TransientStepError`)."""


class ActionRegistry:
    """Actions by name."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"an action named {action.name!r} is already registered")
        self._actions[action.name] = action

    def get(self, name: str) -> Action | None:
        return self._actions.get(name)

    def names(self) -> list[str]:
        return sorted(self._actions)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SetAction(Action):
    """``core.set``: set run variables (``vars.<key>``) to the given values."""

    name = "core.set"
    effect = "read"
    input_model = _Open
    sets_vars = True

    async def run(self, ctx: ActionContext, data: _Open) -> JsonValue:
        return dict(data.model_extra or {})


class _LogInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(max_length=4000, description="what to write in the run's log")
    level: Literal["info", "warning"] = Field("info", description="how important it is")


class LogAction(Action):
    """``core.log``: write a line to the log (stamped with the tenant and run)."""

    name = "core.log"
    effect = "read"
    input_model = _LogInput

    async def run(self, ctx: ActionContext, data: _LogInput) -> JsonValue:
        logger.log(logging.WARNING if data.level == "warning" else logging.INFO, "%s", data.message)
        return {"message": data.message}


class _HttpInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://", max_length=2000, description="the address to call")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field("GET", description="the HTTP method")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    json_body: JsonValue = Field(None, alias="json", description="a JSON body to send")
    timeout: float = Field(10.0, gt=0, le=60, description="seconds to wait for the answer")


class HttpRequestAction(Action):
    """``http.request``: call a URL. A GET reads; any other method writes and carries an
    ``Idempotency-Key`` header. 5xx answers and network failures are retried; 4xx fail the step."""

    name = "http.request"
    effect = "write"
    input_model = _HttpInput

    def effect_for(self, data: BaseModel) -> Effect:
        return "read" if isinstance(data, _HttpInput) and data.method == "GET" else "write"

    async def run(self, ctx: ActionContext, data: _HttpInput) -> JsonValue:
        headers = dict(data.headers)
        if data.method != "GET":
            headers.setdefault("Idempotency-Key", ctx.idempotency_key)
        try:
            response = await ctx.http.request(
                data.method,
                data.url,
                headers=headers,
                json=data.json_body if data.method != "GET" else None,
                timeout=data.timeout,
            )
        except BlockedDestination as exc:
            raise StepFailed(f"{data.method} {data.url} was not called: {exc}") from None
        except httpx.TimeoutException:
            raise TransientStepError(
                f"{data.method} {data.url} did not answer within {data.timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise TransientStepError(
                f"{data.method} {data.url} could not be reached ({type(exc).__name__})"
            ) from None
        if response.status_code >= 500:
            raise TransientStepError(f"{data.method} {data.url} answered {response.status_code}")
        if response.status_code >= 400:
            raise StepFailed(f"{data.method} {data.url} refused the request ({response.status_code})")
        body: JsonValue
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text[:10000]
        return {"status": response.status_code, "body": body}


def default_actions() -> ActionRegistry:
    """The built-in actions: ``core.set``, ``core.log``, ``http.request``."""
    return ActionRegistry([SetAction(), LogAction(), HttpRequestAction()])
