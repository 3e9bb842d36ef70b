"""Durable wait steps: the sweeper (platform scope, no tenant bound) finds runs ``waiting`` at a
wait step whose wake-up job went missing. It may read waiting runs (besides queued ones) and pending
approvals (to tell a run waiting for a person from one waiting for a time), and nothing else.

Revision ID: 0005_waits
Revises: 0004_approvals
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0005_waits"
down_revision = "0004_approvals"
branch_labels = None
depends_on = None


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute(
        "CREATE POLICY sweep_waiting ON runs FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'waiting')"
    )
    op.execute(
        "CREATE POLICY sweep_pending ON approvals FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'pending')"
    )
    op.execute("CREATE INDEX ix_runs_waiting ON runs (created_at) WHERE status = 'waiting'")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("DROP INDEX IF EXISTS ix_runs_waiting")
    op.execute("DROP POLICY IF EXISTS sweep_pending ON approvals")
    op.execute("DROP POLICY IF EXISTS sweep_waiting ON runs")
