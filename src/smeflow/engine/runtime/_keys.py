"""The two keys the runtime derives from a run: LangGraph's thread id and a step's idempotency key.
Each is built here and nowhere else."""

from __future__ import annotations

import uuid


def thread_id(tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    """The LangGraph thread of a run: tenant and run, so checkpoints are never shared by tenants."""
    return f"{tenant_id}.{run_id}"


def idempotency_key(run_id: uuid.UUID, node_id: str, visit: int = 1) -> str:
    """The idempotency key of a side effect: one per run, node and visit of the node (sent to
    providers, journaled). A node passed again in a loop (a reminder sent every day) is a new
    effect: its second visit gets ``<run>:<node>#2``; the first keeps ``<run>:<node>``."""
    return f"{run_id}:{node_id}" if visit == 1 else f"{run_id}:{node_id}#{visit}"
