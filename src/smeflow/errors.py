"""The one error tree of SMEFlow.

Every error carries a stable ``code`` (part of the public API: clients match on it), a message
that is safe to show a user, the HTTP ``status`` the API answers with, and ``retryable``.
Services raise these; only the API turns them into HTTP answers (RFC 9457 problem+json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem with one input field; ``field`` is a dotted path such as ``body.email``."""

    field: str
    message: str
    code: str = "invalid"


class SMEFlowError(Exception):
    """Base of every error SMEFlow raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: list[FieldProblem] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.title
        self.fields = fields or []
        self.extra = extra or {}
        super().__init__(self.message)


class ValidationFailed(SMEFlowError):
    code = "validation_failed"
    status = 422
    title = "The request is not valid"


class MalformedRequest(SMEFlowError):
    code = "malformed_request"
    status = 400
    title = "The request could not be read"


class PayloadTooLarge(SMEFlowError):
    code = "payload_too_large"
    status = 413
    title = "The request body is too large"


class NotAuthenticated(SMEFlowError):
    code = "not_authenticated"
    status = 401
    title = "Authentication is required"


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    title = "The credentials are not valid"


class MfaRequired(NotAuthenticated):
    code = "mfa_required"
    title = "A one-time code from the authenticator app is required"


class PermissionDenied(SMEFlowError):
    code = "permission_denied"
    status = 403
    title = "You do not have permission to do this"


class QuotaExceeded(SMEFlowError):
    code = "quota_exceeded"
    status = 403
    title = "The tenant's plan does not allow more of this"


class NotFound(SMEFlowError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(SMEFlowError):
    code = "conflict"
    status = 409
    title = "The request conflicts with the current state"


class RateLimited(SMEFlowError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"
    retryable = True

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message or f"Too many requests; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class ConfigurationError(SMEFlowError):
    code = "configuration_error"
    status = 500
    title = "SMEFlow is not configured correctly"


class Unavailable(SMEFlowError):
    code = "unavailable"
    status = 503
    title = "A service SMEFlow depends on is unavailable"
    retryable = True


__all__ = [
    "Conflict",
    "ConfigurationError",
    "FieldProblem",
    "InvalidCredentials",
    "MalformedRequest",
    "MfaRequired",
    "NotAuthenticated",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "QuotaExceeded",
    "RateLimited",
    "SMEFlowError",
    "Unavailable",
    "ValidationFailed",
]
