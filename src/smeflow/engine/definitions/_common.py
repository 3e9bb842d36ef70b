"""Small types shared by node configs, triggers and the definition: ids, names, retry policy."""

from __future__ import annotations

import re
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from smeflow.engine.definitions._cron import is_timezone, parse_cron

ID_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"
ACTION_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
EVENT_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)*$"
KEY_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"
MAX_NODES = 500
MAX_EDGES = 2000

_ID = re.compile(ID_PATTERN)


def config_error(message: str) -> PydanticCustomError:
    """A problem found by a config model's own checks (reported with code ``invalid_config``)."""
    return PydanticCustomError("invalid_config", message)


def _check_id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise PydanticCustomError(
            "invalid_id",
            "an id starts with a letter and has only letters, digits, '_' and '-' (at most 64 characters)",
        )
    return value


def _check_cron(value: str) -> str:
    try:
        parse_cron(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "invalid_cron", "not a valid cron expression: {error}", {"error": str(exc)}
        ) from None
    return value


def _check_timezone(value: str) -> str:
    if not is_timezone(value):
        raise PydanticCustomError(
            "invalid_timezone", "not an IANA time zone (such as Africa/Nairobi, Africa/Lagos or UTC)"
        )
    return value


def _check_version(value: Any) -> int | str:
    if value == "latest" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value  # type: ignore[no-any-return]
    raise config_error('the version is a published version number (1, 2, …) or "latest"')


#: A node id; edges, ``on_error`` and router defaults refer to nodes by it.
NodeId = Annotated[str, AfterValidator(_check_id), WithJsonSchema({"type": "string", "pattern": ID_PATTERN})]
CronText = Annotated[str, AfterValidator(_check_cron)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
ActionName = Annotated[str, Field(pattern=ACTION_PATTERN, max_length=128)]
EventName = Annotated[str, Field(pattern=EVENT_PATTERN, max_length=128)]
StateKey = Annotated[str, Field(pattern=KEY_PATTERN)]
VersionRef = Annotated[
    int | str,
    PlainValidator(_check_version),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"const": "latest"}]}),
]


class Strict(BaseModel):
    """Base of every definition model: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(Strict):
    """How a failing node is retried before it fails for good (and its ``on_error`` is taken).

    The wait before attempt *n + 1* is ``initial_interval * backoff**(n - 1)``, capped at
    ``max_interval``, then (with ``jitter``) multiplied by a random factor in [0.5, 1.5).
    """

    max_attempts: int = Field(3, ge=1, le=20, description="attempts in all, the first one included")
    initial_interval: float = Field(1.0, gt=0, le=86400, description="seconds to wait before the first retry")
    backoff: float = Field(2.0, ge=1, le=10, description="each wait is this many times the previous one")
    max_interval: float = Field(
        300.0, gt=0, le=86400, description="the longest wait between two attempts, in seconds"
    )
    jitter: bool = Field(True, description="spread retries randomly so failing runs do not retry in lockstep")

    @model_validator(mode="after")
    def _intervals(self) -> Self:
        if self.max_interval < self.initial_interval:
            raise PydanticCustomError(
                "invalid_value", "max_interval must not be shorter than initial_interval"
            )
        return self
