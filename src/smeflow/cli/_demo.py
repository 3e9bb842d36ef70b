"""``smeflow demo``: an embedded database with two seeded tenants, then the API.

The seed is idempotent: running the demo again keeps the tenants and users and issues a fresh
API key for each (the previous demo keys are revoked).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from sqlalchemy import select

from smeflow.agents.schemas import AgentConfig, AgentCreate
from smeflow.agents.service import create_agent, find_agent
from smeflow.audit import Actor
from smeflow.db import Database, DbScope, bind_scope
from smeflow.errors import NotFound
from smeflow.identity import ApiKey, Principal, add_member, create_api_key, revoke_api_key
from smeflow.settings import Settings
from smeflow.tenancy import TenantCreate, create_tenant, get_tenant_by_slug

DEMO_ACTOR = Actor("system", "demo")
RECEPTIONIST = "Receptionist"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 (printed for the local demo only)


@dataclass(frozen=True, slots=True)
class DemoTenant:
    data: TenantCreate
    owner_email: str
    languages: tuple[str, ...]
    sample: str


DEMO_TENANTS = [
    DemoTenant(
        TenantCreate(slug="amani-salon", name="Amani Hair & Beauty", country="KE", default_locale="sw_KE"),
        "wanjiru@amani-salon.example",
        ("sw", "en"),
        "Habari, nataka kupanga miadi ya kusuka nywele kesho",
    ),
    DemoTenant(
        TenantCreate(
            slug="lagos-care-clinic", name="Lagos Care Clinic", country="NG", default_locale="en_NG"
        ),
        "adaeze@lagoscare.example",
        ("en", "yo", "ha", "pcm"),
        "Abeg I wan book appointment for Saturday",
    ),
]


async def seed(settings: Settings, db: Database) -> list[tuple[DemoTenant, str]]:
    """Create the demo tenants and owners if missing; return a fresh API key for each."""
    keys: list[tuple[DemoTenant, str]] = []
    for demo in DEMO_TENANTS:
        async with db.transaction(DbScope.platform()) as session:
            try:
                tenant = await get_tenant_by_slug(session, demo.data.slug)
                await bind_scope(session, DbScope.tenant(tenant.id))
            except NotFound:
                tenant = await create_tenant(session, settings, DEMO_ACTOR, demo.data)
                await add_member(
                    session, DEMO_ACTOR, tenant.id, demo.owner_email, "owner", password=DEMO_PASSWORD
                )
            old = await session.execute(
                select(ApiKey.id).where(ApiKey.name == "demo", ApiKey.revoked_at.is_(None))
            )
            for (key_id,) in old:
                await revoke_api_key(session, DEMO_ACTOR, tenant.id, key_id)
            if await find_agent(session, tenant.id, RECEPTIONIST) is None:
                config = AgentConfig(
                    languages=list(demo.languages), instructions=f"The receptionist of {demo.data.name}."
                )
                await create_agent(
                    session,
                    DEMO_ACTOR,
                    tenant.id,
                    AgentCreate(name=RECEPTIONIST, type="automator", config=config),
                    {},
                )
            creator = Principal(kind="user", tenant_id=tenant.id, role="owner", user_id=None)
            plaintext, _ = await create_api_key(session, creator, tenant.id, "demo", "admin", ["*"])
        keys.append((demo, plaintext))
    return keys


def print_welcome(console: Console, url: str, keys: list[tuple[DemoTenant, str]]) -> None:
    console.print(f"\n[bold]SMEFlow demo[/bold] at {url}  ·  API docs: {url}/docs\n")
    for demo, key in keys:
        console.print(f"[bold]{demo.data.name}[/bold] ({demo.data.slug}, {demo.data.country})")
        console.print(f"  owner login : {demo.owner_email} / {DEMO_PASSWORD}")
        console.print(f"  API key     : {key}", highlight=False, soft_wrap=True)
        console.print(
            f"  agent       : {RECEPTIONIST} (offline, {', '.join(demo.languages)}) — try:  "
            f"smeflow agents ask {RECEPTIONIST} {demo.sample!r} --tenant {demo.data.slug}",
            highlight=False,
            soft_wrap=True,
        )
    first = keys[0][1]
    console.print(f"\ntry:  curl -H 'X-API-Key: {first}' {url}/api/v1/me\n", highlight=False, soft_wrap=True)


__all__ = ["DEMO_PASSWORD", "DEMO_TENANTS", "print_welcome", "seed"]
