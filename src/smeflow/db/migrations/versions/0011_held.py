"""Runs held back by admission are marked (``held_at``), so the end of a run kicks only the runs
that wait for a slot or their turn, not every queued run of its tenant (each of which already has
its job): the kick stays one indexed read however many runs are queued.

Revision ID: 0011_held
Revises: 0010_visits
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0011_held"
down_revision = "0010_visits"
branch_labels = None
depends_on = None


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("ALTER TABLE runs ADD COLUMN held_at timestamptz")
    op.execute(
        "CREATE INDEX ix_runs_held ON runs (tenant_id, created_at) "
        "WHERE held_at IS NOT NULL AND status = 'queued'"
    )


def downgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("DROP INDEX IF EXISTS ix_runs_held")
    op.execute("ALTER TABLE runs DROP COLUMN held_at")
