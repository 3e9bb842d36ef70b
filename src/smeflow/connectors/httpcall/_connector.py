"""The generic HTTP connector (key ``http``): authenticated calls to a tenant's own systems."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import httpx
import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, SecretStr

from smeflow.connectors._errors import AuthFailed, InvalidResponse, Rejected, Unavailable
from smeflow.connectors._sdk import ActionContext, Connector, ConnectorConfig, action

MAX_BODY = 1_000_000
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_PATH = r"^/[^/\s][^\s]*$|^/$"


class HttpCredentials(BaseModel):
    """How to authenticate to the tenant's system: any of a bearer token, basic auth, an API key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bearer_token: SecretStr | None = Field(None, description="sent as Authorization: Bearer <token>")
    basic_username: str | None = Field(None, description="HTTP basic auth user name")
    basic_password: SecretStr | None = Field(None, description="HTTP basic auth password")
    api_key: SecretStr | None = Field(None, description="sent in the config's api_key_header")


def _no_secret_headers(headers: dict[str, str]) -> dict[str, str]:
    for name in headers:
        if name.lower() in _SECRET_HEADERS:
            raise ValueError(f"{name}: credentials belong in the integration's credentials, not in headers")
    return headers


Headers = Annotated[dict[str, str], AfterValidator(_no_secret_headers)]


class HttpConfig(ConnectorConfig):
    """Where the tenant's system is and how to talk to it."""

    # required here: a tenant's own system has no default address
    base_url: str = Field(
        pattern=r"^https?://[^\s]+$",
        max_length=500,
        description="the system's address, e.g. https://erp.example.com/api",
    )
    default_headers: Headers = Field(default_factory=dict, description="headers sent with every call")
    api_key_header: str = Field(
        "X-API-Key", pattern=r"^[A-Za-z0-9-]{1,100}$", description="the API key's header"
    )
    health_path: str = Field("/", pattern=_PATH, description="check() sends GET here")


class _Call(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        pattern=_PATH, max_length=2000, description="the path under the base URL, e.g. /orders/17"
    )
    query: dict[str, str | int | float | bool] = Field(default_factory=dict, description="query parameters")
    headers: Headers = Field(default_factory=dict, description="extra request headers")


class GetIn(_Call):
    pass


class RequestIn(_Call):
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = Field("POST", description="the HTTP method")
    body: JsonValue = Field(None, description="a JSON body to send")


class HttpOut(BaseModel):
    status: int = Field(description="the HTTP status")
    content_type: str | None = Field(None, description="the answer's media type")
    body: JsonValue = Field(None, description="the answer: parsed JSON, else its text")


class Http(Connector):
    """Calls a tenant's own HTTP API with the integration's credentials."""

    key = "api"
    version = "1.0.0"
    title = "HTTP API"
    description = (
        "Call your own system's HTTP API (an ERP, a booking system, a spreadsheet service) with "
        "its credentials: GET to read, POST/PUT/PATCH/DELETE to write."
    )
    default_base_url = "https://example.invalid"
    credentials_model = HttpCredentials
    config_model: ClassVar[type[ConnectorConfig]] = HttpConfig

    async def check(self, ctx: ActionContext) -> None:
        """``GET`` the configured health path; 401/403 → :class:`AuthFailed`."""
        config: HttpConfig = ctx.config
        await self._call(ctx, "GET", config.health_path, {}, {}, None)

    @action("get", effect="read")
    async def get(self, ctx: ActionContext, data: GetIn) -> HttpOut:
        """Read from the tenant's system: GET a path under its base URL and return the status and
        the JSON (or text) answer. Retried on network failures and 5xx."""
        return await self._call(ctx, "GET", data.path, data.query, data.headers, None)

    @action("request", effect="write")
    async def request(self, ctx: ActionContext, data: RequestIn) -> HttpOut:
        """Write to the tenant's system: POST/PUT/PATCH/DELETE a path under its base URL with a
        JSON body, sending the step's Idempotency-Key header. Sent once, never retried."""
        headers = dict(data.headers)
        if ctx.idempotency_key:
            headers["Idempotency-Key"] = ctx.idempotency_key
        return await self._call(ctx, data.method, data.path, data.query, headers, data.body)

    async def _call(
        self,
        ctx: ActionContext,
        method: str,
        path: str,
        query: dict[str, Any],
        headers: dict[str, str],
        body: JsonValue,
    ) -> HttpOut:
        config: HttpConfig = ctx.config
        credentials: HttpCredentials = ctx.credentials
        sent = {
            "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
            **config.default_headers,
            **headers,
        }
        auth: tuple[str, str] | None = None
        if credentials.bearer_token is not None:
            sent["Authorization"] = f"Bearer {credentials.bearer_token.get_secret_value()}"
        if credentials.basic_username is not None and credentials.basic_password is not None:
            auth = (credentials.basic_username, credentials.basic_password.get_secret_value())
        if credentials.api_key is not None:
            sent[config.api_key_header] = credentials.api_key.get_secret_value()
        response = await ctx.http.request(
            method,
            path,
            params=query or None,
            headers=sent,
            json=body if method != "GET" and body is not None else None,
            auth=auth,
        )
        where = f"{method} {path}"
        status = response.status_code
        if status in (401, 403):
            raise AuthFailed(
                f"{where}: the system refused the integration's credentials ({status})",
                provider_code=str(status),
            )
        if status >= 500:
            raise Unavailable(
                f"{where}: the system failed ({status}); try again later", provider_code=str(status)
            )
        if status >= 400:
            raise Rejected(f"{where} was refused ({status})", provider_code=str(status))
        return _out(response, where)


def _out(response: httpx.Response, where: str) -> HttpOut:
    if len(response.content) > MAX_BODY:
        raise InvalidResponse(f"{where}: the answer is larger than {MAX_BODY} bytes")
    media = response.headers.get("content-type", "").split(";")[0].strip() or None
    body: JsonValue = None
    if response.content:
        if media is not None and (media == "application/json" or media.endswith("+json")):
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise InvalidResponse(f"{where}: the answer says JSON but is not") from None
        else:
            body = response.text
    return HttpOut(status=response.status_code, content_type=media, body=body)


__all__ = ["GetIn", "Http", "HttpConfig", "HttpCredentials", "HttpOut", "RequestIn"]
