"""Checking an integration's config and credentials against its connector's models, and what
is stored and audited of them.

Key contracts: every problem is named ``config.<field>`` or ``credentials.<field>`` (all of them,
from both, in one :class:`~smeflow.errors.ValidationFailed`); a problem's message never quotes a
credential's value (a connector's own validator that does is masked); what the vault seals is
the credentials' JSON with the secrets' real values; what the audit log records is names, not
values (:func:`credential_fields`), and canonical JSON (:func:`auditable`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic_core import to_jsonable_python

from smeflow.connectors import Connector
from smeflow.errors import FieldProblem, ValidationFailed


def _message(error: Any, secret: bool) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "this field is required"
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    given = error.get("input")
    if secret and isinstance(given, str) and given and given in message:
        message = message.replace(given, "***")  # a connector's own validator quoting the value
    return message


def _validate(
    model: type[BaseModel], value: dict[str, Any], prefix: str, *, secret: bool = False
) -> tuple[BaseModel | None, list[FieldProblem]]:
    try:
        return model.model_validate(value), []
    except ValidationError as exc:
        problems = [
            FieldProblem(
                ".".join([prefix, *(str(part) for part in error["loc"])]),
                _message(error, secret),
                str(error["type"]),
            )
            for error in exc.errors()
        ]
        return None, problems


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode()
    if isinstance(value, dict):
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(item) for item in value]
    return value


def _stored_credentials(credentials: BaseModel) -> dict[str, Any]:
    """The credentials as the vault seals them: JSON with the secrets' real values."""
    stored: dict[str, Any] = to_jsonable_python(_reveal(credentials.model_dump()))
    return stored


def _stored_config(config: BaseModel) -> dict[str, Any]:
    stored: dict[str, Any] = config.model_dump(mode="json")
    return stored


def checked(
    connector: Connector, config: dict[str, Any] | None, credentials: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``config`` and ``credentials`` (those given) as stored, or :class:`ValidationFailed`
    naming every problem of both."""
    problems: list[FieldProblem] = []
    stored_config = stored_credentials = None
    if config is not None:
        model, found = _validate(connector.config_model, config, "config")
        problems += found
        stored_config = _stored_config(model) if model is not None else None
    if credentials is not None:
        model, found = _validate(connector.credentials_model, credentials, "credentials", secret=True)
        problems += found
        stored_credentials = _stored_credentials(model) if model is not None else None
    if problems:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        raise ValidationFailed(f"The integration is not valid: {detail}", fields=problems)
    return stored_config, stored_credentials


def credential_fields(credentials: dict[str, Any]) -> list[str]:
    """The names of the credential fields that have a value."""
    return sorted(name for name, value in credentials.items() if value not in (None, "", [], {}))


def auditable(value: Any) -> Any:
    """``value`` as canonical JSON accepts it (floats, which it refuses, as their text)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(key): auditable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [auditable(item) for item in value]
    return value


__all__ = ["auditable", "checked", "credential_fields"]
