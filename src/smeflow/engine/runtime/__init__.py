"""The workflow runtime: compiles published definitions to LangGraph, executes runs from the
procrastinate queue, records every step, journals side effects.

Key contracts:

* A run is accepted by :func:`start_run` in the caller's transaction (``queued``, audited); its
  job is deferred after commit, and :meth:`RunQueue.sweep` (every 5 s in a worker) re-defers any
  run left queued, so an accepted run is never lost.
* The LangGraph thread of a run is :func:`thread_id` (tenant + run), built nowhere else; a
  side effect's idempotency key is :func:`idempotency_key` (run + node).
* Write and money actions are journaled (``step_journal``) before the step goes on; executing a
  run again returns the journaled result instead of repeating the call.
* Supported node kinds: trigger, action, condition, end. A definition with any other kind is
  refused when compiled (:class:`UnsupportedNode`, every such step named).
* Checkpoints and jobs live in the ``engine`` schema (created by migration ``0003_runs``); a
  finished run keeps only its last checkpoint.
"""

from smeflow.engine.runtime._actions import (
    Action,
    ActionContext,
    ActionRegistry,
    Effect,
    HttpRequestAction,
    LogAction,
    SetAction,
    default_actions,
)
from smeflow.engine.runtime._compiler import SUPPORTED_KINDS, RunState, StepContext, build_graph
from smeflow.engine.runtime._errors import StepFailed, TransientStepError, UnsupportedNode
from smeflow.engine.runtime._keys import idempotency_key, thread_id
from smeflow.engine.runtime._queue import EXECUTE_RUN, SWEEP, RunQueue, run_lock
from smeflow.engine.runtime._runs import get_run, list_events, list_runs, start_run
from smeflow.engine.runtime._runtime import ENGINE_SCHEMA, Runtime

__all__ = [
    "ENGINE_SCHEMA",
    "EXECUTE_RUN",
    "SUPPORTED_KINDS",
    "SWEEP",
    "Action",
    "ActionContext",
    "ActionRegistry",
    "Effect",
    "HttpRequestAction",
    "LogAction",
    "RunQueue",
    "RunState",
    "Runtime",
    "SetAction",
    "StepContext",
    "StepFailed",
    "TransientStepError",
    "UnsupportedNode",
    "build_graph",
    "default_actions",
    "get_run",
    "idempotency_key",
    "list_events",
    "list_runs",
    "run_lock",
    "start_run",
    "thread_id",
]
