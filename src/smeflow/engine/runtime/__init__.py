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
* Supported node kinds: trigger, action, condition, approval, wait (``duration``/``until``; an
  ``event`` wait is refused), end. A definition with any other kind is refused when compiled
  (:class:`UnsupportedNode`, every such step named).
* A wait step computes its due time once, interrupts (``waiting``) and is woken by a job scheduled
  at that time; an early job leaves it waiting; the sweeper queues a waiting run with no job (see
  :mod:`smeflow.engine.runtime._waits`).
* An approval step opens one approval per run and node and interrupts the run (``waiting``); a
  decision (:func:`decide`) or its due time passing (:func:`expire_due`, from the sweeper)
  queues the run again, and it resumes with the decision as the step's output.
* Checkpoints and jobs live in the ``engine`` schema (created by migration ``0003_runs``); a
  finished run keeps only its last checkpoint (for a failed run, the one before its failed step).
* Run control (:func:`cancel_run`, :func:`pause_run`, :func:`resume_run`, :func:`retry_run`;
  audited, see :mod:`smeflow.engine.runtime._control`): a queued, waiting or paused run is
  cancelled at once (its pending approvals closed as ``cancelled``; its ``error`` says who and
  when); a running run is asked to cancel or pause and stops at its next step boundary, heard by
  its worker through LISTEN/NOTIFY into an in-process set the step wrapper checks (no database
  read per step) and checked again when a run is claimed. A paused run stays paused whatever
  comes meanwhile (a decision, a due wait) and resume queues it to continue from its last
  checkpoint. A failed run retried resumes from the failed step: the steps before it, and their
  side effects, are not repeated. The sweeper never queues a paused or cancelled run.
* Admission (see :mod:`smeflow.engine.runtime._admission`): at most ``concurrent_runs`` of a
  tenant's tier run at once across all workers (waiting and paused runs do not count), counted
  under a per-tenant advisory lock; runs with one ``order_key`` execute one at a time in the order
  accepted, a waiting run letting the next go (a scheduled wake-up never holds a key). A run that
  may not start yet stays ``queued`` with no job; each execution that ends defers what may start.
* A run the sweeper had to take over ``MAX_JOBS_PER_RUN`` times (stalled jobs of dead workers
  included) is failed with the internal-error reason.
* CEL sees ``failed`` (why each step that failed for good failed, by node id), so an
  ``on_error`` branch can say why.
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
from smeflow.engine.runtime._control import cancel_run, pause_run, resume_run, retry_run
from smeflow.engine.runtime._errors import StepFailed, TransientStepError, UnsupportedNode
from smeflow.engine.runtime._keys import idempotency_key, thread_id
from smeflow.engine.runtime._queue import EXECUTE_RUN, MAX_JOBS_PER_RUN, SWEEP, RunQueue, run_lock
from smeflow.engine.runtime._runs import get_run, list_events, list_runs, start_run
from smeflow.engine.runtime._runtime import ENGINE_SCHEMA, Runtime
from smeflow.engine.runtime._stops import RUNS_CHANNEL, RunStopped, StopSignals

__all__ = [
    "ENGINE_SCHEMA",
    "EXECUTE_RUN",
    "MAX_JOBS_PER_RUN",
    "RUNS_CHANNEL",
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
    "RunStopped",
    "Runtime",
    "SetAction",
    "StepContext",
    "StepFailed",
    "StopSignals",
    "TransientStepError",
    "UnsupportedNode",
    "approval_cursor",
    "build_graph",
    "cancel_run",
    "decide",
    "default_actions",
    "expire_due",
    "get_approval",
    "get_run",
    "idempotency_key",
    "list_approvals",
    "list_events",
    "list_runs",
    "pause_run",
    "resume_run",
    "retry_run",
    "run_lock",
    "start_run",
    "thread_id",
]
