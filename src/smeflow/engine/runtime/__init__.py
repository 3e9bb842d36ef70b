"""The workflow runtime: compiles published definitions to LangGraph, executes runs from the
procrastinate queue, records every step, journals side effects.

Key contracts:

* A run is accepted by :func:`start_run` in the caller's transaction (``queued``, audited); its
  job is deferred after commit, and :meth:`RunQueue.sweep` (every 5 s in a worker) re-defers any
  run left queued, so an accepted run is never lost.
* The LangGraph thread of a run is :func:`thread_id` (tenant + run), built nowhere else; a
  side effect's idempotency key is :func:`idempotency_key` (run + node).
* A worker that dies (SIGKILL, lost machine) loses no run: its heartbeat stops, and after
  ``worker_dead_after_seconds`` (30 s by default) the sweeper puts its stalled jobs back in the
  queue; a run whose last job failed or was aborted while the run was unfinished is queued again
  (see :mod:`smeflow.engine.runtime._queue`). Re-executing a run resumes from its last checkpoint
  (or from the start if none was written).
* Side effects (exact guarantee): write and money actions carry the idempotency key
  ``<run>:<node>`` and their result is journaled (``step_journal``, committed) before the step
  goes on. A re-executed run returns the journaled result instead of calling again, so **a side
  effect whose journal row exists is never repeated**. A call that completed but whose journal row
  was not yet committed when the worker died is made once more with the *same* idempotency key
  (``http.request`` sends it as ``Idempotency-Key``): at-least-once, deduplicated by a provider
  that honours the key, at most one extra call per such crash for one that does not. Read actions
  carry no such promise: they may run again on re-execution.
* Supported node kinds: trigger, action, condition, approval, wait (``duration``, ``until``,
  ``event``), subworkflow, end. A definition with any other kind is refused when compiled
  (:class:`UnsupportedNode`, every such step named), as is a sub-workflow step naming the
  definition's own workflow.
* A wait step computes its due time once, interrupts (``waiting``) and is woken by a job scheduled
  at that time; an early job leaves it waiting; the sweeper queues a waiting run with no job (see
  :mod:`smeflow.engine.runtime._waits`). A ``timeout`` (``until`` and ``event`` waits) is such a
  due time: reached, the step fails ("Step 'pay' waited 2 hours for payment.succeeded and gave
  up"), so its ``on_error`` way can be taken.
* :func:`emit_event` (in the caller's transaction, audited ``event.emitted``; an event ``key`` is
  accepted once per tenant) stores the event, starts a run (``created_by`` ``event:<name>``) of
  every active workflow whose newest published version has an ``event`` trigger of that name, and
  delivers it to every open event wait of that name, queueing those runs; jobs are deferred after
  the commit. All under the session's tenant (RLS): another tenant's runs are out of reach.
* An event wait registers what it waits for (``event_waits``: name, ``match``, give-up time) and
  interrupts; resumed, it takes the first event delivered to it whose ``match`` holds (CEL with
  ``event`` bound to the payload, over the run's state), ignoring the ones before; none holding,
  the run waits on. An event emitted before the run reached the step is not seen. Output:
  ``{"event": {"name", "payload", "at"}}`` (see :mod:`smeflow.engine.runtime._event_waits`).
* A sub-workflow step starts one child run (``created_by`` ``run:<parent id>``; unique per parent
  run and step, so a re-executed step never starts a second) in one transaction with its link to
  the parent, and interrupts; the child's end queues the parent in the same transaction, and the
  step gives the child's output on, or fails with its reason. An unknown workflow, a missing
  version or more than five nested sub-workflow runs fail the step (see
  :mod:`smeflow.engine.runtime._subworkflows`). The sweeper leaves runs waiting for an event
  without a timeout, or for a child run, alone.
* An approval step opens one approval per run and node and interrupts the run (``waiting``); a
  decision (:func:`decide`) or its due time passing (:func:`expire_due`, from the sweeper)
  queues the run again, and it resumes with the decision as the step's output.
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
from smeflow.engine.runtime._approvals import (
    approval_cursor,
    decide,
    expire_due,
    get_approval,
    list_approvals,
)
from smeflow.engine.runtime._compiler import SUPPORTED_KINDS, RunState, StepContext, build_graph
from smeflow.engine.runtime._errors import StepFailed, TransientStepError, UnsupportedNode
from smeflow.engine.runtime._events import Emitted, emit_event
from smeflow.engine.runtime._keys import idempotency_key, thread_id
from smeflow.engine.runtime._queue import EXECUTE_RUN, SWEEP, RunQueue, run_lock
from smeflow.engine.runtime._runs import get_run, list_events, list_runs, start_run
from smeflow.engine.runtime._runtime import ENGINE_SCHEMA, Runtime

__all__ = [
    "ENGINE_SCHEMA",
    "EXECUTE_RUN",
    "Emitted",
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
    "approval_cursor",
    "build_graph",
    "decide",
    "default_actions",
    "emit_event",
    "expire_due",
    "get_approval",
    "get_run",
    "idempotency_key",
    "list_approvals",
    "list_events",
    "list_runs",
    "run_lock",
    "start_run",
    "thread_id",
]
