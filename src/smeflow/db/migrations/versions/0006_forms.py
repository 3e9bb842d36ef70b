"""Forms: the questions a waiting run asks a person and their answers (a tenant table under RLS);
the casbin rules ``forms:read`` (viewer) and ``forms:answer`` (staff). The sweeper (platform
scope) may read pending forms, to tell a run waiting for answers from one waiting for a time.

Revision ID: 0006_forms
Revises: 0005_waits
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0006_forms"
down_revision = "0005_waits"
branch_labels = None
depends_on = None

RULES = [
    ("p", "viewer", "*", "forms", "read"),
    ("p", "staff", "*", "forms", "answer"),
]


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute(
        """CREATE TABLE forms (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            run_id uuid NOT NULL,
            node_id text NOT NULL,
            visit integer NOT NULL DEFAULT 1 CHECK (visit >= 1),
            title text,
            fields jsonb NOT NULL,
            status text NOT NULL,
            answers jsonb,
            answered_by text,
            answered_at timestamptz,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_forms PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_forms_tenant_id_run_id_node_id_visit UNIQUE (tenant_id, run_id, node_id, visit),
            CONSTRAINT fk_forms_tenant_id_runs FOREIGN KEY (tenant_id, run_id)
                REFERENCES runs (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_forms_status CHECK (status IN ('pending', 'answered'))
        )"""
    )
    op.execute("ALTER TABLE forms ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE forms FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON forms "
        "USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )
    op.execute(
        "CREATE POLICY sweep_pending ON forms FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'pending')"
    )
    op.execute("CREATE INDEX ix_forms_status ON forms (tenant_id, status, id)")
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON forms TO "{app_role}"')

    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    op.execute("DROP TABLE IF EXISTS forms")
