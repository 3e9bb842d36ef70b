"""Human approvals: a pending decision of a waiting run, with what the person deciding needs to see
(a tenant table under RLS); the casbin rules ``approvals:read`` (viewer) and ``approvals:decide``
(staff; the approval's own ``role`` is checked by the service).

Revision ID: 0004_approvals
Revises: 0003_runs
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004_approvals"
down_revision = "0003_runs"
branch_labels = None
depends_on = None

RULES = [
    ("p", "viewer", "*", "approvals", "read"),
    ("p", "staff", "*", "approvals", "decide"),
]


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute(
        """CREATE TABLE approvals (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            run_id uuid NOT NULL,
            node_id text NOT NULL,
            title text NOT NULL,
            details jsonb NOT NULL,
            role text NOT NULL,
            status text NOT NULL,
            decided_by text,
            decided_at timestamptz,
            comment text,
            due_at timestamptz,
            default_outcome text NOT NULL,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_approvals PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_approvals_tenant_id_run_id_node_id UNIQUE (tenant_id, run_id, node_id),
            CONSTRAINT fk_approvals_tenant_id_runs FOREIGN KEY (tenant_id, run_id)
                REFERENCES runs (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_approvals_status CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
            CONSTRAINT ck_approvals_role CHECK (role IN ('owner', 'admin', 'staff')),
            CONSTRAINT ck_approvals_default_outcome CHECK (default_outcome IN ('approve', 'reject'))
        )"""
    )
    op.execute("ALTER TABLE approvals ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE approvals FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON approvals "
        "USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )
    # The sweeper (no tenant bound) finds pending approvals past their due time in every tenant:
    # the platform scope may read pending approvals that have a due time, and nothing else.
    op.execute(
        "CREATE POLICY sweep_due ON approvals FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'pending' AND due_at IS NOT NULL)"
    )
    op.execute("CREATE INDEX ix_approvals_due ON approvals (due_at) WHERE status = 'pending'")
    op.execute("CREATE INDEX ix_approvals_status ON approvals (tenant_id, status, id)")
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON approvals TO "{app_role}"')

    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    op.execute("DROP TABLE IF EXISTS approvals")
