"""Integrations (sealed credentials), webhook deliveries, the inbox of their events, the outbox.

Tenant tables under forced RLS. Besides its tenant: the ``auth`` scope (webhook ingress, before a
tenant is known) may read integrations; the ``platform`` scope (the workers) may read the pending
inbox events and outbox items that are due, to find work (each is then handled bound to its
tenant). The casbin rules ``integrations:read`` (viewers and up) and ``integrations:write``
(admins and owners).

Revision ID: 0012_integrations
Revises: 0011_held
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0012_integrations"
down_revision = "0011_held"
branch_labels = None
depends_on = None

# (ptype, subject, domain, object, action), as in 0001: members read integrations and the
# connectors; admins (and owners) connect, change, check and delete them.
RULES = [
    ("p", "viewer", "*", "integrations", "read"),
    ("p", "admin", "*", "integrations", "write"),
]


def _tenant_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute(
        """CREATE TABLE integrations (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            connector text NOT NULL,
            name text NOT NULL,
            status text NOT NULL,
            config jsonb NOT NULL,
            sealed_credentials bytea NOT NULL,
            wrapped_key bytea NOT NULL,
            key_id text NOT NULL,
            sealed_webhook_token bytea NOT NULL,
            allowed_ips text[] NOT NULL,
            checked_at timestamptz,
            check_error text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            created_by text NOT NULL,
            CONSTRAINT pk_integrations PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_integrations_tenant_id_name UNIQUE (tenant_id, name),
            CONSTRAINT fk_integrations_tenant_id_tenants FOREIGN KEY (tenant_id)
                REFERENCES tenants (id) ON DELETE CASCADE,
            CONSTRAINT ck_integrations_status CHECK (status IN ('active', 'disabled'))
        )"""
    )
    _tenant_rls("integrations")
    # the webhook ingress finds an integration by its id alone, before any tenant is known
    op.execute("CREATE UNIQUE INDEX ix_integrations_id ON integrations (id)")
    op.execute("CREATE POLICY auth_read ON integrations FOR SELECT USING (smeflow_scope() = 'auth')")

    op.execute(
        """CREATE TABLE webhook_deliveries (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            integration_id uuid NOT NULL,
            connector text NOT NULL,
            status text NOT NULL,
            headers jsonb NOT NULL,
            body bytea NOT NULL,
            client_ip text,
            error text,
            received_at timestamptz NOT NULL,
            CONSTRAINT pk_webhook_deliveries PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_webhook_deliveries_tenant_id_integrations FOREIGN KEY (tenant_id, integration_id)
                REFERENCES integrations (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_webhook_deliveries_status CHECK (status IN ('accepted', 'malformed'))
        )"""
    )
    _tenant_rls("webhook_deliveries")
    op.execute(
        "CREATE INDEX ix_webhook_deliveries_integration "
        "ON webhook_deliveries (tenant_id, integration_id, received_at)"
    )

    for table, extra, unique, fks in (
        (
            "inbox_events",
            """integration_id uuid NOT NULL,
            delivery_id uuid NOT NULL,
            event_id text NOT NULL,
            kind text NOT NULL,
            reference text,
            data jsonb NOT NULL,""",
            "CONSTRAINT uq_inbox_events_tenant_id_integration_id_event_id "
            "UNIQUE (tenant_id, integration_id, event_id)",
            """CONSTRAINT fk_inbox_events_tenant_id_integrations FOREIGN KEY (tenant_id, integration_id)
                REFERENCES integrations (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT fk_inbox_events_tenant_id_webhook_deliveries FOREIGN KEY (tenant_id, delivery_id)
                REFERENCES webhook_deliveries (tenant_id, id) ON DELETE CASCADE""",
        ),
        (
            "outbox",
            """integration_id uuid NOT NULL,
            action text NOT NULL,
            input jsonb NOT NULL,
            idempotency_key text NOT NULL,
            result jsonb,""",
            "CONSTRAINT uq_outbox_tenant_id_idempotency_key UNIQUE (tenant_id, idempotency_key)",
            """CONSTRAINT fk_outbox_tenant_id_integrations FOREIGN KEY (tenant_id, integration_id)
                REFERENCES integrations (tenant_id, id) ON DELETE CASCADE""",
        ),
    ):
        op.execute(
            f"""CREATE TABLE {table} (
                tenant_id uuid NOT NULL,
                id uuid NOT NULL,
                {extra}
                status text NOT NULL,
                attempts integer DEFAULT 0 NOT NULL,
                next_attempt_at timestamptz NOT NULL,
                last_error text,
                created_at timestamptz NOT NULL,
                processed_at timestamptz,
                CONSTRAINT pk_{table} PRIMARY KEY (tenant_id, id),
                {unique},
                {fks},
                CONSTRAINT ck_{table}_status CHECK (status IN ('pending', 'processed', 'failed'))
            )"""
        )
        _tenant_rls(table)
        op.execute(
            f"CREATE POLICY work_due ON {table} FOR SELECT "
            f"USING (smeflow_scope() = 'platform' AND status = 'pending')"
        )
    op.execute(
        """CREATE TABLE integration_cursors (
            tenant_id uuid NOT NULL,
            integration_id uuid NOT NULL,
            trigger text NOT NULL,
            cursor text,
            polled_at timestamptz,
            last_error text,
            CONSTRAINT pk_integration_cursors PRIMARY KEY (tenant_id, integration_id, trigger),
            CONSTRAINT fk_integration_cursors_tenant_id_integrations FOREIGN KEY (tenant_id, integration_id)
                REFERENCES integrations (tenant_id, id) ON DELETE CASCADE
        )"""
    )
    _tenant_rls("integration_cursors")
    # the pollers (platform scope) list the active integrations and their last polls
    op.execute(
        "CREATE POLICY poll_read ON integrations FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'active')"
    )
    op.execute(
        "CREATE POLICY poll_read ON integration_cursors FOR SELECT USING (smeflow_scope() = 'platform')"
    )
    op.execute("CREATE INDEX ix_inbox_events_due ON inbox_events (next_attempt_at) WHERE status = 'pending'")
    op.execute("CREATE INDEX ix_outbox_due ON outbox (next_attempt_at) WHERE status = 'pending'")

    grants = {
        "integrations": "SELECT, INSERT, UPDATE, DELETE",
        "webhook_deliveries": "SELECT, INSERT, DELETE",  # a delivery is evidence: never changed
        "inbox_events": "SELECT, INSERT, UPDATE, DELETE",
        "outbox": "SELECT, INSERT, UPDATE, DELETE",
        "integration_cursors": "SELECT, INSERT, UPDATE, DELETE",
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
    for table in ("integration_cursors", "outbox", "inbox_events", "webhook_deliveries", "integrations"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
