"""The ORM models and the migrations describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import URL, create_engine

import smeflow.agents.models
import smeflow.audit.models
import smeflow.bookings.models
import smeflow.channels.models
import smeflow.engine.approval_models
import smeflow.engine.event_models
import smeflow.engine.form_models
import smeflow.engine.models
import smeflow.engine.run_models
import smeflow.engine.trigger_models
import smeflow.identity.models
import smeflow.integrations.models
import smeflow.payments.models
import smeflow.tenancy.models  # noqa: F401  (registers the tables)
from smeflow.db import Base


def test_models_match_migrations(clean_db: URL) -> None:
    engine = create_engine(clean_db)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    # The functional index on lower(email) is declared in the migration only.
    diff = [d for d in diff if not (d[0] == "remove_index" and d[1].name == "uq_users_email")]
    assert diff == []
