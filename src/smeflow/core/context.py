"""Ids of the work in progress (request, tenant, run, step), carried in context variables so
log lines and audit records are stamped without threading them through every call."""

from __future__ import annotations

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("smeflow_request_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("smeflow_tenant_id", default=None)
run_id_var: ContextVar[str | None] = ContextVar("smeflow_run_id", default=None)
step_id_var: ContextVar[str | None] = ContextVar("smeflow_step_id", default=None)

__all__ = ["request_id_var", "run_id_var", "step_id_var", "tenant_id_var"]
