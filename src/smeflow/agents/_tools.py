"""Tools an agent may call: a name, what it does, its input as JSON Schema, and its declared effect.

Where tools come from (connector actions and workflow starts through the engine, an external MCP
server, later knowledge search) the agent does not care: it gets a :class:`Toolbox` of specs and
one async ``call``. The engine's toolbox journals write and money calls and stops money calls for a
human's approval; the agent only sees their results.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import JsonValue

Effect = Literal["read", "write", "money"]

#: what LLM providers accept as a function name
_LLM_NAME = re.compile(r"[^A-Za-z0-9_-]")


def llm_name(name: str) -> str:
    """``mpesa.stk_push`` → ``mpesa__stk_push``: a tool name every provider accepts (at most 64
    characters of letters, digits, ``_`` and ``-``)."""
    return _LLM_NAME.sub("_", name.replace(".", "__"))[:64]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: ``name`` as SMEFlow knows it (``mpesa.stk_push``), a description a model can
    follow, the JSON Schema of its arguments (an object) and its declared effect."""

    name: str
    description: str
    input_schema: dict[str, Any]
    effect: Effect

    @property
    def llm_name(self) -> str:
        return llm_name(self.name)


#: ``call(name, arguments, call_id)``: run the tool, return its JSON result. ``call_id`` is unique
#: within the agent's step (``"0"``, ``"1"``…) and makes the call's idempotency key.
ToolCall = Callable[[str, dict[str, Any], str], Awaitable[JsonValue]]


async def _no_tools(name: str, arguments: dict[str, Any], call_id: str) -> JsonValue:
    raise LookupError(f"no tool named {name!r} is available")


@dataclass(frozen=True, slots=True)
class Toolbox:
    """The tools of one agent step and how to call them."""

    specs: tuple[ToolSpec, ...] = ()
    call: ToolCall = field(default=_no_tools)

    def by_llm_name(self, name: str) -> ToolSpec | None:
        for spec in self.specs:
            if spec.llm_name == name or spec.name == name:
                return spec
        return None

    def merged(self, other: Toolbox) -> Toolbox:
        """This toolbox and ``other``'s tools (a name in both keeps this one's)."""
        mine = {spec.name for spec in self.specs}
        extra = tuple(spec for spec in other.specs if spec.name not in mine)
        if not extra:
            return self
        extra_names = {spec.name for spec in extra}

        async def call(name: str, arguments: dict[str, Any], call_id: str) -> JsonValue:
            if name in extra_names:
                return await other.call(name, arguments, call_id)
            return await self.call(name, arguments, call_id)

        return Toolbox(self.specs + extra, call)


def toolbox(specs: Iterable[ToolSpec], call: ToolCall) -> Toolbox:
    return Toolbox(tuple(specs), call)


__all__ = ["Effect", "ToolCall", "ToolSpec", "Toolbox", "llm_name", "toolbox"]
