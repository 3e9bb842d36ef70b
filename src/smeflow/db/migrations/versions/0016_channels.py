"""Conversations on the customer channels (WhatsApp, SMS, web chat), their messages, and which
workflow answers each channel of a tenant (tenant tables under forced RLS).

Revision ID: 0016_channels
Revises: 0015_bookings
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0016_channels"
down_revision = "0015_bookings"
branch_labels = None
depends_on = None


RULES = [
    ("p", "viewer", "*", "conversations", "read"),
    ("p", "staff", "*", "conversations", "write"),
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
        """CREATE TABLE conversation_workflows (
            tenant_id uuid NOT NULL,
            channel text NOT NULL,
            workflow_id uuid NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT pk_conversation_workflows PRIMARY KEY (tenant_id, channel),
            CONSTRAINT fk_conversation_workflows_tenant_id_workflows FOREIGN KEY (tenant_id, workflow_id)
                REFERENCES workflows (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_conversation_workflows_channel CHECK (channel IN ('whatsapp', 'sms', 'web'))
        )"""
    )
    _tenant_rls("conversation_workflows")
    op.execute(
        """CREATE TABLE conversations (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            channel text NOT NULL,
            integration_id uuid,
            address text NOT NULL,
            customer_name text,
            language text,
            mode text NOT NULL,
            assigned_user_id uuid,
            workflow_id uuid,
            run_id uuid,
            last_inbound_at timestamptz,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT pk_conversations PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_conversations_address
                UNIQUE NULLS NOT DISTINCT (tenant_id, channel, integration_id, address),
            CONSTRAINT fk_conversations_tenant_id_integrations FOREIGN KEY (tenant_id, integration_id)
                REFERENCES integrations (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_conversations_channel CHECK (channel IN ('whatsapp', 'sms', 'web')),
            CONSTRAINT ck_conversations_mode CHECK (mode IN ('bot', 'human')),
            CONSTRAINT ck_conversations_integration
                CHECK ((channel = 'web') = (integration_id IS NULL))
        )"""
    )
    _tenant_rls("conversations")
    op.execute("CREATE INDEX ix_conversations_recent ON conversations (tenant_id, updated_at)")
    op.execute(
        """CREATE TABLE conversation_messages (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            conversation_id uuid NOT NULL,
            direction text NOT NULL,
            text text,
            payload jsonb NOT NULL,
            provider_message_id text,
            status text NOT NULL,
            sent_by text,
            at timestamptz NOT NULL,
            CONSTRAINT pk_conversation_messages PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_conversation_messages_provider_id
                UNIQUE (tenant_id, conversation_id, provider_message_id),
            CONSTRAINT fk_conversation_messages_tenant_id_conversations
                FOREIGN KEY (tenant_id, conversation_id)
                REFERENCES conversations (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_conversation_messages_direction CHECK (direction IN ('in', 'out'))
        )"""
    )
    _tenant_rls("conversation_messages")
    op.execute(
        "CREATE INDEX ix_conversation_messages_conversation "
        "ON conversation_messages (tenant_id, conversation_id, id)"
    )
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON conversation_workflows TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON conversations TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON conversation_messages TO "{app_role}"')
    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    for table in ("conversation_messages", "conversations", "conversation_workflows"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
