"""The cost ledger and monthly budgets.

Key contracts:

* Every answer an agent gets from a model, or from the cache instead, is one ``llm_calls`` row:
  tokens as the provider reported them, latency, cost in millionths of a US dollar (from
  ``Settings.llm_prices``) and in the tenant's currency (``Settings.usd_rates``, minor units,
  rounded up). Cache hits cost 0 and are counted by their ``source``.
* The row and the month's counter (``llm_budgets``) change in one transaction. The first call that
  takes the month past ``llm_budget_warn_ratio`` of the limit audits ``llm.budget_warning``; the
  first that reaches the limit audits ``llm.budget_exhausted``. From then until the month ends the
  tenant's agents answer with offline understanding (:func:`budget_left` is 0).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.agents.models import LlmBudget, LlmCall
from smeflow.agents.schemas import UsageOut, UsageRow
from smeflow.audit import Actor, record
from smeflow.core import utcnow
from smeflow.core.money import exponent
from smeflow.settings import LlmPrice, Settings
from smeflow.tenancy.models import Tenant

LEDGER_ACTOR = Actor.system("agents")


@dataclass(frozen=True, slots=True)
class Spend:
    """One answer's use of a model."""

    provider: str
    model: str
    source: str  # model | cache_exact | cache_semantic
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    latency_ms: int = 0
    cost_micros: int = 0


def price_of(settings: Settings, provider: str, model: str) -> LlmPrice | None:
    return settings.llm_prices.get(f"{provider}:{model}")


def in_currency(settings: Settings, cost_micros: int, currency: str) -> tuple[int, str]:
    """``cost_micros`` in ``currency``'s minor units (rounded up), or in US cents when the rate is
    not known."""
    rate = settings.usd_rates.get(currency)
    if rate is None:
        currency, rate = "USD", "1"
    minor = Decimal(cost_micros) / Decimal(1_000_000) * Decimal(rate) * (Decimal(10) ** exponent(currency))
    return int(minor.to_integral_value(rounding=ROUND_CEILING)), currency


def month_of(at: datetime) -> date:
    return date(at.year, at.month, 1)


def tenant_limit(settings: Settings, tenant: Tenant) -> int:
    return settings.tier(tenant.tier).llm_budget_micros


@dataclass(frozen=True, slots=True)
class Budget:
    limit_micros: int
    spent_micros: int

    @property
    def left(self) -> int:
        return max(0, self.limit_micros - self.spent_micros)


async def tenant_budget(session: AsyncSession, settings: Settings, tenant: Tenant) -> Budget:
    """This month's limit and spend for the tenant."""
    spent = await session.scalar(
        select(LlmBudget.spent_micros).where(
            LlmBudget.tenant_id == tenant.id, LlmBudget.month == month_of(utcnow())
        )
    )
    return Budget(tenant_limit(settings, tenant), int(spent or 0))


async def agent_spent(session: AsyncSession, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> int:
    """What one agent spent this month."""
    start = month_of(utcnow())
    since = datetime(start.year, start.month, 1, tzinfo=utcnow().tzinfo)
    total = await session.scalar(
        select(func.coalesce(func.sum(LlmCall.cost_micros), 0)).where(
            LlmCall.tenant_id == tenant_id, LlmCall.agent_id == agent_id, LlmCall.at >= since
        )
    )
    return int(total or 0)


_COUNT = text(
    """INSERT INTO llm_budgets (tenant_id, month, spent_micros, limit_micros)
    VALUES (:tenant, :month, :cost, :limit)
    ON CONFLICT (tenant_id, month) DO UPDATE
       SET spent_micros = llm_budgets.spent_micros + EXCLUDED.spent_micros,
           limit_micros = EXCLUDED.limit_micros
    RETURNING spent_micros, limit_micros, warned_at, exhausted_at"""
)


async def record_call(
    session: AsyncSession,
    settings: Settings,
    tenant: Tenant,
    spend: Spend,
    *,
    agent_name: str,
    agent_id: uuid.UUID | None,
    run_id: uuid.UUID | None,
    node_id: str | None,
) -> Budget | None:
    """Add ``spend`` to the ledger and the month's counter (audit the warning and the exhaustion,
    once each); the month's budget after it (``None``: a spend of 0 left it as it was)."""
    now = utcnow()
    minor, currency = in_currency(settings, spend.cost_micros, tenant.currency)
    session.add(
        LlmCall(
            tenant_id=tenant.id,
            at=now,
            run_id=run_id,
            node_id=node_id,
            agent_id=agent_id,
            agent_name=agent_name,
            provider=spend.provider,
            model=spend.model,
            source=spend.source,
            input_tokens=spend.input_tokens,
            output_tokens=spend.output_tokens,
            cached_tokens=spend.cached_tokens,
            latency_ms=spend.latency_ms,
            cost_micros=spend.cost_micros,
            cost_minor=minor,
            currency=currency,
        )
    )
    month = month_of(now)
    limit = tenant_limit(settings, tenant)
    if spend.cost_micros == 0:  # a cache hit or a free model: the month's counter does not move
        await session.flush()
        return None
    spent, limit, warned_at, exhausted_at = (
        await session.execute(
            _COUNT, {"tenant": tenant.id, "month": month, "cost": spend.cost_micros, "limit": limit}
        )
    ).one()
    details = {"month": month.isoformat(), "spent_micros": int(spent), "limit_micros": int(limit)}
    if warned_at is None and spent >= math.ceil(limit * settings.llm_budget_warn_ratio) and limit > 0:
        await session.execute(
            text("UPDATE llm_budgets SET warned_at = :now WHERE tenant_id = :t AND month = :m"),
            {"now": now, "t": tenant.id, "m": month},
        )
        await record(
            session, tenant.id, LEDGER_ACTOR, "llm.budget_warning", "tenant", str(tenant.id), details
        )
    if exhausted_at is None and spent >= limit:
        await session.execute(
            text("UPDATE llm_budgets SET exhausted_at = :now WHERE tenant_id = :t AND month = :m"),
            {"now": now, "t": tenant.id, "m": month},
        )
        await record(
            session,
            tenant.id,
            LEDGER_ACTOR,
            "llm.budget_exhausted",
            "tenant",
            str(tenant.id),
            details | {"fallback": "offline understanding until the month ends"},
        )
    await session.flush()
    return Budget(int(limit), int(spent))


def _row(key: str, r: Sequence[Any]) -> UsageRow:
    calls, hits, tin, tout, tcached, micros, minor = r
    return UsageRow(
        key=key,
        calls=int(calls or 0),
        cache_hits=int(hits or 0),
        input_tokens=int(tin or 0),
        output_tokens=int(tout or 0),
        cached_tokens=int(tcached or 0),
        cost_micros=int(micros or 0),
        cost_minor=int(minor or 0),
    )


async def usage(
    session: AsyncSession, settings: Settings, tenant: Tenant, since: date, until: date
) -> UsageOut:
    """Totals of the tenant's model use from ``since`` to ``until`` (inclusive, UTC days), by day,
    agent and model, with this month's budget."""
    start = datetime(since.year, since.month, since.day, tzinfo=utcnow().tzinfo)
    end = datetime(until.year, until.month, until.day, tzinfo=utcnow().tzinfo) + timedelta(days=1)
    measures = (
        func.count(),
        func.count().filter(LlmCall.source != "model"),
        func.sum(LlmCall.input_tokens),
        func.sum(LlmCall.output_tokens),
        func.sum(LlmCall.cached_tokens),
        func.sum(LlmCall.cost_micros),
        func.sum(LlmCall.cost_minor),
    )
    where = (LlmCall.tenant_id == tenant.id, LlmCall.at >= start, LlmCall.at < end)
    total = (await session.execute(select(*measures).where(*where))).one()
    day = func.date(func.timezone("UTC", LlmCall.at))
    by_day = (await session.execute(select(day, *measures).where(*where).group_by(day).order_by(day))).all()
    by_agent = (
        await session.execute(
            select(LlmCall.agent_name, *measures)
            .where(*where)
            .group_by(LlmCall.agent_name)
            .order_by(LlmCall.agent_name)
        )
    ).all()
    model = LlmCall.provider + ":" + LlmCall.model
    by_model = (
        await session.execute(select(model, *measures).where(*where).group_by(model).order_by(model))
    ).all()
    budget = await tenant_budget(session, settings, tenant)
    return UsageOut(
        since=since,
        until=until,
        currency=in_currency(settings, 0, tenant.currency)[1],
        total=_row("total", total),
        by_day=[_row(str(r[0]), r[1:]) for r in by_day],
        by_agent=[_row(str(r[0]), r[1:]) for r in by_agent],
        by_model=[_row(str(r[0]), r[1:]) for r in by_model],
        budget_micros=budget.limit_micros,
        spent_this_month_micros=budget.spent_micros,
        offline_only=budget.left == 0,
    )


__all__ = [
    "LEDGER_ACTOR",
    "Budget",
    "Spend",
    "agent_spent",
    "in_currency",
    "month_of",
    "price_of",
    "record_call",
    "tenant_budget",
    "tenant_limit",
    "usage",
]
