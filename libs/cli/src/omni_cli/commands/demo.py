"""``omni demo seed``: a demo restaurant with accounts on all three channels and a few conversations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import typer

from omni_cli.commands.demo_assistant import ASSISTANT

demo_app = typer.Typer(no_args_is_help=True, help="Demo data for a local run.")

SLUG = "demo-bistro"
OWNER = ("owner@demo.test", "demo-password")
MANAGER = ("manager@demo.test", "demo-password")
# Account ids and tokens the Meta sandbox also knows in demo mode.
ACCOUNTS: list[dict[str, str]] = [
    {
        "channel": "whatsapp",
        "id": "100000000000001",
        "waba": "200000000000001",
        "token": "demo-wa-token-0001",
        "name": "Demo Bistro (WhatsApp)",
    },
    {
        "channel": "facebook",
        "id": "300000000000001",
        "waba": "",
        "token": "demo-fb-token-0001",
        "name": "Demo Bistro",
    },
    {
        "channel": "instagram",
        "id": "400000000000001",
        "waba": "",
        "token": "demo-ig-token-0001",
        "name": "@demobistro",
    },
]


def sandbox_seed() -> dict[str, Any]:
    """What the Meta sandbox must know in demo mode: the demo accounts and customers' profiles."""
    accounts = [
        {
            "channel": a["channel"],
            "account_id": a["id"],
            "token": a["token"],
            "display_name": a["name"],
            **({"waba_id": a["waba"]} if a["waba"] else {}),
            # The health panel's demo: Meta reports the Instagram token expiring soon.
            **({"token_expires_at": _near_expiry()} if a["channel"] == "instagram" else {}),
        }
        for a in ACCOUNTS
    ]
    contacts = [
        {
            "channel": "facebook",
            "user_id": "6100000000000001",
            "name": "Marta Rossi",
            "account_id": ACCOUNTS[1]["id"],
        },
        {
            "channel": "instagram",
            "user_id": "1780000000000001",
            "name": "Jules Martin",
            "account_id": ACCOUNTS[2]["id"],
        },
    ]
    from omni_cli.commands.demo_connect import sandbox_person
    from omni_cli.commands.demo_templates import sandbox_templates

    return {
        "accounts": accounts,
        "contacts": contacts,
        "templates": sandbox_templates(ACCOUNTS[0]["waba"]),
        "people": [sandbox_person()],  # who signs in to the login dialog (omni demo connect)
    }


NEAR_EXPIRY_DAYS = 5


def _near_expiry() -> int:
    """Unix time of the demo Instagram token's expiry, ``NEAR_EXPIRY_DAYS`` from today (whole days)."""
    day = 86400
    return (int(time.time()) // day + NEAR_EXPIRY_DAYS) * day


def _deliveries(now: int) -> list[tuple[str, dict[str, Any]]]:
    from omni_common.channels import samples

    wa, fb, ig = ACCOUNTS
    return [
        (
            "whatsapp",
            samples.whatsapp_text(
                phone_number_id=wa["id"],
                waba_id=wa["waba"],
                wa_id="4915112345678",
                name="Lena Vogel",
                text="Hallo! Habt ihr heute Abend einen Tisch für 4 frei?",
                message_id="wamid.demo-0001",
                timestamp=now - 3600,
            ),
        ),
        (
            "whatsapp",
            samples.whatsapp_text(
                phone_number_id=wa["id"],
                waba_id=wa["waba"],
                wa_id="447700900123",
                name="Sam Carter",
                text="Are you open tonight?",
                message_id="wamid.demo-0002",
                timestamp=now - 600,
            ),
        ),
        (
            # Wrote two days ago: the 24-hour window is closed, the composer says why.
            "whatsapp",
            samples.whatsapp_text(
                phone_number_id=wa["id"],
                waba_id=wa["waba"],
                wa_id=TOM,
                name="Tom Becker",
                text="Can I bring my own birthday cake on Saturday?",
                message_id="wamid.demo-0003",
                timestamp=now - 2 * 86400,
            ),
        ),
        (
            "facebook",
            samples.messaging_text(
                "facebook",
                account_id=fb["id"],
                user_id="6100000000000001",
                text="Do you have vegan dishes?",
                mid="m_demo-0001",
                timestamp_ms=(now - 1800) * 1000,
            ),
        ),
        (
            "instagram",
            samples.messaging_text(
                "instagram",
                account_id=ig["id"],
                user_id="1780000000000001",
                text="Loved the tiramisu last night 😍",
                mid="aWdfZAG1demo0001",
                timestamp_ms=(now - 900) * 1000,
            ),
        ),
    ]


TOM = "4915799990003"  # the customer whose reply window has closed


def _reaction(now: int) -> list[tuple[str, dict[str, Any]]]:
    """Lena's 👍 on the manager's reply (seeded by demo_team), as Meta delivers a reaction."""
    from omni_cli.commands.demo_team import LENA, REPLY_ID
    from omni_common.channels import samples

    wa = ACCOUNTS[0]
    delivery = samples.whatsapp_reaction(
        phone_number_id=wa["id"],
        waba_id=wa["waba"],
        wa_id=LENA,
        name="Lena Vogel",
        target_message_id=REPLY_ID,
        emoji="👍",
        message_id="wamid.demo-reaction-0001",
        timestamp=now - 3000,
    )
    return [("whatsapp", delivery)]


async def _ingest(registry: Any, tenant_id: Any, deliveries: list[tuple[str, dict[str, Any]]]) -> None:
    """Store deliveries as the normalizer would (the seed bypasses the broker; ids make re-runs no-ops)."""
    from normalizer.handler import handle_routed_event
    from normalizer.store import tenant_stores
    from omni_common.channels.inbound import split_delivery
    from omni_common.contracts import RoutedEvent
    from omni_common.domain.channels import is_channel

    for name, delivery in deliveries:
        if not is_channel(name):
            raise ValueError(f"not a channel: {name}")
        channel = name
        for item in split_delivery(channel, orjson.dumps(delivery)).items:
            event = RoutedEvent(
                event_id=f"demo:{channel}:{item.index}",
                delivery_id="demo",
                tenant_id=tenant_id,
                channel=channel,
                account_id=item.account_id,
                received_at=datetime.now(UTC),
                payload=item.payload,
            )
            await handle_routed_event(event, begin=tenant_stores(registry.driver_transaction))


async def seed() -> None:
    from sqlalchemy import update

    from omni_cli.commands.demo_team import seed_team
    from omni_cli.commands.demo_templates import seed_templates
    from omni_common.contracts.assistant import AssistantDocument
    from omni_common.crypto import KeyRing
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.registry import TenantEngineRegistry
    from omni_common.db.tenant_models import Contact
    from omni_common.errors import TenantError
    from omni_common.settings import Settings
    from omni_common.tenancy.accounts import connect_account
    from omni_common.tenancy.assistant import write_document
    from omni_common.tenancy.provisioning import create_tenant
    from omni_common.tenancy.users import UserExists, add_user

    settings = Settings()
    keyring = KeyRing.from_strings(settings.encryption_key_list())
    try:
        await create_tenant(
            settings.database_url,
            SLUG,
            display_name="Demo Bistro",
            owner_email=OWNER[0],
            owner_password=OWNER[1],
            keyring=keyring,  # its Web Push key, made with the tenant
        )
    except TenantError as exc:
        if "already" not in str(exc):
            raise
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=settings.database_url, connections_per_server=4
    )
    try:
        tenant = await catalog.get_tenant_by_slug(SLUG)
        assert tenant is not None
        async with registry.begin(tenant.id) as session:
            with contextlib.suppress(UserExists):  # re-runs keep the existing manager
                await add_user(session, MANAGER[0], MANAGER[1], "manager", display_name="Demo Manager")
        async with registry.begin(tenant.id) as session:
            await write_document(session, AssistantDocument.model_validate(ASSISTANT), None)
        for acc in ACCOUNTS:
            async with registry.begin(tenant.id) as session:
                view = await connect_account(
                    session,
                    catalog=catalog,
                    keyring=keyring,
                    tenant_id=tenant.id,
                    channel=acc["channel"],
                    external_account_id=acc["id"],
                    token=acc["token"],
                    waba_id=acc["waba"] or None,
                    display_name=acc["name"],
                )
                await _audit_connected(session, view.id, acc)
        now = int(time.time())
        await _ingest(registry, tenant.id, _deliveries(now))
        # Messenger/Instagram payloads carry no names; the normalizer fetches them through the
        # Graph API when running, the seed (which bypasses the broker) writes the demo ones itself.
        async with registry.begin(tenant.id) as session:
            for contact in sandbox_seed()["contacts"]:
                await session.execute(
                    update(Contact)
                    .where(Contact.external_id == contact["user_id"], Contact.display_name.is_(None))
                    .values(display_name=contact["name"])
                )
        async with registry.begin(tenant.id) as session:  # labels, quick replies, notes, audit...
            await seed_team(session, tenant_id=tenant.id, owner_email=OWNER[0], manager_email=MANAGER[0])
        await _ingest(registry, tenant.id, _reaction(now))  # after the reply it reacts to
        async with registry.begin(tenant.id) as session:  # expiry soon, a failure, a refused token
            await _seed_health(session, tenant.id)
        async with registry.begin(tenant.id) as session:  # WhatsApp templates: approved and refused
            await seed_templates(session, ACCOUNTS[0]["waba"])
    finally:
        await registry.close()
        await engine.dispose()


async def health_demo_again() -> None:
    """The channel-health demo once more, after ``omni demo connect`` reconnected the accounts (a
    reconnect rightly clears a refused token and a near expiry; the demo shows both)."""
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.registry import TenantEngineRegistry
    from omni_common.settings import Settings

    settings = Settings()
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=settings.database_url, connections_per_server=2
    )
    try:
        tenant = await catalog.get_tenant_by_slug(SLUG)
        assert tenant is not None
        async with registry.begin(tenant.id) as session:
            await _seed_health(session, tenant.id)
    finally:
        await registry.close()
        await engine.dispose()


async def _audit_connected(session: Any, account_id: Any, acc: dict[str, str]) -> None:
    """The owner connected the demo account (one entry per account, whatever the number of runs)."""
    from sqlalchemy import select

    from omni_common.db.tenant_models import AuditEntry, User
    from omni_common.tenancy.audit import Actor, record

    done = await session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action == "account.connected", AuditEntry.target_id == str(account_id)
        )
    )
    if done is not None:
        return
    owner = (await session.execute(select(User).where(User.email == OWNER[0]))).scalar_one()
    await record(
        session,
        Actor(owner.id, owner.email),
        "account.connected",
        target_type="social_account",
        target_id=account_id,
        details={"channel": acc["channel"], "external_account_id": acc["id"]},
    )


async def _seed_health(session: Any, tenant_id: Any) -> None:
    """Channel health demo: a near token expiry (Instagram), a recent failed reply (WhatsApp) and a
    token Meta refused (Messenger: needs_reauth, with the owner's notification and banner)."""
    from sqlalchemy import select, update

    from omni_common.db.tenant_models import Chat, ChatMessage, SocialAccount, User
    from omni_common.tenancy.audit import Actor, record

    await session.execute(
        update(SocialAccount)
        .where(SocialAccount.platform == "instagram", SocialAccount.external_account_id == ACCOUNTS[2]["id"])
        .values(token_expires_at=datetime.fromtimestamp(_near_expiry(), UTC))
    )
    await _seed_needs_reauth(session)
    chat_id = await session.scalar(
        select(Chat.id)
        .join(SocialAccount, SocialAccount.id == Chat.social_account_id)
        .where(SocialAccount.external_account_id == ACCOUNTS[0]["id"])
        .limit(1)
    )
    seeded = await session.scalar(
        select(ChatMessage.id).where(ChatMessage.external_message_id == DEMO_FAILED_ID)
    )
    if chat_id is None or seeded is not None:
        return
    now = datetime.now(UTC)
    manager = (await session.execute(select(User).where(User.email == MANAGER[0]))).scalar_one()
    failed = ChatMessage(
        tenant_id=tenant_id,
        chat_id=chat_id,
        channel="whatsapp",
        external_message_id=DEMO_FAILED_ID,
        direction="outbound",
        sender_name="Demo Manager",
        kind="text",
        text="Your table for 4 is confirmed!",
        status="failed",
        status_at=now,
        error_code="131026",
        error_message="Message undeliverable",
        platform_timestamp=now - timedelta(minutes=30),
        sent_by_user_id=manager.id,
    )
    # As Meta reports it asynchronously (failed status webhook) and the normalizer stores it.
    session.add(failed)
    await session.flush()
    await record(
        session,
        Actor(manager.id, manager.email),
        "reply.sent",
        target_type="conversation",
        target_id=chat_id,
        details={"message_id": str(failed.id), "preview": failed.text, "length": len(failed.text or "")},
    )


REAUTH_REASON = (
    "Meta refused the facebook credentials: Error validating access token: Session has expired (code 190)"
)


async def _seed_needs_reauth(session: Any) -> None:
    """Messenger's token refused, as the account-monitor leaves it: status, reason, one open notice.

    Every run reconnects the demo accounts (status active again), so the flag is set again each run;
    the notice is added only when none is open.
    """
    from sqlalchemy import select

    from omni_common.db.tenant_models import SocialAccount
    from omni_common.tenancy.accounts import flag_needs_reauth

    fb = ACCOUNTS[1]
    account_id = await session.scalar(
        select(SocialAccount.id).where(
            SocialAccount.platform == "facebook", SocialAccount.external_account_id == fb["id"]
        )
    )
    await flag_needs_reauth(
        session,
        account_id=account_id,
        why=REAUTH_REASON,
        error_code="190",
        fix="Settings → Connected accounts → Replace token (the demo token is "
        f"{fb['token']}), or Test connection",
    )


DEMO_FAILED_ID = "wamid.demo-failed-0001"


@demo_app.command("seed")
def seed_command() -> None:
    """Create (or complete) the demo tenant, its users, accounts and conversations; re-runnable."""
    from omni_common.logging import configure_logging

    configure_logging(service="cli", json=None, level="WARNING")
    asyncio.run(seed())
    typer.echo(f"demo tenant {SLUG!r} ready: log in as {OWNER[0]} / {OWNER[1]} (or {MANAGER[0]})")


@demo_app.command("sandbox-seed")
def sandbox_seed_command() -> None:
    """Print what the Meta sandbox must know in demo mode (JSON for `python -m meta_sandbox --seed`)."""
    typer.echo(json.dumps(sandbox_seed()))


def register(app: typer.Typer) -> None:
    from omni_cli.commands.demo_connect import connect_command  # it reads this module's demo ids

    demo_app.command("connect")(connect_command)
    app.add_typer(demo_app, name="demo")
