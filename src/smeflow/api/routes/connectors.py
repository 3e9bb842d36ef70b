"""Connectors: what each registered connector declares (what the builder's forms and the LLM tool
layer are made from). Reading needs ``integrations:read`` (every member)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from smeflow.api._deps import State, require
from smeflow.identity import Principal
from smeflow.integrations.schemas import ConnectorOut, ConnectorsOut

router = APIRouter(prefix="/api/v1", tags=["integrations"])


@router.get(
    "/connectors",
    summary="Every registered connector: its credentials and config schemas, webhooks and actions",
)
async def list_connectors(
    state: State, principal: Annotated[Principal, require("integrations:read")]
) -> ConnectorsOut:
    return ConnectorsOut(connectors=[ConnectorOut.of(c) for c in state.connectors.all()])
