"""Bookings: the catalogue (services, staff, weekly hours and breaks, time off), bookings with a
database-enforced ban on double booking (a partial exclusion constraint over btree_gist), and
the reminders workers send (tenant tables under forced RLS). The workers' ``platform`` scope may
read holds (``pending_payment`` bookings) to expire them, and read and claim reminders.

Revision ID: 0015_bookings
Revises: 0014_agents
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0015_bookings"
down_revision = "0014_agents"
branch_labels = None
depends_on = None


RULES = [
    ("p", "viewer", "*", "bookings", "read"),
    ("p", "staff", "*", "bookings", "write"),
    ("p", "admin", "*", "bookings", "manage"),
]

TABLES = (
    "booking_reminders",
    "bookings",
    "booking_time_off",
    "booking_hours",
    "booking_staff",
    "booking_services",
)


def _tenant_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = smeflow_tenant()) WITH CHECK (tenant_id = smeflow_tenant())"
    )


def upgrade(app_role: str, app_password: str | None = None) -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        """CREATE TABLE booking_services (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            name text NOT NULL,
            duration_minutes integer NOT NULL,
            price_minor bigint NOT NULL,
            deposit_minor bigint NOT NULL,
            currency text NOT NULL,
            buffer_minutes integer NOT NULL,
            rebook_after_days integer,
            cancellation_notice_hours integer NOT NULL,
            keep_deposit_on_late_cancel boolean NOT NULL,
            active boolean NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT pk_booking_services PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_booking_services_tenant_id_name UNIQUE (tenant_id, name),
            CONSTRAINT ck_booking_services_duration CHECK (duration_minutes > 0),
            CONSTRAINT ck_booking_services_money
                CHECK (price_minor >= 0 AND deposit_minor >= 0 AND deposit_minor <= price_minor),
            CONSTRAINT ck_booking_services_buffer CHECK (buffer_minutes >= 0),
            CONSTRAINT ck_booking_services_rebook CHECK (rebook_after_days IS NULL OR rebook_after_days > 0),
            CONSTRAINT ck_booking_services_notice CHECK (cancellation_notice_hours >= 0)
        )"""
    )
    op.execute(
        """CREATE TABLE booking_staff (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            name text NOT NULL,
            service_ids uuid[] NOT NULL,
            active boolean NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT pk_booking_staff PRIMARY KEY (tenant_id, id),
            CONSTRAINT uq_booking_staff_tenant_id_name UNIQUE (tenant_id, name)
        )"""
    )
    op.execute(
        """CREATE TABLE booking_hours (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            staff_id uuid NOT NULL,
            kind text NOT NULL,
            weekday smallint NOT NULL,
            starts time NOT NULL,
            ends time NOT NULL,
            CONSTRAINT pk_booking_hours PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_booking_hours_tenant_id_booking_staff FOREIGN KEY (tenant_id, staff_id)
                REFERENCES booking_staff (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_booking_hours_kind CHECK (kind IN ('work', 'break')),
            CONSTRAINT ck_booking_hours_weekday CHECK (weekday BETWEEN 0 AND 6),
            CONSTRAINT ck_booking_hours_length CHECK (starts <> ends)
        )"""
    )
    op.execute("CREATE INDEX ix_booking_hours_staff ON booking_hours (tenant_id, staff_id)")
    op.execute(
        """CREATE TABLE booking_time_off (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            staff_id uuid,
            starts_on date NOT NULL,
            ends_on date NOT NULL,
            reason text,
            created_at timestamptz NOT NULL,
            CONSTRAINT pk_booking_time_off PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_booking_time_off_tenant_id_booking_staff FOREIGN KEY (tenant_id, staff_id)
                REFERENCES booking_staff (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_booking_time_off_range CHECK (ends_on >= starts_on)
        )"""
    )
    op.execute(
        """CREATE TABLE bookings (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            service_id uuid NOT NULL,
            staff_id uuid NOT NULL,
            customer_name text NOT NULL,
            customer_phone text NOT NULL,
            customer_email text,
            start_at timestamptz NOT NULL,
            end_at timestamptz NOT NULL,
            blocked_until timestamptz NOT NULL,
            status text NOT NULL,
            deposit_minor bigint NOT NULL,
            currency text NOT NULL,
            payment_id uuid,
            expires_at timestamptz,
            source text,
            notes text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            CONSTRAINT pk_bookings PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_bookings_tenant_id_booking_services FOREIGN KEY (tenant_id, service_id)
                REFERENCES booking_services (tenant_id, id) ON DELETE RESTRICT,
            CONSTRAINT fk_bookings_tenant_id_booking_staff FOREIGN KEY (tenant_id, staff_id)
                REFERENCES booking_staff (tenant_id, id) ON DELETE RESTRICT,
            CONSTRAINT ck_bookings_status CHECK (status IN
                ('pending_payment', 'confirmed', 'completed', 'cancelled', 'no_show', 'expired')),
            CONSTRAINT ck_bookings_times CHECK (end_at > start_at AND blocked_until >= end_at),
            CONSTRAINT ck_bookings_deposit CHECK (deposit_minor >= 0),
            CONSTRAINT ck_bookings_hold CHECK (status <> 'pending_payment' OR expires_at IS NOT NULL),
            CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist (
                tenant_id WITH =, staff_id WITH =, tstzrange(start_at, blocked_until) WITH &&
            ) WHERE (status IN ('pending_payment', 'confirmed'))
        )"""
    )
    op.execute("CREATE INDEX ix_bookings_start ON bookings (tenant_id, start_at)")
    op.execute("CREATE INDEX ix_bookings_holds ON bookings (expires_at) WHERE status = 'pending_payment'")
    op.execute(
        """CREATE TABLE booking_reminders (
            tenant_id uuid NOT NULL,
            id uuid NOT NULL,
            booking_id uuid NOT NULL,
            kind text NOT NULL,
            due_at timestamptz NOT NULL,
            sent_at timestamptz,
            CONSTRAINT pk_booking_reminders PRIMARY KEY (tenant_id, id),
            CONSTRAINT fk_booking_reminders_tenant_id_bookings FOREIGN KEY (tenant_id, booking_id)
                REFERENCES bookings (tenant_id, id) ON DELETE CASCADE,
            CONSTRAINT ck_booking_reminders_kind CHECK (kind IN ('reminder_24h', 'reminder_2h', 'rebook')),
            CONSTRAINT uq_booking_reminders_tenant_id_booking_id_kind UNIQUE (tenant_id, booking_id, kind)
        )"""
    )
    op.execute("CREATE INDEX ix_booking_reminders_due ON booking_reminders (due_at) WHERE sent_at IS NULL")
    for table in TABLES:
        _tenant_rls(table)
    # The expiry sweeper (platform scope, no tenant bound) finds holds, and nothing else of bookings.
    op.execute(
        "CREATE POLICY expire_holds ON bookings FOR SELECT "
        "USING (smeflow_scope() = 'platform' AND status = 'pending_payment')"
    )
    # The reminder workers (platform scope) read reminders (ids, kinds and times: no customer
    # data) and claim unsent ones by setting sent_at; a claimed reminder cannot be claimed again.
    op.execute(
        "CREATE POLICY claim_read ON booking_reminders FOR SELECT USING (smeflow_scope() = 'platform')"
    )
    op.execute(
        "CREATE POLICY claim_update ON booking_reminders FOR UPDATE "
        "USING (smeflow_scope() = 'platform' AND sent_at IS NULL) WITH CHECK (smeflow_scope() = 'platform')"
    )
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON booking_services, booking_staff, bookings TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON booking_hours, booking_time_off TO "{app_role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON booking_reminders TO "{app_role}"')
    values = ", ".join(f"('{p}', '{a}', '{b}', '{c}', '{d}')" for p, a, b, c, d in RULES)
    op.execute(f"INSERT INTO authz_rules (ptype, v0, v1, v2, v3) VALUES {values} ON CONFLICT DO NOTHING")


def downgrade(app_role: str, app_password: str | None = None) -> None:
    for p, a, b, c, d in RULES:
        op.execute(
            f"DELETE FROM authz_rules WHERE ptype = '{p}' AND v0 = '{a}' AND v1 = '{b}'"
            f" AND v2 = '{c}' AND v3 = '{d}'"
        )
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table}")
