"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error answer carries a stable ``code``, a readable ``detail``, the request id, and for
input problems the list of offending fields (``body.email``, ``query.limit``, ``path.user_id``).
No stack trace ever reaches the client; unexpected errors are logged with the request id.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from smeflow.core.context import request_id_var
from smeflow.errors import FieldProblem, RateLimited, SMEFlowError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_HTTP_CODES = {
    400: "malformed_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    fields: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:smeflow:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if (rid := request_id_var.get()) is not None:
        body["request_id"] = rid
    if fields:
        body["errors"] = [{"field": f.field, "message": f.message, "code": f.code} for f in fields]
    if extra:
        body.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def internal_error(instance: str | None) -> Response:
    """The answer to an error nobody expected: no details, just the request id to quote."""
    return problem(
        500,
        "internal_error",
        "Internal error",
        "Something went wrong on our side; it has been logged. Quote the request id if you report it.",
        instance=instance,
    )


def too_large(limit: int, instance: str | None) -> Response:
    return problem(
        413,
        "payload_too_large",
        "The request body is too large",
        f"the body is over the limit of {limit} bytes",
        instance=instance,
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _validation_problem(request: Request, exc: RequestValidationError) -> Response:
    fields: list[FieldProblem] = []
    malformed = False
    for error in exc.errors():
        kind = str(error.get("type", "invalid"))
        if kind == "json_invalid":
            malformed = True
            ctx = error.get("ctx") or {}
            fields.append(
                FieldProblem("body", f"malformed JSON: {ctx.get('error', 'cannot be parsed')}", kind)
            )
            continue
        loc = error.get("loc", ())
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "this field is required"
        elif kind in ("uuid_parsing", "uuid_type"):
            message = "not a valid UUID"
        fields.append(FieldProblem(_field_path(loc), message, kind))
    if malformed:
        return problem(
            400,
            "malformed_request",
            "The request could not be read",
            "The body is not valid JSON.",
            instance=request.url.path,
            fields=fields,
        )
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
    return problem(
        422, "validation_failed", "The request is not valid", detail, instance=request.url.path, fields=fields
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error through :func:`problem`."""

    @app.exception_handler(SMEFlowError)
    async def _smeflow(request: Request, exc: SMEFlowError) -> Response:
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
        return problem(
            exc.status,
            exc.code,
            exc.title,
            exc.message,
            instance=request.url.path,
            fields=exc.fields,
            headers=headers,
            extra=exc.extra or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _validation_problem(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        return problem(
            exc.status_code,
            code,
            detail,
            detail,
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
        )


__all__ = ["PROBLEM_JSON", "install_problem_handlers", "internal_error", "problem", "too_large"]
