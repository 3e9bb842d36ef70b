"""The two keys the runtime derives from a run: LangGraph's thread id and a step's idempotency key.
Each is built here and nowhere else."""

from __future__ import annotations

import uuid


def thread_id(tenant_id: uuid.UUID, run_id: uuid.UUID) -> str:
    """The LangGraph thread of a run: tenant and run, so checkpoints are never shared by tenants."""
    return f"{tenant_id}.{run_id}"


def idempotency_key(run_id: uuid.UUID, node_id: str) -> str:
    """The idempotency key of a side effect: one per run and node (sent to providers, journaled)."""
    return f"{run_id}:{node_id}"
