"""Workflow runs: runs, their step events and the side-effect journal (tenant tables under RLS);
the ``engine`` schema holding LangGraph's checkpoint tables and procrastinate's job queue.

The third-party schemas are applied here, as the owner, in this migration's transaction:
procrastinate's ``schema.sql`` as shipped, and LangGraph's checkpoint ``MIGRATIONS`` (their
``CREATE INDEX CONCURRENTLY`` run plainly: the tables are empty and CONCURRENTLY cannot run in a
transaction), recording their versions in ``checkpoint_migrations`` exactly as
``AsyncPostgresSaver.setup()`` would. The application role only uses these tables; it never runs
``setup()`` (it owns nothing). Upgrading either library means a new migration applying its
migrations the same way.

Revision ID: 0003_runs
Revises: 0002_workflows
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from procrastinate.schema import SchemaManager

revision = "0003_runs"
down_revision = "0002_workflows"
branch_labels = None
depends_on = None

ENGINE_SCHEMA = "engine"

RULES = [
    ("p", "viewer", "*", "runs", "read"),
    ("p", "staff", "*", "runs", "write"),
]


def _tenant_rls(table: str) -> None:
    """Row-level security, enabled and forced (the same policy as 0001's tenant tables)."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )


def _run_sql(sql: str) -> None:
    """Run a multi-statement script through the driver itself (no bind-parameter parsing)."""
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(sql)


def _engine_schema(app_role: str) -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {ENGINE_SCHEMA}")
    op.execute(f'GRANT USAGE ON SCHEMA {ENGINE_SCHEMA} TO "{app_role}"')
    previous = op.get_bind().exec_driver_sql("SHOW search_path").scalar_one()
    op.execute(f"SELECT set_config('search_path', '{ENGINE_SCHEMA}', true)")
    _run_sql(SchemaManager.get_schema())
    for version, migration in enumerate(BasePostgresSaver.MIGRATIONS):
        _run_sql(migration.replace("CONCURRENTLY ", ""))
        op.execute(f"INSERT INTO checkpoint_migrations (v) VALUES ({version}) ON CONFLICT DO NOTHING")
    op.execute(f"SELECT set_config('search_path', '{previous.replace(chr(39), chr(39) * 2)}', true)")
    op.execute(
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {ENGINE_SCHEMA} TO "{app_role}"'
    )
    op.execute(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {ENGINE_SCHEMA} TO "{app_role}"')
    op.execute(f'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {ENGINE_SCHEMA} TO "{app_role}"')


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute(
        """CREATE TABLE runs (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            workflow_id uuid NOT NULL,
            version integer NOT NULL,
            status text NOT NULL,
            input jsonb NOT NULL,
            output jsonb,
            error text,
            cost_micros bigint NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL,
            started_at timestamptz,
            finished_at timestamptz,
            CONSTRAINT pk_runs PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_runs_tenant_id_workflow_versions FOREIGN KEY (tenant_id, workflow_id, version)
                REFERENCES workflow_versions (tenant_id, workflow_id, version) ON DELETE CASCADE,
            CONSTRAINT ck_runs_status
                CHECK (status IN ('queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'))
        )"""
    )
    _tenant_rls("runs")
    # The sweeper (a periodic job, no tenant bound) finds queued runs of every tenant: the
    # platform scope may read queued runs, and nothing else of them.
    op.execute(
        "CREATE POLICY sweep_queued ON runs FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'queued')"
    )
    op.execute("CREATE INDEX ix_runs_queued ON runs (created_at) WHERE status = 'queued'")

    op.execute(
        """CREATE TABLE run_events (
            tenant_id uuid NOT NULL,
            run_id uuid NOT NULL,
            seq integer NOT NULL,
            node_id text NOT NULL,
            kind text NOT NULL,
            status text NOT NULL,
            input jsonb,
            output jsonb,
            error text,
            duration_ms integer NOT NULL,
            at timestamptz NOT NULL,
            CONSTRAINT pk_run_events PRIMARY KEY (tenant_id, run_id, seq),
            CONSTRAINT fk_run_events_tenant_id_runs FOREIGN KEY (tenant_id, run_id)
                REFERENCES runs (tenant_id, id) ON DELETE CASCADE
        )"""
    )
    _tenant_rls("run_events")

    op.execute(
        """CREATE TABLE step_journal (
            tenant_id uuid NOT NULL,
            run_id uuid NOT NULL,
            idempotency_key text NOT NULL,
            result jsonb,
            completed_at timestamptz NOT NULL,
            CONSTRAINT pk_step_journal PRIMARY KEY (tenant_id, run_id, idempotency_key),
            CONSTRAINT fk_step_journal_tenant_id_runs FOREIGN KEY (tenant_id, run_id)
                REFERENCES runs (tenant_id, id) ON DELETE CASCADE
        )"""
    )
    _tenant_rls("step_journal")

    grants = {
        "runs": "SELECT, INSERT, UPDATE",
        "run_events": "SELECT, INSERT",  # history: appended, never changed
        "step_journal": "SELECT, INSERT",  # a completed side effect is never rewritten
    }
    for table, privileges in grants.items():
        op.execute(f'GRANT {privileges} ON {table} TO "{app_role}"')

    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")

    _engine_schema(app_role)


def downgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute(f"DROP SCHEMA IF EXISTS {ENGINE_SCHEMA} CASCADE")
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    for table in ("step_journal", "run_events", "runs"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
