"""The workflow runtime: compiles published definitions to LangGraph, executes runs from the
procrastinate queue, records every step, journals side effects.

Key contracts:

* A run is accepted by :func:`start_run` in the caller's transaction (``queued``, audited) and
  its job is written in that same transaction (see :mod:`._jobs`), so the run and its job commit
  together; :meth:`RunQueue.sweep` (every 5 s in a worker) re-defers any run left queued without
  a job all the same, so an accepted run is never lost.
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
* Durability (the definition's ``durability``; LangGraph's setting): ``exit`` (the default)
  checkpoints a run only when it pauses (approval, wait…) and when it ends, and writes its step
  events in one statement with its outcome; a run whose worker dies is executed again from its
  last pause (or its start), replaying every journaled side effect, so it costs nothing per step.
  ``async``/``sync`` checkpoint after every step (in the background / before the next step) and
  write each step event as it happens: a re-executed run resumes from its last step instead of
  its last pause — worth it only for long runs of expensive *read* steps. The guarantee is the
  same in every mode: **no accepted run is lost, no journaled side effect is repeated**.
* A node passed again in a loop is a new side effect on each pass: its idempotency key carries
  the visit (``<run>:<node>``, then ``<run>:<node>#2``…; the visit count is part of the state).
* ``http.request`` calls public addresses only (SSRF guard, :mod:`._http`) unless the operator
  allows private networks (``SMEFLOW_HTTP_ALLOW_PRIVATE_NETWORKS``).
* When a run finishes, PostgreSQL channel :data:`RUN_CHANNEL` is told ``"<tenant> <run> <status>"``
  at commit.
* Supported node kinds: all of them: trigger, action, condition, approval, form, wait
  (``duration``, ``until``, ``event``), agent, send_message, subworkflow, end. A definition
  using an action or agent that is not installed, or a message on a channel with no sender, is
  refused when compiled (:class:`UnsupportedNode`, every such step named with its path), as is a
  sub-workflow step naming the definition's own workflow.
* A wait step computes its due time once, interrupts (``waiting``) and is woken by a job scheduled
  at that time; an early job leaves it waiting; the sweeper queues a waiting run with no job (see
  :mod:`smeflow.engine.runtime._waits`). A ``timeout`` (``until`` and ``event`` waits) is such a
  due time: reached, the step fails ("Step 'pay' waited 2 hours for payment.succeeded and gave
  up"), so its ``on_error`` way can be taken.
* :func:`emit_event` (in the caller's transaction, audited ``event.emitted``; an event ``key`` is
  accepted once per tenant) stores the event, starts a run (``created_by`` ``event:<name>``) of
  every active workflow whose newest published version has an ``event`` trigger of that name, and
  delivers it to every open event wait of that name, queueing those runs; the started runs' jobs
  are written in the same transaction, the resumed runs' deferred after the commit. All under
  the session's tenant (RLS): another tenant's runs are out of reach.
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
  finished run keeps only its last checkpoint (for a failed run, the one before its failed step).
* A run's input is checked against its version's ``input_schema`` (JSON Schema 2020-12, a
  validator cached per tenant + workflow + version) before anything is written: a mismatch is
  :class:`ValidationFailed` listing every problem as ``input.<path>`` (see ``_inputs``).
* Webhook trigger (:func:`accept_hook`): only the newest published version's ``webhook`` trigger
  of a workflow that is not archived; anything else is one 404. With ``secret_required`` the
  body is signed (``X-SMEFlow-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>``,
  ``X-SMEFlow-Timestamp`` within 5 minutes, constant-time compare; :func:`sign`), else 401 and
  nothing stored. The secret is sealed at rest and shown once, by
  :func:`rotate_webhook_secret`. An ``Idempotency-Key`` claims a unique trigger key: the same
  key within 24 h returns the first run. The run, its job and its audit event commit together
  (with the tenant's other runs accepted meanwhile, in one transaction: see :mod:`._accepts`)
  before the call is answered.
* Every run's start and end appends to its tenant's audit chain, whose head is locked until
  commit: the runs of a tenant accepted by webhook, or ending, at about the same time are
  written in one transaction per batch (group commit, :mod:`._batching`), each still with its
  own audit event in the same transaction as its change.
* Schedule trigger: publishing registers the version's schedules (``engine.schedules``); one
  ``smeflow.fire_schedule`` job per (workflow, fire time) (``schedule_at``, queueing lock
  :func:`fire_lock`) starts the run (input ``{}``, created by ``schedule:<cron>``) under the
  unique trigger key ``schedule:<fire time>`` and defers the next fire: exactly once with any
  number of workers, retries and restarts. Missed fire times fire once, for the latest; a job
  whose schedule is gone does nothing; the sweeper re-creates a missing fire job (see
  :mod:`smeflow.engine.runtime._schedules`).
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
from smeflow.engine.runtime._agent_tools import known_tools, tool_spec
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
from smeflow.engine.runtime._control import cancel_run, pause_run, resume_run, retry_run
from smeflow.engine.runtime._errors import SignatureInvalid, StepFailed, TransientStepError, UnsupportedNode
from smeflow.engine.runtime._events import Emitted, emit_event
from smeflow.engine.runtime._finishing import RUN_CHANNEL
from smeflow.engine.runtime._forms import FormFilter, answer_form, form_cursor, get_form, list_forms
from smeflow.engine.runtime._inputs import check_input
from smeflow.engine.runtime._jobs import EXECUTE_RUN, run_lock
from smeflow.engine.runtime._keys import idempotency_key, thread_id
from smeflow.engine.runtime._messages import (
    MessageSender,
    OutboundMessage,
    SendCall,
    SenderRegistry,
    SentMessage,
)
from smeflow.engine.runtime._money_guard import money_problems
from smeflow.engine.runtime._queue import MAX_JOBS_PER_RUN, SWEEP, RunQueue
from smeflow.engine.runtime._runs import get_run, list_events, list_runs, start_run
from smeflow.engine.runtime._runtime import ENGINE_SCHEMA, Runtime
from smeflow.engine.runtime._schedules import FIRE_SCHEDULE, Fired, fire_lock, fire_schedule
from smeflow.engine.runtime._stops import STOPS_CHANNEL, RunStopped, StopSignals
from smeflow.engine.runtime._tenant_agents import TenantAgents, agent_problems
from smeflow.engine.runtime._webhooks import (
    HookCall,
    HookResult,
    accept_hook,
    rotate_webhook_secret,
    sign,
)

__all__ = [
    "TenantAgents",
    "agent_problems",
    "known_tools",
    "tool_spec",
    "ENGINE_SCHEMA",
    "EXECUTE_RUN",
    "FIRE_SCHEDULE",
    "MAX_JOBS_PER_RUN",
    "RUN_CHANNEL",
    "STOPS_CHANNEL",
    "Emitted",
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
    "Fired",
    "HookCall",
    "HookResult",
    "FormFilter",
    "HttpRequestAction",
    "LogAction",
    "MessageSender",
    "OutboundMessage",
    "RulesAgent",
    "RunQueue",
    "RunState",
    "RunStopped",
    "Runtime",
    "SendCall",
    "SenderRegistry",
    "SentMessage",
    "SetAction",
    "SignatureInvalid",
    "StepContext",
    "StepFailed",
    "StopSignals",
    "TransientStepError",
    "UnsupportedNode",
    "money_problems",
    "accept_hook",
    "answer_form",
    "approval_cursor",
    "build_graph",
    "cancel_run",
    "check_input",
    "decide",
    "default_actions",
    "default_agents",
    "emit_event",
    "expire_due",
    "fire_lock",
    "fire_schedule",
    "form_cursor",
    "get_approval",
    "get_form",
    "get_run",
    "idempotency_key",
    "list_approvals",
    "list_events",
    "list_forms",
    "list_runs",
    "pause_run",
    "resume_run",
    "retry_run",
    "rotate_webhook_secret",
    "run_lock",
    "sign",
    "start_run",
    "thread_id",
]
