"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from smeflow.api._deps import State
from smeflow.db import DbScope
from smeflow.errors import Unavailable

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


@router.get("/healthz", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", summary="The process can serve: its database answers")
async def readyz(state: State) -> Health:
    try:
        async with state.db.transaction(DbScope.auth()) as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise Unavailable("the database does not answer") from exc
    return Health(status="ready")
