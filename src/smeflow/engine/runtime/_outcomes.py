"""What claiming a run gives an execution, and how an execution ended (shared by the claim, the
execution and the finish of a run)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Claimed:
    """A run a worker has claimed: its pinned workflow version and input, the definition of that
    version (JSON text, parsed only when the compiled graph is not cached), the number of its
    next step event, and whether this is its first execution."""

    workflow_id: uuid.UUID
    version: int
    input: dict[str, Any]
    definition: str
    next_seq: int
    fresh: bool


@dataclass(frozen=True, slots=True)
class Executed:
    """How an execution of a run ended: its status (``None``: nothing was done, or the run may not
    start yet); for a run waiting at a ``wait`` step, when to wake it; the runs of the tenant it
    queued (the child runs its sub-workflow steps wait for, the parent of a sub-workflow run that
    ended), whose jobs the queue defers; ``prune``: the run has ended, keep only its last
    checkpoint; ``kick``: the tenant may have runs admission held back, for the queue to start
    now that this one has left its slot (``False``: none was held when it ended)."""

    status: str | None
    wake_at: datetime | None = None
    queued: tuple[uuid.UUID, ...] = ()
    prune: bool = False
    kick: bool = True


@dataclass(frozen=True, slots=True)
class Ended:
    """A run's end recorded: the parent run it queued again (a sub-workflow run's), and whether
    the tenant had runs admission held back once it had committed."""

    parent: uuid.UUID | None
    held: bool = True


__all__ = ["Claimed", "Ended", "Executed"]
