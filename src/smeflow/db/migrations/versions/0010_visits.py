"""An approval step in a loop asks again on every pass: approvals are unique per run, node and
visit of the node (the visit count is part of the run's state), not per run and node.

Revision ID: 0010_visits
Revises: 0009_control
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0010_visits"
down_revision = "0009_control"
branch_labels = None
depends_on = None


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("ALTER TABLE approvals ADD COLUMN visit integer NOT NULL DEFAULT 1 CHECK (visit >= 1)")
    op.execute("ALTER TABLE approvals DROP CONSTRAINT uq_approvals_tenant_id_run_id_node_id")
    op.execute(
        "ALTER TABLE approvals ADD CONSTRAINT uq_approvals_tenant_id_run_id_node_id_visit "
        "UNIQUE (tenant_id, run_id, node_id, visit)"
    )


def downgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("DELETE FROM approvals WHERE visit > 1")
    op.execute("ALTER TABLE approvals DROP CONSTRAINT uq_approvals_tenant_id_run_id_node_id_visit")
    op.execute(
        "ALTER TABLE approvals ADD CONSTRAINT uq_approvals_tenant_id_run_id_node_id "
        "UNIQUE (tenant_id, run_id, node_id)"
    )
    op.execute("ALTER TABLE approvals DROP COLUMN visit")
