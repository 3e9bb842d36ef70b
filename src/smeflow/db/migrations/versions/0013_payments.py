"""Payments and their append-only transitions (tenant tables under forced RLS); the workers'
``platform`` scope may read pending payments, to reconcile those whose callback never came.

Revision ID: 0013_payments
Revises: 0012_integrations
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0013_payments"
down_revision = "0012_integrations"
branch_labels = None
depends_on = None


RULES = [
    ("p", "viewer", "*", "payments", "read"),
    ("p", "staff", "*", "payments", "write"),
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
        """CREATE TABLE payments (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            integration_id uuid NOT NULL,
            connector text NOT NULL,
            reference text NOT NULL,
            provider_reference text,
            amount_minor bigint NOT NULL,
            currency text NOT NULL,
            status text NOT NULL,
            phone text,
            email text,
            description text,
            checkout_url text,
            provider_ref text,
            failure_code text,
            failure_reason text,
            run_id uuid,
            extra jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            settled_at timestamptz,
            CONSTRAINT pk_payments PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_payments_tenant_id_reference UNIQUE (tenant_id, reference),
            CONSTRAINT uq_payments_tenant_id_integration_id_provider_reference
                UNIQUE (tenant_id, integration_id, provider_reference),
            CONSTRAINT fk_payments_tenant_id_integrations FOREIGN KEY (tenant_id, integration_id)
                REFERENCES integrations (tenant_id, id) ON DELETE RESTRICT,
            CONSTRAINT ck_payments_status
                CHECK (status IN ('created', 'pending', 'succeeded', 'failed', 'reversed')),
            CONSTRAINT ck_payments_amount CHECK (amount_minor > 0)
        )"""
    )
    _tenant_rls("payments")
    op.execute(
        "CREATE POLICY reconcile_pending ON payments FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'pending')"
    )
    op.execute("CREATE INDEX ix_payments_pending ON payments (updated_at) WHERE status = 'pending'")

    op.execute(
        """CREATE TABLE payment_transitions (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            payment_id uuid NOT NULL,
            from_status text,
            to_status text NOT NULL,
            cause text NOT NULL,
            event_id text,
            detail text,
            at timestamptz NOT NULL,
            CONSTRAINT pk_payment_transitions PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_payment_transitions_tenant_id_payments FOREIGN KEY (tenant_id, payment_id)
                REFERENCES payments (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_payment_transitions_cause CHECK (cause IN ('request', 'callback', 'query'))
        )"""
    )
    _tenant_rls("payment_transitions")
    op.execute(
        "CREATE INDEX ix_payment_transitions_payment ON payment_transitions (tenant_id, payment_id, at)"
    )
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON payments TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT ON payment_transitions TO "{app_role}"')
    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    for table in ("payment_transitions", "payments"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
