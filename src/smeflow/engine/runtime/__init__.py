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
* Supported node kinds: trigger, action, condition, approval, form, wait (``duration``/``until``;
  an ``event`` wait is refused), agent, send_message, end. A definition with any other kind, an
  action or agent that is not installed, or a message on a channel with no sender is refused when
  compiled (:class:`UnsupportedNode`, every such step named with its path).
* A wait step computes its due time once, interrupts (``waiting``) and is woken by a job scheduled
  at that time; an early job leaves it waiting; the sweeper queues a waiting run with no job (see
  :mod:`smeflow.engine.runtime._waits`).
* An approval step opens one approval per run and node and interrupts the run (``waiting``); a
  decision (:func:`decide`) or its due time passing (:func:`expire_due`, from the sweeper)
  queues the run again, and it resumes with the decision as the step's output.
* A form step opens one form per run and node and interrupts the run (``waiting``); answering it
  (:func:`answer_form`: answers checked per field type, every problem at ``answers.<name>``;
  answered once; audited ``form.answered``) queues the run again, and it resumes with
  ``{"answers", "answered_by"}`` as the step's output (``nodes.<id>.answers.<name>``). The
  sweeper leaves a run waiting on a pending form alone (it waits for a person, not a time).
* An agent step asks an :class:`Agent` of the runtime's :class:`AgentRegistry` (default: the
  offline ``rules`` agent). Its reply is journaled like a write (key run + node) and its
  ``cost_micros`` added to the run's ``cost_micros`` in the same transaction, so a re-executed run
  never asks or pays twice. Below the step's ``confidence_threshold`` the step opens an approval
  and waits: approved, the proposal is the output; rejected, the step fails (``on_error``).
* A send_message step sends through the :class:`MessageSender` of its channel (the runtime's
  :class:`SenderRegistry`; none by default) with the idempotency key run + node, journaled like a
  write: a journaled message is never sent again.
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
from smeflow.engine.runtime._agents import (
    Agent,
    AgentCall,
    AgentRegistry,
    AgentReply,
    AgentRequest,
    RulesAgent,
    default_agents,
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
from smeflow.engine.runtime._forms import FormFilter, answer_form, form_cursor, get_form, list_forms
from smeflow.engine.runtime._keys import idempotency_key, thread_id
from smeflow.engine.runtime._messages import (
    MessageSender,
    OutboundMessage,
    SendCall,
    SenderRegistry,
    SentMessage,
)
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
    "Agent",
    "AgentCall",
    "AgentRegistry",
    "AgentReply",
    "AgentRequest",
    "Effect",
    "FormFilter",
    "HttpRequestAction",
    "LogAction",
    "MessageSender",
    "OutboundMessage",
    "RulesAgent",
    "RunQueue",
    "RunState",
    "Runtime",
    "SendCall",
    "SenderRegistry",
    "SentMessage",
    "SetAction",
    "StepContext",
    "StepFailed",
    "TransientStepError",
    "UnsupportedNode",
    "answer_form",
    "approval_cursor",
    "build_graph",
    "decide",
    "default_actions",
    "default_agents",
    "expire_due",
    "form_cursor",
    "get_approval",
    "get_form",
    "get_run",
    "idempotency_key",
    "list_approvals",
    "list_events",
    "list_forms",
    "list_runs",
    "run_lock",
    "start_run",
    "thread_id",
]
