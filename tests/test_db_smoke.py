from sqlalchemy import text

from smeflow.db import Database, DbScope


async def test_app_role_is_not_superuser(db: Database) -> None:
    async with db.transaction(DbScope.auth()) as s:
        row = (
            await s.execute(text("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user"))
        ).one()
    assert row[0] == "smeflow_app"
    assert row[1] is False
