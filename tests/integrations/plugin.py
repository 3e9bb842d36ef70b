"""What the tests install into ``smeflow worker`` subprocesses, through the real entry-point groups
(``smeflow.connectors``, ``smeflow.inbox_handlers``): see :func:`install_plugin`.

The handler of ``payment.succeeded`` events writes its effect (an audit event ``test.inbox_effect``, in
the claiming transaction) and then, when ``INGRESS_TEST_GATE`` names a URL, POSTs the event id
there and waits for the answer: the test holds that answer to keep the worker mid-event.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from smeflow.audit import Actor, record
from smeflow.integrations.models import InboxEvent

EFFECT = "test.inbox_effect"

ENTRY_POINTS = """\
[smeflow.connectors]
paystack_test = integrations.connectors:PaystackLike
orders_test = integrations.connectors:Orders

[smeflow.inbox_handlers]
ingress_tests = integrations.plugin:handlers
"""


async def effect(session: AsyncSession, event: InboxEvent) -> None:
    await record(session, event.tenant_id, Actor.system("inbox-test"), EFFECT, "inbox_event", event.event_id)
    gate = os.environ.get("INGRESS_TEST_GATE")
    if gate:
        async with httpx.AsyncClient(timeout=120) as client:
            await client.post(gate, json={"event_id": event.event_id})


def handlers() -> dict[str, object]:
    # the exact kind: more specific than the worker's own ``payment.`` handler (payments)
    return {"payment.succeeded": effect}


def install_plugin(folder: Path) -> str:
    """Write a distribution's metadata declaring this module's entry points into ``folder``; the
    ``PYTHONPATH`` a subprocess needs to see it (and this package)."""
    info = folder / "smeflow_ingress_tests-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: smeflow-ingress-tests\nVersion: 0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    tests = Path(__file__).resolve().parent.parent
    return os.pathsep.join([str(folder), str(tests)])
