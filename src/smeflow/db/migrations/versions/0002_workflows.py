"""Versioned workflows: a tenant's workflows (each with its editable draft) and their published,
immutable versions; the permissions to read, edit and publish them.

Revision ID: 0002_workflows
Revises: 0001_spine
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002_workflows"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

# (ptype, subject, domain, object, action), as in 0001: viewers (and so everyone above them)
# read workflows; admins (and owners) edit drafts, publish and archive.
RULES = [
    ("p", "viewer", "*", "workflows", "read"),
    ("p", "admin", "*", "workflows", "write"),
    ("p", "admin", "*", "workflows", "publish"),
]


def _tenant_rls(table: str) -> None:
    """Row-level security, enabled and forced: a transaction sees only the bound tenant's rows
    (the same policy as 0001's tenant tables)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )


def upgrade(app_role: str, app_password: str | None = None) -> None:
    # The draft lives on the workflow row (edited in place); published versions are rows of
    # their own that the application may insert and read but never change or delete.
    op.execute(
        """CREATE TABLE workflows (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL,
            name text NOT NULL,
            description text NOT NULL,
            status text NOT NULL,
            draft_definition jsonb NOT NULL,
            latest_version integer,
            created_at timestamptz NOT NULL,
            created_by text NOT NULL,
            updated_at timestamptz NOT NULL,
            updated_by text NOT NULL,
            CONSTRAINT pk_workflows PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_workflows_name UNIQUE (tenant_id, name),
            CONSTRAINT ck_workflows_status CHECK (status IN ('draft', 'active', 'archived')),
            CONSTRAINT ck_workflows_latest_version CHECK (latest_version IS NULL OR latest_version >= 1)
        )"""
    )
    _tenant_rls("workflows")

    op.execute(
        """CREATE TABLE workflow_versions (
            tenant_id uuid NOT NULL,
            workflow_id uuid NOT NULL,
            version integer NOT NULL,
            definition jsonb NOT NULL,
            published_at timestamptz NOT NULL,
            published_by text NOT NULL,
            note text NOT NULL,
            CONSTRAINT pk_workflow_versions PRIMARY KEY (tenant_id, workflow_id, version),
            CONSTRAINT fk_workflow_versions_tenant_id_workflows FOREIGN KEY (tenant_id, workflow_id)
                REFERENCES workflows (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_workflow_versions_version CHECK (version >= 1)
        )"""
    )
    _tenant_rls("workflow_versions")

    grants = {
        "workflows": "SELECT, INSERT, UPDATE",  # archived, never deleted
        "workflow_versions": "SELECT, INSERT",  # immutable once published: runs pin them
    }
    for table, privileges in grants.items():
        op.execute(f'GRANT {privileges} ON {table} TO "{app_role}"')

    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    op.execute("DROP TABLE IF EXISTS workflow_versions")
    op.execute("DROP TABLE IF EXISTS workflows")
