"""What a test scripts into the LLM sandbox: turns, queued per API key, and the words-and-
punctuation token count the sandbox reports when a turn gives no usage."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """The sandbox's token count: words plus punctuation marks (``"Hi, you!"`` is 4)."""
    return len(_TOKEN.findall(text))


class TurnUsage(BaseModel):
    """The usage a scripted turn reports (any field left out is counted as for a default reply)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)
    cached_tokens: int = Field(0, ge=0)


class TurnToolCall(BaseModel):
    """A tool call a scripted turn makes; ``arguments`` are sent as a JSON string, as OpenAI does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    arguments: dict[str, JsonValue] = Field(default_factory=dict)
    id: str | None = None


class TurnError(BaseModel):
    """An error answer: the HTTP status and OpenAI's error body fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int = Field(ge=400, le=599)
    message: str = "The sandbox was scripted to fail this request."
    type: str | None = None
    code: str | None = None
    retry_after: float | None = Field(None, ge=0)


class Turn(BaseModel):
    """One scripted answer: content, tool calls (with optional content), or an error.

    ``match``: the turn is used only for a request whose last user or tool message contains
    this text; other requests skip it (it stays queued)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    content: str | None = None
    tool_calls: list[TurnToolCall] | None = Field(None, min_length=1)
    error: TurnError | None = None
    usage: TurnUsage | None = None
    match: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Turn:
        if self.error is not None and (self.content is not None or self.tool_calls):
            raise ValueError("a turn with an error has no content or tool_calls")
        if self.error is None and self.content is None and not self.tool_calls:
            raise ValueError("a turn needs content, tool_calls or an error")
        return self


@dataclass(slots=True)
class KeyState:
    """One API key's queue of turns and the request bodies it sent."""

    turns: list[Turn] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


class Scripts:
    """Turns and received requests per API key; safe to use from a test's thread while the
    sandbox's own thread serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, KeyState] = {}

    def add(self, key: str, turns: Iterable[Turn]) -> int:
        """Queue ``turns`` for ``key``; the number now queued."""
        with self._lock:
            state = self._keys.setdefault(key, KeyState())
            state.turns.extend(turns)
            return len(state.turns)

    def take(self, key: str, last_message: str) -> Turn | None:
        """The first queued turn for ``key`` whose ``match`` (if any) is in ``last_message``."""
        with self._lock:
            state = self._keys.get(key)
            if state is None:
                return None
            for index, turn in enumerate(state.turns):
                if turn.match is None or turn.match in last_message:
                    return state.turns.pop(index)
            return None

    def queued(self, key: str) -> list[Turn]:
        with self._lock:
            state = self._keys.get(key)
            return list(state.turns) if state else []

    def record(self, key: str, path: str, body: Any) -> None:
        with self._lock:
            self._keys.setdefault(key, KeyState()).requests.append({"path": path, "body": body})

    def requests(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            state = self._keys.get(key)
            return list(state.requests) if state else []

    def reset(self, key: str, *, turns: bool = True, requests: bool = True) -> None:
        with self._lock:
            state = self._keys.get(key)
            if state is not None:
                if turns:
                    state.turns.clear()
                if requests:
                    state.requests.clear()


__all__ = ["KeyState", "Scripts", "Turn", "TurnError", "TurnToolCall", "TurnUsage", "count_tokens"]
