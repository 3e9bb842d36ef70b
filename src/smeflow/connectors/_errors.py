"""What a connector raises. Each error has a message safe to show a tenant (no credential, no
raw provider body that could hold one), a failure type and whether a retry may succeed.

* ``config`` failures (:class:`AuthFailed`): the tenant must fix the integration.
* ``rejected`` (:class:`Rejected`): the provider said no to this request (bad input, a declined
  payment); retrying the same request gets the same answer.
* ``transient`` (:class:`RateLimited`, :class:`Unavailable`): try again later.
* ``system`` (:class:`InvalidResponse`): the provider answered something we cannot read.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from smeflow.errors import SMEFlowError

FailureType = Literal["config", "rejected", "transient", "system"]


class ConnectorError(SMEFlowError):
    """Base of every connector error."""

    code = "connector_error"
    status = 502
    title = "The provider could not complete the request"
    failure_type: ClassVar[FailureType] = "system"

    def __init__(
        self,
        message: str | None = None,
        *,
        provider_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, extra=extra)
        #: the provider's own code (Daraja ``"1032"``, WhatsApp ``131047``…), when it gave one
        self.provider_code = provider_code


class AuthFailed(ConnectorError):
    """The integration's credentials were refused (or a webhook's signature did not verify)."""

    code = "connector_auth_failed"
    status = 401
    title = "The provider refused the integration's credentials"
    failure_type = "config"


class Rejected(ConnectorError):
    """The provider refused this request; the same request will be refused again."""

    code = "connector_rejected"
    status = 422
    title = "The provider refused the request"
    failure_type = "rejected"


class RateLimited(ConnectorError):
    """The provider asks us to slow down; ``retry_after`` seconds from now."""

    code = "connector_rate_limited"
    status = 429
    title = "The provider is limiting requests"
    failure_type = "transient"
    retryable = True

    def __init__(self, retry_after: float, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unavailable(ConnectorError):
    """The provider could not be reached, timed out or failed on its side (5xx)."""

    code = "connector_unavailable"
    status = 503
    title = "The provider is not available"
    failure_type = "transient"
    retryable = True


class InvalidResponse(ConnectorError):
    """The provider answered (or a webhook arrived with) something we cannot read."""

    code = "connector_invalid_response"
    status = 502
    title = "The provider's answer could not be read"
    failure_type = "system"


__all__ = [
    "AuthFailed",
    "ConnectorError",
    "FailureType",
    "InvalidResponse",
    "RateLimited",
    "Rejected",
    "Unavailable",
]
