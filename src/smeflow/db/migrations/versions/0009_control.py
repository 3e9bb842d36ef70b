"""Run control, limits and ordering: a ``paused`` run status; on ``runs`` the ``order_key`` (runs of
one key execute one at a time, in the order they were accepted), a pending ``stop_request``
(``cancel`` / ``pause`` of a running run, applied at its next step boundary) with who asked and
when (``stopped_by`` / ``stopped_at``), and ``recoveries`` (how often the sweeper had to take the
run over from a dead worker or a failed job; capped); an approval closed by its run's
cancellation is ``cancelled``; the casbin rule ``runs:control`` (admin: cancel, pause, resume,
retry). Indexes for the per-tenant admission of runs (running runs of a tenant, its queued runs
in order, the unfinished runs of one key).

Revision ID: 0009_control
Revises: 0008_triggers
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0009_control"
down_revision = "0008_triggers"
branch_labels = None
depends_on = None

RULES = [("p", "admin", "*", "runs", "control")]

RUN_STATUSES = "'queued', 'running', 'waiting', 'paused', 'succeeded', 'failed', 'cancelled'"
OLD_RUN_STATUSES = "'queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'"
APPROVAL_STATUSES = "'pending', 'approved', 'rejected', 'expired', 'cancelled'"
OLD_APPROVAL_STATUSES = "'pending', 'approved', 'rejected', 'expired'"


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("ALTER TABLE runs DROP CONSTRAINT ck_runs_status")
    op.execute(f"ALTER TABLE runs ADD CONSTRAINT ck_runs_status CHECK (status IN ({RUN_STATUSES}))")
    op.execute(
        """ALTER TABLE runs
            ADD COLUMN order_key text,
            ADD COLUMN stop_request text,
            ADD COLUMN stopped_by text,
            ADD COLUMN stopped_at timestamptz,
            ADD COLUMN recoveries integer NOT NULL DEFAULT 0,
            ADD CONSTRAINT ck_runs_stop_request CHECK (stop_request IN ('cancel', 'pause'))"""
    )
    op.execute("CREATE INDEX ix_runs_running ON runs (tenant_id) WHERE status = 'running'")
    op.execute("CREATE INDEX ix_runs_tenant_queued ON runs (tenant_id, created_at) WHERE status = 'queued'")
    op.execute(
        "CREATE INDEX ix_runs_order_key ON runs (tenant_id, order_key, created_at) "
        "WHERE order_key IS NOT NULL AND status IN ('queued', 'running')"
    )

    op.execute("ALTER TABLE approvals DROP CONSTRAINT ck_approvals_status")
    op.execute(
        f"ALTER TABLE approvals ADD CONSTRAINT ck_approvals_status CHECK (status IN ({APPROVAL_STATUSES}))"
    )

    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    op.execute("UPDATE approvals SET status = 'rejected' WHERE status = 'cancelled'")
    op.execute("ALTER TABLE approvals DROP CONSTRAINT ck_approvals_status")
    op.execute(
        "ALTER TABLE approvals ADD CONSTRAINT ck_approvals_status "
        f"CHECK (status IN ({OLD_APPROVAL_STATUSES}))"
    )
    op.execute("DROP INDEX IF EXISTS ix_runs_order_key")
    op.execute("DROP INDEX IF EXISTS ix_runs_tenant_queued")
    op.execute("DROP INDEX IF EXISTS ix_runs_running")
    op.execute("UPDATE runs SET status = 'queued' WHERE status = 'paused'")
    op.execute(
        """ALTER TABLE runs
            DROP CONSTRAINT ck_runs_stop_request,
            DROP COLUMN recoveries,
            DROP COLUMN stopped_at,
            DROP COLUMN stopped_by,
            DROP COLUMN stop_request,
            DROP COLUMN order_key"""
    )
    op.execute("ALTER TABLE runs DROP CONSTRAINT ck_runs_status")
    op.execute(f"ALTER TABLE runs ADD CONSTRAINT ck_runs_status CHECK (status IN ({OLD_RUN_STATUSES}))")
