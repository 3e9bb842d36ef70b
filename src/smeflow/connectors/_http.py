"""HTTP for connectors: one factory, one small client per integration.

Key contracts:

* Every request has a timeout (10 s by default, 5 s to connect).
* Only **safe** calls are retried (``GET``/``HEAD``, or a call the connector marks
  ``idempotent=True`` because it carries an idempotency key the provider honours), with
  exponential backoff and jitter, on network failures, timeouts, 5xx and 429 (honouring
  ``Retry-After``). A write without a key is sent once: a retry could pay twice.
* Transport failures become :class:`Unavailable`; a 429 after the retries
  :class:`RateLimited`. Any other answer is returned for the connector to read (providers
  disagree on what their status codes mean: Daraja answers "wrong credentials" with a 500).
* Per-integration rate limits: a token bucket per integration id, in this process, at the
  connector's ``rate_limit_per_second``.
* Secrets never reach a log: the client knows every secret value of its integration and
  :meth:`ConnectorHttp.redact` replaces them; it logs the method, the redacted URL, the status
  and the time, never headers or bodies.
* The base URL is the integration's ``config.base_url`` or the connector's production address,
  so the same code talks to a sandbox or to the provider.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, SecretStr

from smeflow.connectors._errors import InvalidResponse, RateLimited, Unavailable
from smeflow.connectors._sdk import Connector, Integration

logger = logging.getLogger(__name__)
# httpx logs every request's full URL at INFO (a query string may hold a key); this module logs a
# redacted line of its own instead, so httpx's line is never wanted, whatever the root level.
logging.getLogger("httpx").setLevel(logging.WARNING)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REDACTED = "***"


@dataclass(frozen=True, slots=True)
class Retry:
    """How safe calls are retried: ``attempts`` in all, backoff ``base * 2**n`` (capped), ± jitter."""

    attempts: int = 3
    base_seconds: float = 0.2
    max_seconds: float = 5.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        raw = min(self.max_seconds, self.base_seconds * (2 ** (attempt - 1)))
        spread = random.uniform(-self.jitter, self.jitter)  # noqa: S311 (jitter, not a secret)
        return float(max(0.0, raw * (1 + spread)))


class TokenBucket:
    """``rate`` tokens per second, ``burst`` at most; :meth:`take` waits for one."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


def secret_values(credentials: BaseModel) -> list[str]:
    """Every secret value in a credentials model (its ``SecretStr`` fields, nested ones too)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            if secret:
                found.append(secret)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(credentials)
    return sorted(found, key=len, reverse=True)


class ConnectorHttp:
    """An integration's HTTP client (see the module docstring)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        secrets: Iterable[str] = (),
        limiter: TokenBucket | None = None,
        retry: Retry | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.secrets = [s for s in secrets if s]
        self.limiter = limiter
        self.retry = retry or Retry()
        self.timeout = timeout or httpx.Timeout(10.0, connect=5.0)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"

    def redact(self, text: str) -> str:
        """``text`` with every secret of the integration replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        idempotent: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (a per-request HTTP timeout, passed to httpx)
    ) -> httpx.Response:
        """Send one request (retried only when safe, see the module docstring)."""
        method = method.upper()
        url = self.url(path)
        safe = method in SAFE_METHODS or idempotent
        attempts = self.retry.attempts if safe else 1
        body = orjson.dumps(json) if json is not None else content
        sent_headers = dict(headers or {})
        if json is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        last: Exception | None = None
        for attempt in range(1, attempts + 1):
            if self.limiter is not None:
                await self.limiter.take()
            started = time.perf_counter()
            try:
                response = await self.client.request(
                    method,
                    url,
                    content=body,
                    data=data,
                    params=params,
                    headers=sent_headers,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    timeout=httpx.Timeout(timeout) if timeout is not None else self.timeout,
                )
            except httpx.TimeoutException:
                last = Unavailable(f"{method} {self._where(url)} did not answer in time")
            except httpx.HTTPError as exc:
                last = Unavailable(f"{method} {self._where(url)} could not be reached ({type(exc).__name__})")
            else:
                elapsed = (time.perf_counter() - started) * 1000
                logger.debug("%s %s → %s in %.1f ms", method, self.redact(url), response.status_code, elapsed)
                if response.status_code == 429:
                    wait = _retry_after(response)
                    last = RateLimited(wait, f"{method} {self._where(url)} is rate-limited")
                    if attempt < attempts:
                        await asyncio.sleep(min(wait, self.retry.max_seconds))
                        continue
                    raise last
                if response.status_code >= 500 and safe and attempt < attempts:
                    last = Unavailable(f"{method} {self._where(url)} answered {response.status_code}")
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
                return response
            if attempt < attempts:
                await asyncio.sleep(self.retry.delay(attempt))
        assert last is not None
        raise last

    def _where(self, url: str) -> str:
        """The URL without its query (which may hold a token), redacted."""
        return self.redact(url.split("?", 1)[0])


def json_body(response: httpx.Response) -> Any:
    """A response's JSON body, or :class:`InvalidResponse` (naming the status, not the body)."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise InvalidResponse(
            f"the provider answered {response.status_code} with a body that is not JSON"
        ) from None


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


class HttpFactory:
    """The one place connector HTTP clients are made: a shared pooled ``httpx.AsyncClient`` (the
    host's SSRF-guarded one, or a plain one) wrapped per integration."""

    def __init__(self, client: httpx.AsyncClient | None = None, *, retry: Retry | None = None) -> None:
        self._own = client is None
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False
        )
        self.retry = retry
        self._buckets: dict[Any, TokenBucket] = {}

    def for_integration(self, connector: Connector, integration: Integration) -> ConnectorHttp:
        base_url = getattr(integration.config, "base_url", None) or connector.default_base_url
        limiter = None
        if connector.rate_limit_per_second:
            limiter = self._buckets.get(integration.id)
            if limiter is None:
                limiter = self._buckets[integration.id] = TokenBucket(connector.rate_limit_per_second)
        return ConnectorHttp(
            self.client,
            base_url=base_url,
            secrets=secret_values(integration.credentials),
            limiter=limiter,
            retry=self.retry,
        )

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()


__all__ = ["ConnectorHttp", "HttpFactory", "Retry", "TokenBucket", "json_body", "secret_values"]
