"""Internal events, event waits and sub-workflows: the tenant tables ``events`` (what happened,
with a key for deduplication), ``event_waits`` (what a waiting run's step waits for) and
``event_deliveries`` (an event handed to a waiting step), all under forced RLS; the link of a
sub-workflow run to its parent (``runs.parent_run_id`` / ``parent_node_id``, one child per parent
step); the casbin rule ``events:emit`` (admin).

The sweeper (platform scope, no tenant bound) must tell a run waiting for an event or a child run
from one whose wake-up job went missing: it may read open event waits, and the unfinished runs
that have a parent (besides the queued and waiting runs 0003 and 0005 let it read), and nothing
else of them.

Revision ID: 0007_events
Revises: 0006_forms
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007_events"
down_revision = "0006_forms"
branch_labels = None
depends_on = None

RULES = [
    ("p", "admin", "*", "events", "emit"),
]


def _tenant_rls(table: str) -> None:
    """Row-level security, enabled and forced (the same policy as 0001's tenant tables)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("ALTER TABLE runs ADD COLUMN parent_run_id uuid, ADD COLUMN parent_node_id text")
    op.execute(
        "ALTER TABLE runs ADD CONSTRAINT fk_runs_tenant_id_runs FOREIGN KEY (tenant_id, parent_run_id) "
        "REFERENCES runs (tenant_id, id) ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE runs ADD CONSTRAINT uq_runs_tenant_id_parent_run_id_parent_node_id "
        "UNIQUE (tenant_id, parent_run_id, parent_node_id)"
    )
    op.execute(
        "CREATE POLICY sweep_children ON runs FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND parent_run_id IS NOT NULL"
        " AND status IN ('queued', 'running', 'waiting'))"
    )

    op.execute(
        """CREATE TABLE events (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL,
            name text NOT NULL,
            payload jsonb NOT NULL,
            key text,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_events PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_events_tenant_id_key UNIQUE (tenant_id, key)
        )"""
    )
    _tenant_rls("events")

    op.execute(
        """CREATE TABLE event_waits (
            tenant_id uuid NOT NULL,
            run_id uuid NOT NULL,
            node_id text NOT NULL,
            event_name text NOT NULL,
            match text,
            status text NOT NULL,
            opened_at timestamptz NOT NULL,
            due_at timestamptz,
            event_id uuid,
            closed_at timestamptz,
            CONSTRAINT pk_event_waits PRIMARY KEY (tenant_id, run_id, node_id),
            CONSTRAINT fk_event_waits_tenant_id_runs FOREIGN KEY (tenant_id, run_id)
                REFERENCES runs (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_event_waits_status CHECK (status IN ('open', 'closed'))
        )"""
    )
    _tenant_rls("event_waits")
    op.execute(
        "CREATE POLICY sweep_open ON event_waits FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'open')"
    )
    op.execute(
        "CREATE INDEX ix_event_waits_open ON event_waits (tenant_id, event_name) WHERE status = 'open'"
    )

    op.execute(
        """CREATE TABLE event_deliveries (
            tenant_id uuid NOT NULL,
            run_id uuid NOT NULL,
            node_id text NOT NULL,
            event_id uuid NOT NULL,
            status text NOT NULL,
            delivered_at timestamptz NOT NULL,
            CONSTRAINT pk_event_deliveries PRIMARY KEY (tenant_id, run_id, node_id, event_id),
            CONSTRAINT fk_event_deliveries_tenant_id_event_waits FOREIGN KEY (tenant_id, run_id, node_id)
                REFERENCES event_waits (tenant_id, run_id, node_id) ON DELETE CASCADE,
            CONSTRAINT fk_event_deliveries_tenant_id_events FOREIGN KEY (tenant_id, event_id)
                REFERENCES events (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_event_deliveries_status CHECK (status IN ('pending', 'taken', 'ignored'))
        )"""
    )
    _tenant_rls("event_deliveries")

    grants = {
        "events": "SELECT, INSERT",  # what happened: recorded, never changed
        "event_waits": "SELECT, INSERT, UPDATE",
        "event_deliveries": "SELECT, INSERT, UPDATE",
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
    for table in ("event_deliveries", "event_waits", "events"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP POLICY IF EXISTS sweep_children ON runs")
    op.execute("ALTER TABLE runs DROP CONSTRAINT IF EXISTS uq_runs_tenant_id_parent_run_id_parent_node_id")
    op.execute("ALTER TABLE runs DROP CONSTRAINT IF EXISTS fk_runs_tenant_id_runs")
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS parent_node_id, DROP COLUMN IF EXISTS parent_run_id")
