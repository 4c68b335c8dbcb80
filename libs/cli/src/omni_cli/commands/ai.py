"""``omni ai limits``: the operator's AI limits for one tenant (the owner cannot change them)."""

from __future__ import annotations

import typer

from omni_cli.commands.accounts import _run, tenant_scope

ai_app = typer.Typer(no_args_is_help=True, help="AI suggestions: per-tenant limits.")


@ai_app.command("limits")
def limits(
    slug: str = typer.Argument(..., help="the tenant"),
    per_minute: int | None = typer.Option(
        None, "--per-minute", min=1, help="suggestions per minute, all staff"
    ),
    tokens_per_day: int | None = typer.Option(
        None, "--tokens-per-day", min=0, help="model tokens per UTC day"
    ),
    default: bool = typer.Option(False, "--default", help="back to the service's defaults"),
) -> None:
    """Show the tenant's AI limits; with options, set them (``--default`` clears the overrides)."""
    from omni_common.tenancy.assistant import TenantLimits, read_limits, write_limits

    async def go() -> TenantLimits:
        async with tenant_scope(slug) as (_catalog, registry, tenant):
            if default or per_minute is not None or tokens_per_day is not None:
                async with registry.begin(tenant.id) as session:
                    current = TenantLimits() if default else await read_limits(session)
                    await write_limits(
                        session,
                        TenantLimits(
                            per_minute if per_minute is not None else current.suggestions_per_minute,
                            tokens_per_day if tokens_per_day is not None else current.tokens_per_day,
                        ),
                    )
            async with registry.session(tenant.id) as session:
                return await read_limits(session)

    got = _run(go)
    minute = got.suggestions_per_minute
    day = got.tokens_per_day
    typer.echo(
        f"{slug}: {minute if minute is not None else 'default'} suggestions per minute, "
        f"{day if day is not None else 'default'} model tokens per day "
        "(defaults: OMNI_AI_SUGGESTIONS_PER_MINUTE, OMNI_AI_TOKENS_PER_DAY)"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(ai_app, name="ai")
