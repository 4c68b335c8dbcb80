"""``omni account connect|list|enable|disable``: a tenant's connected social accounts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from omni_common.settings import Settings

account_app = typer.Typer(no_args_is_help=True, help="Connected social accounts of a tenant.")
T = TypeVar("T")


def _cli_actor() -> Any:
    from omni_common.tenancy.audit import Actor

    return Actor.system("cli")


@asynccontextmanager
async def tenant_scope(slug: str) -> AsyncIterator[tuple[Any, Any, Any]]:
    """(catalog, registry, tenant) for one tenant slug, closed afterwards."""
    from omni_common.db.catalog import Catalog, catalog_engine
    from omni_common.db.registry import TenantEngineRegistry
    from omni_common.settings import Settings

    settings = Settings()
    engine = catalog_engine(settings.database_url)
    catalog = Catalog(engine)
    registry = TenantEngineRegistry(
        catalog=catalog, server_url=settings.database_url, connections_per_server=4
    )
    try:
        tenant = await catalog.get_tenant_by_slug(slug)
        if tenant is None:
            raise typer.BadParameter(f"no tenant {slug!r}", param_hint="SLUG")
        yield catalog, registry, tenant
    finally:
        await registry.close()
        await engine.dispose()


def _run(coro: Callable[[], Awaitable[T]]) -> T:
    from omni_common.errors import OmniError

    try:
        return asyncio.run(coro())  # type: ignore[arg-type]
    except OmniError as exc:
        typer.secho(str(exc), err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


@account_app.command("connect")
def connect(
    slug: str = typer.Argument(...),
    channel: str = typer.Argument(..., help="whatsapp | facebook | instagram"),
    phone_number_id: str = typer.Option(None, "--phone-number-id"),
    waba_id: str = typer.Option(None, "--waba-id"),
    page_id: str = typer.Option(None, "--page-id"),
    account_id: str = typer.Option(None, "--account-id"),
    token: str = typer.Option(..., "--token", help="Access token (stored encrypted, never shown)."),
    name: str = typer.Option(None, "--name", help="Display name (else read from the Graph API)."),
    verify: bool = typer.Option(
        True,
        "--verify/--no-verify",
        help="Prove with the Graph API (OMNI_GRAPH_API_URL, debug_token with OMNI_META_APP_ID) that the "
        "token was granted this account; --no-verify only with OMNI_ENV=development.",
    ),
) -> None:
    """Connect an account (again: replaces its token); refused if another tenant has it or Meta refuses it."""
    from omni_common.crypto import KeyRing
    from omni_common.settings import Settings
    from omni_common.tenancy.accounts import connect_account, list_accounts, resolve_notifications
    from omni_common.tenancy.audit import record

    ids = {"whatsapp": phone_number_id, "facebook": page_id, "instagram": account_id}
    if channel not in ids:
        raise typer.BadParameter("channel must be whatsapp, facebook or instagram", param_hint="CHANNEL")
    external_id = ids[channel]
    if not external_id:
        flag = {"whatsapp": "--phone-number-id", "facebook": "--page-id", "instagram": "--account-id"}[
            channel
        ]
        raise typer.BadParameter(f"{channel} needs {flag}")
    settings = Settings()
    if not (verify and settings.verify_accounts) and settings.env != "development":
        typer.echo(
            "refused: --no-verify (or OMNI_VERIFY_ACCOUNTS=false) is allowed only with "
            "OMNI_ENV=development; in production every account's owner must be proven",
            err=True,
        )
        raise typer.Exit(2)
    keyring = KeyRing.from_strings(settings.encryption_key_list())

    async def go() -> dict[str, object]:
        display_name = name
        if verify and settings.verify_accounts:
            info = await _verify(settings, channel, external_id, token, waba_id)
            display_name = name or info.display_name
        else:
            typer.echo(
                f"WARNING: {channel} account {external_id} connected WITHOUT ownership proof", err=True
            )
        async with tenant_scope(slug) as (catalog, registry, tenant), registry.begin(tenant.id) as session:
            existed = any(
                v.channel == channel and v.external_account_id == external_id
                for v in await list_accounts(session)
            )
            view = await connect_account(
                session,
                catalog=catalog,
                keyring=keyring,
                tenant_id=tenant.id,
                channel=channel,
                external_account_id=external_id,
                token=token,
                waba_id=waba_id,
                display_name=display_name,
            )
            await resolve_notifications(session, view.id)  # as the settings page does: the banner goes
            await record(
                session,
                _cli_actor(),
                "account.token_replaced" if existed else "account.connected",
                target_type="social_account",
                target_id=view.id,
                details={"channel": channel, "external_account_id": external_id},
            )
            return view.to_dict()

    view = _run(go)
    typer.echo(f"connected {channel} account {external_id} to {slug} (status {view['status']})")


async def _verify(settings: Settings, channel: str, external_id: str, token: str, waba_id: str | None) -> Any:
    """Read the account and prove the token was granted it (CredentialsRefused with the reason)."""
    import httpx

    from omni_common.graph import GraphClient
    from omni_common.graph.transport import graph_http
    from omni_common.tenancy.accounts import verify_credentials

    async with graph_http(timeout=httpx.Timeout(15.0, connect=5.0)) as http:
        return await verify_credentials(
            GraphClient(http, settings.graph_api_url),
            channel=channel,
            external_account_id=external_id,
            token=token,
            app_id=settings.meta_app_id,
            waba_id=waba_id,
            app_token=settings.debug_token_credential(),
        )


@account_app.command("list")
def list_(slug: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """The tenant's accounts (tokens are never shown)."""
    from omni_common.tenancy.accounts import list_accounts

    async def go() -> list[dict[str, object]]:
        async with tenant_scope(slug) as (_catalog, registry, tenant), registry.session(tenant.id) as session:
            return [a.to_dict() for a in await list_accounts(session)]

    rows = _run(go)
    if as_json:
        typer.echo(json.dumps({"tenant": slug, "accounts": rows}))
        return
    for row in rows:
        typer.echo(
            f"{row['channel']:<10} {row['external_account_id']:<20} {row['status']:<13} "
            f"{row['display_name'] or '-'}  token …{row['token_last4'] or '????'}"
        )


def _toggle(slug: str, channel: str, external_id: str, enabled: bool) -> None:
    from omni_common.tenancy.accounts import set_account_enabled
    from omni_common.tenancy.audit import record

    async def go() -> None:
        async with tenant_scope(slug) as (catalog, registry, tenant), registry.begin(tenant.id) as session:
            view = await set_account_enabled(
                session,
                catalog=catalog,
                tenant_id=tenant.id,
                channel=channel,
                external_account_id=external_id,
                enabled=enabled,
            )
            await record(
                session,
                _cli_actor(),
                "account.enabled" if enabled else "account.disabled",
                target_type="social_account",
                target_id=view.id,
                details={"channel": channel, "external_account_id": external_id},
            )

    _run(go)
    typer.echo(f"{channel} account {external_id} {'enabled' if enabled else 'disabled'}")


@account_app.command("disable")
def disable(slug: str, channel: str, account_id: str) -> None:
    """Stop ingesting and sending for an account (its webhooks are dead-lettered as channel_disabled)."""
    _toggle(slug, channel, account_id, False)


@account_app.command("enable")
def enable(slug: str, channel: str, account_id: str) -> None:
    """Resume an account."""
    _toggle(slug, channel, account_id, True)


def register(app: typer.Typer) -> None:
    app.add_typer(account_app, name="account")
