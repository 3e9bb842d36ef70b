"""Webhook triggers: another system starts a run by calling the workflow's webhook URL.

Key contracts:

* **Who may call**: the workflow's newest published version must have a ``webhook`` trigger and
  the workflow must not be archived; otherwise, and for an unknown or inactive tenant or an
  unknown workflow, the answer is the same :class:`NotFound` (nothing says which it was).
* **Signature** (when the trigger has ``secret_required``): the caller sends
  ``X-SMEFlow-Timestamp: <unix seconds>`` and ``X-SMEFlow-Signature: sha256=<hex>``, the
  HMAC-SHA256 of ``<timestamp>.<raw body>`` keyed with the workflow's webhook secret
  (:func:`sign`). It is compared in constant time; a timestamp more than
  :data:`MAX_CLOCK_SKEW` from ours is refused (a replayed request). Anything wrong is
  :class:`SignatureInvalid` (401) and nothing is stored. The signature is checked before the
  body is read as JSON, so an unsigned caller learns nothing about the workflow's input; and
  before the tenant's rate limit (``admit``), so forged calls never use up the tenant's quota.
* **Secret**: one per workflow, made (or replaced) only by :func:`rotate_webhook_secret`, which
  returns it that once; stored sealed (purpose ``webhook-secret``, bound to tenant + workflow).
  A replaced secret stops working at once.
* **Input**: the JSON body (an object; empty: ``{}``) is the run's input, checked against the
  input schema (422 listing every problem; invalid JSON is 400).
* **Idempotency**: an ``Idempotency-Key`` claims the trigger key ``hook:<key>`` of the workflow
  (unique; an upsert, not a read-then-insert); the same key within :data:`KEY_LIFETIME` gives
  back the first run (``created=False``) and starts nothing; after that it starts a new run.
* **Transactions**: the checks in one: the tenant by slug (auth scope), then, bound to the tenant,
  the workflow with its newest version's triggers and its sealed secret in one query, and the
  input. With a queue and no ``Idempotency-Key`` they write nothing, and the run, its job and its
  audit record are stored by the queue's batch of the tenant's runs accepted meanwhile (one
  transaction for all of them, see :mod:`._accepts`); the call is answered once they have
  committed. With a key (or no queue) the key, the run, its audit record and its job are written
  in the checks' transaction. Nothing is cached: a cache would have to be dropped in every API
  process on publish, rename, archive, rotation and tenant changes, and the three reads cost
  less than the run's own writes.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.core import new_id, new_token, utcnow
from smeflow.core.context import request_id_var, tenant_id_var
from smeflow.core.sealing import seal, unseal
from smeflow.db import Database, DbScope, bind_scope
from smeflow.engine.models import Workflow, WorkflowVersion
from smeflow.engine.run_models import Run
from smeflow.engine.runtime._accepts import Accepting
from smeflow.engine.runtime._errors import SignatureInvalid
from smeflow.engine.runtime._inputs import check_input
from smeflow.engine.runtime._runs import accept_run
from smeflow.engine.runtime._schedules import KEY_LIFETIME
from smeflow.engine.trigger_models import TriggerKey, WebhookSecret
from smeflow.engine.workflows import get_workflow
from smeflow.errors import Conflict, FieldProblem, MalformedRequest, NotFound, ValidationFailed
from smeflow.identity import Principal
from smeflow.settings import Settings
from smeflow.tenancy.models import Tenant

if TYPE_CHECKING:
    from smeflow.engine.runtime._queue import RunQueue

WEBHOOK_PURPOSE = "webhook-secret"
SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix of every secret, not a secret)
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
WEBHOOK_ACTOR = Actor.system("webhook")
_NO_HOOK = "No such webhook"

#: called once the call is known to be the tenant's (signed, if the trigger says so), before
#: anything is written: the API's per-tenant rate limit
Admit = Callable[[uuid.UUID, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HookCall:
    """One call of a webhook URL, as received."""

    tenant_slug: str
    workflow: str  # the workflow's id or its name
    body: bytes
    timestamp: str | None = None
    signature: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class HookResult:
    """The run a call started (``created``) or, for a repeated Idempotency-Key, the first one."""

    run_id: uuid.UUID
    status: str
    created: bool


def _aad(tenant_id: uuid.UUID, workflow_id: uuid.UUID) -> bytes:
    return tenant_id.bytes + workflow_id.bytes


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-SMEFlow-Signature`` of ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str | None, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> None:
    """:class:`SignatureInvalid` unless ``signature`` signs ``body`` at ``timestamp`` with
    ``secret`` and ``timestamp`` is within :data:`MAX_CLOCK_SKEW` of ``now``."""
    if secret is None:
        raise SignatureInvalid(
            "This webhook takes signed requests only, and its secret has not been made yet: "
            "an admin of the workflow makes it (POST /api/v1/workflows/{id}/webhook-secret)"
        )
    if not timestamp or not signature:
        raise SignatureInvalid(
            "Sign the request: send the X-SMEFlow-Timestamp and X-SMEFlow-Signature headers"
        )
    try:
        sent = int(timestamp.strip())
    except ValueError:
        raise SignatureInvalid("X-SMEFlow-Timestamp must be a time in Unix seconds") from None
    if abs(now.timestamp() - sent) > MAX_CLOCK_SKEW.total_seconds():
        raise SignatureInvalid(
            "The request's timestamp is more than 5 minutes away from our clock: "
            "a replayed request, or the sender's clock is wrong"
        )
    expected = sign(secret, sent, body).encode()
    given = signature.strip().encode("utf-8", "replace")
    if not hmac.compare_digest(given, expected):
        raise SignatureInvalid("The signature does not match the body (sha256=<hex HMAC of timestamp.body>)")


def _secret(
    settings: Settings, tenant_id: uuid.UUID, workflow_id: uuid.UUID, sealed: bytes | None
) -> str | None:
    if sealed is None:
        return None
    key = settings.secret_key.get_secret_value()
    return unseal(key, WEBHOOK_PURPOSE, sealed, _aad(tenant_id, workflow_id)).decode()


def _webhook_trigger(triggers: Any) -> dict[str, Any] | None:
    for trigger in triggers if isinstance(triggers, list) else []:
        if isinstance(trigger, dict) and trigger.get("kind") == "webhook":
            return trigger
    return None


def _workflow_ref(ref: str) -> Any:
    try:
        return Workflow.id == uuid.UUID(ref)
    except ValueError:
        return Workflow.name == ref


def _nul_problem(value: Any, path: str) -> str | None:
    """Where ``value`` holds a NUL character (PostgreSQL cannot store it), or ``None``."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return path
            if found := _nul_problem(item, f"{path}.{key}"):
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if found := _nul_problem(item, f"{path}[{index}]"):
                return found
    return None


def parse_body(body: bytes) -> dict[str, Any]:
    """The run's input from a webhook body: a JSON object (an empty body is ``{}``)."""
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(
            "The body is not valid JSON",
            fields=[FieldProblem("body", f"malformed JSON: {exc}", "json_invalid")],
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The body must be a JSON object: it is the run's input",
            fields=[FieldProblem("body", "must be a JSON object", "type")],
        )
    if (where := _nul_problem(data, "body")) is not None:
        raise ValidationFailed(
            "Text in the body must not contain NUL characters",
            fields=[FieldProblem(where, "must not contain NUL characters", "invalid")],
        )
    return data


def _check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValidationFailed(
            f"The Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            fields=[FieldProblem("header.Idempotency-Key", "not a usable key", "invalid")],
        )
    return key


async def _claim(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
    key: str,
    run_id: uuid.UUID,
    now: datetime,
) -> HookResult | None:
    """Claim ``hook:<key>`` for ``run_id``; the first run if the key was used within the key
    lifetime (``None``: claimed)."""
    stmt = insert(TriggerKey).values(
        tenant_id=tenant_id, workflow_id=workflow_id, key=f"hook:{key}", run_id=run_id, created_at=now
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[TriggerKey.tenant_id, TriggerKey.workflow_id, TriggerKey.key],
        set_={"run_id": stmt.excluded.run_id, "created_at": stmt.excluded.created_at},
        where=TriggerKey.created_at < now - KEY_LIFETIME,  # an expired key starts a new run
    ).returning(TriggerKey.run_id)
    if (await session.execute(upsert)).scalar_one_or_none() == run_id:
        return None
    first = (
        await session.execute(
            select(Run.id, Run.status)
            .join(TriggerKey, and_(TriggerKey.tenant_id == Run.tenant_id, TriggerKey.run_id == Run.id))
            .where(
                TriggerKey.tenant_id == tenant_id,
                TriggerKey.workflow_id == workflow_id,
                TriggerKey.key == f"hook:{key}",
            )
        )
    ).one()
    return HookResult(first[0], first[1], created=False)


async def accept_hook(
    db: Database,
    settings: Settings,
    call: HookCall,
    *,
    queue: RunQueue | None = None,
    admit: Admit | None = None,
    now: datetime | None = None,
) -> HookResult:
    """Start a run of the webhook's workflow from ``call`` (see the module docstring for what is
    refused, and in which order); with ``queue`` the run's job is written in the same transaction."""
    moment = now or utcnow()
    key = _check_key(call.idempotency_key)
    async with db.transaction(DbScope.auth()) as session:
        tenant = (
            await session.execute(
                select(Tenant.id, Tenant.tier).where(
                    Tenant.slug == call.tenant_slug, Tenant.status == "active"
                )
            )
        ).one_or_none()
        if tenant is None:
            raise NotFound(_NO_HOOK)
        tenant_id, tier = tenant
        await bind_scope(session, DbScope.tenant(tenant_id))
        tenant_id_var.set(str(tenant_id))
        found = (
            await session.execute(
                select(
                    Workflow.id,
                    Workflow.latest_version,
                    WorkflowVersion.definition["triggers"],
                    WebhookSecret.sealed,
                )
                .join(
                    WorkflowVersion,
                    and_(
                        WorkflowVersion.tenant_id == Workflow.tenant_id,
                        WorkflowVersion.workflow_id == Workflow.id,
                        WorkflowVersion.version == Workflow.latest_version,
                    ),
                )
                .outerjoin(
                    WebhookSecret,
                    and_(
                        WebhookSecret.tenant_id == Workflow.tenant_id,
                        WebhookSecret.workflow_id == Workflow.id,
                    ),
                )
                .where(
                    Workflow.tenant_id == tenant_id,
                    Workflow.status != "archived",
                    _workflow_ref(call.workflow),
                )
            )
        ).one_or_none()
        trigger = _webhook_trigger(found[2]) if found is not None else None
        if found is None or trigger is None:
            raise NotFound(_NO_HOOK)
        workflow_id, version, _, sealed = found
        signed = trigger.get("secret_required", True) is not False
        if signed:
            secret = _secret(settings, tenant_id, workflow_id, sealed)
            verify_signature(secret, call.timestamp, call.signature, call.body, moment)
        if admit is not None:  # after the signature: forged calls never use up the tenant's rate
            await admit(tenant_id, tier)
        data = parse_body(call.body)
        run_id = new_id()
        created_by = "webhook:signed" if signed else "webhook:unsigned"
        details = {"trigger": "webhook", "idempotency_key": key}
        if key is not None and (first := await _claim(session, tenant_id, workflow_id, key, run_id, moment)):
            return first
        await check_input(session, tenant_id, workflow_id, version, data)
        if queue is not None and key is None:  # stored in the tenant's next batch, below
            accepting = Accepting(
                run_id,
                workflow_id,
                version,
                data,
                WEBHOOK_ACTOR,
                created_by,
                utcnow(),
                details,
                request_id_var.get(),
            )
        else:
            run = await accept_run(
                session,
                WEBHOOK_ACTOR,
                tenant_id,
                workflow_id,
                version,
                data,
                queue=queue,
                run_id=run_id,
                created_by=created_by,
                details=details,
            )
            return HookResult(run.id, run.status, created=True)
    # The checks wrote nothing; the run, its job and its audit event commit together, now.
    assert queue is not None
    return HookResult(await queue.accepts.submit(tenant_id, accepting), "queued", created=True)


async def rotate_webhook_secret(
    session: AsyncSession,
    settings: Settings,
    actor: Principal | Actor,
    tenant_id: uuid.UUID,
    workflow_id: uuid.UUID,
) -> tuple[str, WebhookSecret]:
    """Make the workflow's webhook secret (or replace it: the old one stops working at once);
    returns it in clear, the only time it is shown, with its (sealed) row. Audited
    ``workflow.webhook_secret_rotated`` (never the secret). :class:`NotFound` for another
    tenant's or an unknown workflow; :class:`Conflict` for an archived one."""
    if isinstance(actor, Principal) and actor.tenant_id != tenant_id:
        raise NotFound("No such workflow")
    workflow = await get_workflow(session, tenant_id, workflow_id)
    if workflow.status == "archived":
        raise Conflict("The workflow is archived: it takes no more webhook calls")
    who = actor.actor if isinstance(actor, Principal) else actor
    secret = SECRET_PREFIX + new_token(32)
    sealed = seal(
        settings.secret_key.get_secret_value(), WEBHOOK_PURPOSE, secret.encode(), _aad(tenant_id, workflow_id)
    )
    row = (
        await session.execute(
            select(WebhookSecret)
            .where(WebhookSecret.tenant_id == tenant_id, WebhookSecret.workflow_id == workflow_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    first = row is None
    if row is None:
        row = WebhookSecret(tenant_id=tenant_id, workflow_id=workflow_id)
        session.add(row)
    row.sealed, row.created_at, row.created_by = sealed, utcnow(), f"{who.type}:{who.id}"
    await session.flush()
    await record(
        session,
        tenant_id,
        who,
        "workflow.webhook_secret_rotated",
        "workflow",
        str(workflow_id),
        {"first": first},
    )
    return secret, row


__all__ = [
    "MAX_CLOCK_SKEW",
    "SECRET_PREFIX",
    "WEBHOOK_PURPOSE",
    "Admit",
    "HookCall",
    "HookResult",
    "accept_hook",
    "parse_body",
    "rotate_webhook_secret",
    "sign",
    "verify_signature",
]
