"""Workflow triggers: webhook secrets (sealed), registered schedules with their next fire time, and
the keys that make a webhook call or a schedule's fire time start one run (tenant tables under
RLS). The sweeper (platform scope, no tenant bound) may read the schedules (to re-create a missing
fire job) and read and delete trigger keys older than 24 hours, and nothing else of them.

Revision ID: 0008_triggers
Revises: 0007_events
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0008_triggers"
down_revision = "0007_events"
branch_labels = None
depends_on = None

_OLD_KEY = "smeflow_scope() = 'platform' AND created_at < now() - interval '24 hours'"


def _tenant_rls(table: str) -> None:
    """Row-level security, enabled and forced (the same policy as the other tenant tables)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute(
        """CREATE TABLE webhook_secrets (
            tenant_id uuid NOT NULL,
            workflow_id uuid NOT NULL,
            sealed bytea NOT NULL,
            created_at timestamptz NOT NULL,
            created_by text NOT NULL,
            CONSTRAINT pk_webhook_secrets PRIMARY KEY (tenant_id, workflow_id),
            CONSTRAINT fk_webhook_secrets_tenant_id_workflows FOREIGN KEY (tenant_id, workflow_id)
                REFERENCES workflows (tenant_id, id) ON DELETE CASCADE
        )"""
    )
    _tenant_rls("webhook_secrets")

    op.execute(
        """CREATE TABLE workflow_schedules (
            tenant_id uuid NOT NULL,
            workflow_id uuid NOT NULL,
            trigger_index integer NOT NULL,
            version integer NOT NULL,
            cron text NOT NULL,
            timezone text,
            next_fire_at timestamptz NOT NULL,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_workflow_schedules PRIMARY KEY (tenant_id, workflow_id, trigger_index),
            CONSTRAINT fk_workflow_schedules_tenant_id_workflows FOREIGN KEY (tenant_id, workflow_id)
                REFERENCES workflows (tenant_id, id) ON DELETE CASCADE
        )"""
    )
    _tenant_rls("workflow_schedules")
    op.execute(
        "CREATE POLICY sweep_schedules ON workflow_schedules FOR SELECT USING (smeflow_scope() = 'platform')"
    )
    op.execute("CREATE INDEX ix_workflow_schedules_next_fire_at ON workflow_schedules (next_fire_at)")

    op.execute(
        """CREATE TABLE trigger_keys (
            tenant_id uuid NOT NULL,
            workflow_id uuid NOT NULL,
            key text NOT NULL,
            run_id uuid NOT NULL,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_trigger_keys PRIMARY KEY (tenant_id, workflow_id, key),
            CONSTRAINT fk_trigger_keys_tenant_id_runs FOREIGN KEY (tenant_id, run_id)
                REFERENCES runs (tenant_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
        )"""
    )
    _tenant_rls("trigger_keys")
    op.execute(f"CREATE POLICY sweep_old_read ON trigger_keys FOR SELECT USING ({_OLD_KEY})")
    op.execute(f"CREATE POLICY sweep_old_delete ON trigger_keys FOR DELETE USING ({_OLD_KEY})")
    op.execute("CREATE INDEX ix_trigger_keys_created_at ON trigger_keys (created_at)")

    grants = {
        "webhook_secrets": "SELECT, INSERT, UPDATE",  # rotated in place, never deleted
        "workflow_schedules": "SELECT, INSERT, UPDATE, DELETE",  # replaced on every publish
        "trigger_keys": "SELECT, INSERT, UPDATE, DELETE",  # reused after 24 h, then pruned
    }
    for table, privileges in grants.items():
        op.execute(f'GRANT {privileges} ON {table} TO "{app_role}"')


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for table in ("trigger_keys", "workflow_schedules", "webhook_secrets"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
