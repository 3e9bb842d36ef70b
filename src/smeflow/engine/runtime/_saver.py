"""The runtime's LangGraph checkpointer: :class:`AsyncPostgresSaver` that skips the checkpoint
read of a run's first execution.

LangGraph reads a thread's newest checkpoint when a graph starts. A run's first execution (the
claim found ``started_at`` unset, under the run's row lock) has none: nothing was executed under
its thread before. :meth:`FirstRunSaver.expect_none` says so for one thread, and the next read of
that thread's newest checkpoint answers "none" without a query; every other read, and every
write, goes to PostgreSQL as before.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver


class FirstRunSaver(AsyncPostgresSaver):
    """:class:`AsyncPostgresSaver` that answers one read of a thread known to be new without a
    query (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._new: set[str] = set()

    def expect_none(self, config: RunnableConfig) -> None:
        """The thread of ``config`` has no checkpoint: its next read needs no query."""
        self._new.add(str(config["configurable"]["thread_id"]))

    def forget(self, config: RunnableConfig) -> None:
        """Drop :meth:`expect_none` for the thread of ``config`` (if its read did not happen)."""
        self._new.discard(str(config["configurable"]["thread_id"]))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = config.get("configurable", {})
        thread = configurable.get("thread_id")
        if (
            thread is not None
            and str(thread) in self._new
            and not configurable.get("checkpoint_id")
            and not configurable.get("checkpoint_ns")
        ):
            self._new.discard(str(thread))  # once: what follows may have written one
            return None
        return await super().aget_tuple(config)


__all__ = ["FirstRunSaver"]
