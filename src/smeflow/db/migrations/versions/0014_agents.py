"""Agents, the language-model cost ledger with its monthly budget counters, and the model
response cache (tenant tables under forced RLS). The cache's semantic lookups use pgvector.

Revision ID: 0014_agents
Revises: 0013_payments
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0014_agents"
down_revision = "0013_payments"
branch_labels = None
depends_on = None


RULES = [
    ("p", "viewer", "*", "agents", "read"),
    ("p", "admin", "*", "agents", "write"),
    ("p", "viewer", "*", "usage", "read"),
]


def _tenant_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(
        """CREATE TABLE agents (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            name text NOT NULL,
            type text NOT NULL,
            config jsonb NOT NULL,
            status text NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT pk_agents PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_agents_tenant_id_name UNIQUE (tenant_id, name),
            CONSTRAINT ck_agents_type CHECK (type IN ('automator', 'mentor', 'supervisor')),
            CONSTRAINT ck_agents_status CHECK (status IN ('active', 'disabled'))
        )"""
    )
    _tenant_rls("agents")
    op.execute(
        """CREATE TABLE llm_calls (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            at timestamptz NOT NULL,
            run_id uuid,
            node_id text,
            agent_id uuid,
            agent_name text NOT NULL,
            provider text NOT NULL,
            model text NOT NULL,
            source text NOT NULL,
            input_tokens integer NOT NULL,
            output_tokens integer NOT NULL,
            cached_tokens integer NOT NULL,
            latency_ms integer NOT NULL,
            cost_micros bigint NOT NULL,
            cost_minor bigint NOT NULL,
            currency text NOT NULL,
            CONSTRAINT pk_llm_calls PRIMARY KEY (tenant_id, id),
            CONSTRAINT ck_llm_calls_source CHECK (source IN ('model', 'cache_exact', 'cache_semantic')),
            CONSTRAINT ck_llm_calls_tokens
                CHECK (input_tokens >= 0 AND output_tokens >= 0 AND cached_tokens >= 0),
            CONSTRAINT ck_llm_calls_cost CHECK (cost_micros >= 0 AND cost_minor >= 0)
        )"""
    )
    _tenant_rls("llm_calls")
    op.execute("CREATE INDEX ix_llm_calls_tenant_at ON llm_calls (tenant_id, at)")
    op.execute(
        """CREATE TABLE llm_budgets (
            tenant_id uuid NOT NULL,
            month date NOT NULL,
            spent_micros bigint NOT NULL,
            limit_micros bigint NOT NULL,
            warned_at timestamptz,
            exhausted_at timestamptz,
            CONSTRAINT pk_llm_budgets PRIMARY KEY (tenant_id, month),
            CONSTRAINT ck_llm_budgets_spent CHECK (spent_micros >= 0)
        )"""
    )
    _tenant_rls("llm_budgets")
    op.execute(
        """CREATE TABLE llm_cache (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            key_hash text NOT NULL,
            scope_hash text NOT NULL,
            language text NOT NULL,
            prompt text NOT NULL,
            embedding vector(384),
            response jsonb NOT NULL,
            hits integer NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            CONSTRAINT pk_llm_cache PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_llm_cache_tenant_id_key_hash UNIQUE (tenant_id, key_hash)
        )"""
    )
    _tenant_rls("llm_cache")
    op.execute("CREATE INDEX ix_llm_cache_scope ON llm_cache (tenant_id, scope_hash, language, expires_at)")
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON agents TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT ON llm_calls TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON llm_budgets TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON llm_cache TO "{app_role}"')
    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    for table in ("llm_cache", "llm_budgets", "llm_calls", "agents"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
