"""TOTP enrolment, confirmation, the ±1 step window, replay refusal, disabling."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pyotp
import pytest

from smeflow.core import utcnow
from smeflow.db import Database, DbScope
from smeflow.errors import Conflict, NotFound, ValidationFailed
from smeflow.identity import begin_mfa_enrolment, confirm_mfa, disable_mfa, verify_totp
from smeflow.settings import Settings

from .conftest import MakeMember, Seat, audit_actions

STEP = timedelta(seconds=30)


def _step_start(now: datetime) -> datetime:
    """The start of ``now``'s 30-second step (so ``+/- STEP`` stays in the neighbouring step)."""
    return datetime.fromtimestamp(int(now.timestamp()) // 30 * 30 + 1, now.tzinfo)


async def _enrol(db: Database, settings: Settings, seat: Seat) -> pyotp.TOTP:
    async with db.transaction(DbScope.tenant(seat.tenant_id, seat.user_id)) as s:
        secret, uri = await begin_mfa_enrolment(s, settings, seat.user_id)
    assert uri.startswith("otpauth://totp/SMEFlow:")
    assert "issuer=SMEFlow" in uri
    assert secret in uri
    return pyotp.TOTP(secret)


async def test_enrol_confirm_and_audit(
    db: Database, settings: Settings, owner_a: Seat, owner_conn: psycopg.Connection
) -> None:
    totp = await _enrol(db, settings, owner_a)
    stored = owner_conn.execute(
        "SELECT mfa_secret, mfa_enabled FROM users WHERE id = %s", (owner_a.user_id,)
    ).fetchone()
    assert stored is not None
    assert stored[1] is False
    assert totp.secret.encode() not in bytes(stored[0])  # sealed, not in clear

    now = _step_start(utcnow())
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        with pytest.raises(ValidationFailed) as caught:
            await confirm_mfa(s, settings, owner_a.user_id, "12345", now=now)
        assert caught.value.fields[0].field == "code"
        await confirm_mfa(s, settings, owner_a.user_id, totp.at(now), tenant_id=owner_a.tenant_id, now=now)
    assert (await audit_actions(db, owner_a.tenant_id))[-1] == "mfa.enabled"
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        with pytest.raises(Conflict):
            await begin_mfa_enrolment(s, settings, owner_a.user_id)
        with pytest.raises(Conflict):
            await confirm_mfa(s, settings, owner_a.user_id, totp.at(now + STEP), now=now + STEP)


async def test_window_and_replay(db: Database, settings: Settings, owner_a: Seat) -> None:
    totp = await _enrol(db, settings, owner_a)
    now = _step_start(utcnow())
    scope = DbScope.tenant(owner_a.tenant_id, owner_a.user_id)
    async with db.transaction(scope) as s:
        uid = owner_a.user_id
        assert not await verify_totp(s, settings, uid, totp.at(now - 2 * STEP), now=now)  # too old
        assert not await verify_totp(s, settings, uid, totp.at(now + 2 * STEP), now=now)  # too early
        assert not await verify_totp(s, settings, uid, "abcdef", now=now)
        assert await verify_totp(s, settings, uid, totp.at(now - STEP), now=now)  # one step of drift
        assert not await verify_totp(s, settings, uid, totp.at(now - STEP), now=now)  # replay
        code = totp.at(now)
        assert await verify_totp(s, settings, uid, code[:3] + " " + code[3:], now=now)  # spaces are fine
        assert not await verify_totp(s, settings, uid, code, now=now + STEP)  # replay, a step later
        assert not await verify_totp(s, settings, uid, totp.at(now - STEP), now=now + STEP)  # older than last
        assert await verify_totp(s, settings, uid, totp.at(now + STEP), now=now)  # one step ahead
    # the last accepted step is stored: a new transaction refuses it too
    async with db.transaction(scope) as s:
        assert not await verify_totp(s, settings, owner_a.user_id, totp.at(now + STEP), now=now + STEP)
        assert await verify_totp(s, settings, owner_a.user_id, totp.at(now + 2 * STEP), now=now + 2 * STEP)


async def test_disable_needs_a_valid_code(db: Database, settings: Settings, owner_a: Seat) -> None:
    totp = await _enrol(db, settings, owner_a)
    now = _step_start(utcnow())
    scope = DbScope.tenant(owner_a.tenant_id, owner_a.user_id)
    async with db.transaction(scope) as s:
        with pytest.raises(Conflict):
            await disable_mfa(s, settings, owner_a.user_id, totp.at(now), now=now)
        await confirm_mfa(s, settings, owner_a.user_id, totp.at(now), now=now)
    async with db.transaction(scope) as s:
        with pytest.raises(ValidationFailed):
            await disable_mfa(s, settings, owner_a.user_id, totp.at(now), now=now)  # already used
    async with db.transaction(scope) as s:
        later = now + STEP
        await disable_mfa(
            s, settings, owner_a.user_id, totp.at(later), tenant_id=owner_a.tenant_id, now=later
        )
    assert (await audit_actions(db, owner_a.tenant_id))[-1] == "mfa.disabled"
    async with db.transaction(scope) as s:  # enrolling again starts from scratch
        secret, _ = await begin_mfa_enrolment(s, settings, owner_a.user_id)
        assert secret != totp.secret


async def test_another_users_row_is_out_of_reach(
    db: Database, settings: Settings, owner_a: Seat, owner_b: Seat, make_member: MakeMember
) -> None:
    # bound as alpha's owner: beta's owner is invisible, and a fellow member's row is readable
    # but not lockable for update (RLS), so nobody enrols MFA on someone else's behalf
    staff = await make_member(owner_a.tenant_id, "sam@alpha.example.com", "staff")
    async with db.transaction(DbScope.tenant(owner_a.tenant_id, owner_a.user_id)) as s:
        for other in (owner_b.user_id, staff.user_id):
            with pytest.raises(NotFound):
                await begin_mfa_enrolment(s, settings, other)
