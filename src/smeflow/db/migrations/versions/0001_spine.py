"""Platform spine: tenants, identity, authorization rules, audit log; the application role and RLS.

Revision ID: 0001_spine
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0001_spine"
down_revision = None
branch_labels = None
depends_on = None

ROLES = "('owner', 'admin', 'staff', 'viewer')"

# (ptype, subject, domain, object, action): the default RBAC policy; "*" = every tenant.
DEFAULT_RULES = [
    ("g", "owner", "admin", "*", ""),
    ("g", "admin", "staff", "*", ""),
    ("g", "staff", "viewer", "*", ""),
    ("p", "viewer", "*", "me", "read"),
    ("p", "viewer", "*", "me", "write"),
    ("p", "viewer", "*", "tenant", "read"),
    ("p", "viewer", "*", "users", "read"),
    ("p", "admin", "*", "tenant", "write"),
    ("p", "admin", "*", "users", "write"),
    ("p", "admin", "*", "apikeys", "read"),
    ("p", "admin", "*", "apikeys", "write"),
    ("p", "admin", "*", "audit", "read"),
    ("p", "owner", "*", "owners", "write"),
    ("p", "operator", "*", "me", "read"),
    ("p", "operator", "*", "me", "write"),
    ("p", "operator", "*", "tenants", "read"),
    ("p", "operator", "*", "tenants", "write"),
    ("p", "operator", "*", "platform_audit", "read"),
]


def _tenant_rls(table: str, *, auth_read: bool = False) -> None:
    """Row-level security, enabled and forced: a transaction sees only the bound tenant's rows."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )
    if auth_read:
        op.execute(f"CREATE POLICY auth_read ON {table} FOR SELECT USING (smeflow_scope() = 'auth')")


def upgrade(app_role: str, app_password: str | None = None) -> None:
    # The application role: logs in, owns nothing, is not a superuser, cannot bypass RLS.
    op.execute(
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role}') THEN
                CREATE ROLE "{app_role}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        END $$"""
    )
    if app_password:
        op.execute(f"""ALTER ROLE "{app_role}" PASSWORD '{app_password.replace("'", "''")}'""")
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{app_role}"')

    op.execute(
        "CREATE FUNCTION smeflow_tenant() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS "
        "$$ SELECT NULLIF(current_setting('smeflow.tenant_id', true), '')::uuid $$"
    )
    op.execute(
        "CREATE FUNCTION smeflow_user() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS "
        "$$ SELECT NULLIF(current_setting('smeflow.user_id', true), '')::uuid $$"
    )
    op.execute(
        "CREATE FUNCTION smeflow_scope() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS "
        "$$ SELECT COALESCE(NULLIF(current_setting('smeflow.scope', true), ''), 'none') $$"
    )

    op.execute(
        """CREATE TABLE tenants (
            id uuid PRIMARY KEY,
            slug text NOT NULL,
            name text NOT NULL,
            region text NOT NULL,
            country varchar(2) NOT NULL,
            currency varchar(3) NOT NULL,
            default_locale text NOT NULL,
            timezone text NOT NULL,
            tier text NOT NULL,
            residency jsonb NOT NULL,
            status text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT uq_tenants_slug UNIQUE (slug),
            CONSTRAINT ck_tenants_status CHECK (status IN ('active', 'suspended', 'closed'))
        )"""
    )
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY own_tenant ON tenants USING (id = smeflow_tenant()) WITH CHECK (id = smeflow_tenant())"
    )
    op.execute(
        "CREATE POLICY auth_read ON tenants FOR SELECT USING (smeflow_scope() IN ('auth', 'platform'))"
    )
    op.execute(
        "CREATE POLICY platform_insert ON tenants FOR INSERT WITH CHECK (smeflow_scope() = 'platform')"
    )
    op.execute("CREATE POLICY platform_update ON tenants FOR UPDATE USING (smeflow_scope() = 'platform')")

    op.execute(
        """CREATE TABLE users (
            id uuid PRIMARY KEY,
            email text NOT NULL,
            full_name text NOT NULL,
            password_hash text,
            platform_role text,
            status text NOT NULL,
            mfa_secret bytea,
            mfa_enabled boolean NOT NULL,
            mfa_last_step bigint,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT ck_users_status CHECK (status IN ('active', 'disabled')),
            CONSTRAINT ck_users_platform_role CHECK (platform_role IS NULL OR platform_role = 'operator')
        )"""
    )
    op.execute("CREATE UNIQUE INDEX uq_users_email ON users (lower(email))")

    op.execute(
        f"""CREATE TABLE memberships (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role text NOT NULL,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_memberships PRIMARY KEY (tenant_id, user_id),
            CONSTRAINT ck_memberships_role CHECK (role IN {ROLES})
        )"""
    )
    op.execute("CREATE INDEX ix_memberships_user_id ON memberships (user_id)")
    _tenant_rls("memberships", auth_read=True)

    # A user row is visible to the user, to the tenants it belongs to, and to authentication.
    op.execute("ALTER TABLE users ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE users FORCE ROW LEVEL SECURITY")
    op.execute(
        """CREATE POLICY visible ON users FOR SELECT USING (
            smeflow_scope() IN ('auth', 'platform')
            OR id = smeflow_user()
            OR EXISTS (SELECT 1 FROM memberships m
                       WHERE m.user_id = users.id AND m.tenant_id = smeflow_tenant())
        )"""
    )
    op.execute("CREATE POLICY create_any ON users FOR INSERT WITH CHECK (true)")
    op.execute(
        "CREATE POLICY update_self ON users FOR UPDATE "
        "USING (smeflow_scope() IN ('auth', 'platform') OR id = smeflow_user())"
    )

    op.execute(
        """CREATE TABLE external_identities (
            issuer text NOT NULL,
            subject text NOT NULL,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_external_identities PRIMARY KEY (issuer, subject)
        )"""
    )
    op.execute("ALTER TABLE external_identities ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE external_identities FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY auth_only ON external_identities "
        "USING (smeflow_scope() = 'auth' OR user_id = smeflow_user())"
    )

    op.execute(
        """CREATE TABLE auth_sessions (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            family_id uuid NOT NULL,
            token_hash bytea NOT NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            rotated_at timestamptz,
            revoked_at timestamptz
        )"""
    )
    op.execute("CREATE INDEX ix_auth_sessions_family_id ON auth_sessions (family_id)")
    op.execute("CREATE INDEX ix_auth_sessions_user_id ON auth_sessions (user_id)")
    op.execute("ALTER TABLE auth_sessions ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE auth_sessions FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY owner_or_auth ON auth_sessions "
        "USING (smeflow_scope() = 'auth' OR user_id = smeflow_user())"
    )

    op.execute(
        f"""CREATE TABLE api_keys (
            tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL,
            name text NOT NULL,
            prefix text NOT NULL,
            secret_hash bytea NOT NULL,
            role text NOT NULL,
            scopes text[] NOT NULL,
            created_by uuid REFERENCES users (id) ON DELETE SET NULL,
            created_at timestamptz NOT NULL,
            expires_at timestamptz,
            last_used_at timestamptz,
            revoked_at timestamptz,
            CONSTRAINT pk_api_keys PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_api_keys_prefix UNIQUE (prefix),
            CONSTRAINT ck_api_keys_role CHECK (role IN {ROLES})
        )"""
    )
    _tenant_rls("api_keys", auth_read=True)
    op.execute("CREATE POLICY auth_touch ON api_keys FOR UPDATE USING (smeflow_scope() = 'auth')")

    op.execute(
        """CREATE TABLE authz_rules (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            ptype text NOT NULL,
            v0 text NOT NULL,
            v1 text NOT NULL,
            v2 text NOT NULL,
            v3 text NOT NULL,
            CONSTRAINT uq_authz_rules_ptype UNIQUE (ptype, v0, v1, v2, v3)
        )"""
    )
    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in DEFAULT_RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values}")

    op.execute(
        """CREATE TABLE audit_events (
            tenant_id uuid NOT NULL REFERENCES tenants (id),
            seq bigint NOT NULL,
            id uuid NOT NULL,
            occurred_at timestamptz NOT NULL,
            actor_type text NOT NULL,
            actor_id text NOT NULL,
            action text NOT NULL,
            target_type text NOT NULL,
            target_id text NOT NULL,
            data jsonb NOT NULL,
            request_id text,
            prev_hash text NOT NULL,
            hash text NOT NULL,
            CONSTRAINT pk_audit_events PRIMARY KEY (tenant_id, seq),
            CONSTRAINT ck_audit_events_actor_type
                CHECK (actor_type IN ('user', 'api_key', 'system', 'workflow_run', 'operator'))
        )"""
    )
    op.execute("CREATE INDEX ix_audit_events_action ON audit_events (tenant_id, action, occurred_at)")
    _tenant_rls("audit_events")
    op.execute(
        """CREATE TABLE audit_heads (
            tenant_id uuid PRIMARY KEY REFERENCES tenants (id),
            seq bigint NOT NULL,
            hash text NOT NULL
        )"""
    )
    _tenant_rls("audit_heads")

    grants = {
        "tenants": "SELECT, INSERT, UPDATE",
        "users": "SELECT, INSERT, UPDATE",
        "memberships": "SELECT, INSERT, UPDATE, DELETE",
        "external_identities": "SELECT, INSERT",
        "auth_sessions": "SELECT, INSERT, UPDATE",
        "api_keys": "SELECT, INSERT, UPDATE",
        "authz_rules": "SELECT",
        "audit_events": "SELECT, INSERT",  # append-only: no UPDATE, no DELETE
        "audit_heads": "SELECT, INSERT, UPDATE",
    }
    for table, privileges in grants.items():
        op.execute(f'GRANT {privileges} ON {table} TO "{app_role}"')


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for table in (
        "audit_heads",
        "audit_events",
        "authz_rules",
        "api_keys",
        "auth_sessions",
        "external_identities",
        "memberships",
        "users",
        "tenants",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    for fn in ("smeflow_tenant", "smeflow_user", "smeflow_scope"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
