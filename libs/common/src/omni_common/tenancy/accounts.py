"""Connected social accounts: the tenant's own row (credentials encrypted) in step with the catalog.

Order of a connect: claim the account id in the catalog first (the UNIQUE constraint refuses an id
another tenant holds), then write the tenant's row. A failure between the two leaves a claim that a
re-run completes; it never leaves a tenant row that routing does not know.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from omni_common.crypto import KeyRing, binding
from omni_common.db.catalog import Catalog
from omni_common.db.tenant_models import Notification, SocialAccount
from omni_common.domain.credentials import Credentials, pack, unpack
from omni_common.domain.ownership import TokenGrant, needs_me, ownership_refusal
from omni_common.domain.reauth import EXPIRED_KIND, LiveEvent, reauth_events, reauth_notice
from omni_common.errors import AccountConflict, OmniError

if TYPE_CHECKING:
    from omni_common.graph import AccountInfo, GraphClient

log = structlog.get_logger(__name__)

CREDENTIALS_FIELD = "credentials"


class AccountNotFound(OmniError):
    """The tenant has no such connected account."""


class CredentialsRefused(OmniError):
    """Meta refused the credentials on connect; the message is Meta's reason (never the token)."""

    field = "token"  # the form field the refusal is about


class OwnershipRefused(CredentialsRefused):
    """The token works but does not prove the account is its holder's (``domain.ownership``)."""

    def __init__(self, reason: str, *, field: str = "token") -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class AccountView:
    """What may be shown of an account: never the token, at most its last four characters."""

    id: uuid.UUID
    channel: str
    external_account_id: str
    waba_id: str | None
    display_name: str | None
    status: str
    is_active: bool
    credentials_hint: str | None
    last_error_code: str | None
    last_error_message: str | None
    last_error_at: datetime | None
    last_webhook_at: datetime | None
    last_send_at: datetime | None
    human_agent_enabled: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "channel": self.channel,
            "external_account_id": self.external_account_id,
            "waba_id": self.waba_id,
            "display_name": self.display_name,
            "status": self.status,
            "is_active": self.is_active,
            "token_set": self.credentials_hint is not None,
            "token_last4": self.credentials_hint,
            "last_error_code": self.last_error_code,
            "last_error_message": self.last_error_message,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "last_webhook_at": self.last_webhook_at.isoformat() if self.last_webhook_at else None,
            "last_send_at": self.last_send_at.isoformat() if self.last_send_at else None,
            "human_agent_enabled": self.human_agent_enabled,
        }


def _view(row: SocialAccount) -> AccountView:
    return AccountView(
        row.id,
        row.platform,
        row.external_account_id,
        row.waba_id,
        row.display_name,
        row.status,
        row.is_active,
        row.credentials_hint,
        row.last_error_code,
        row.last_error_message,
        row.last_error_at,
        row.last_webhook_at,
        row.last_send_at,
        bool(row.human_agent_enabled),
    )


# Facts about the previous token that a newly saved token makes stale (None is written, not skipped).
_CLEARED_ON_CONNECT = frozenset(
    {
        "last_error_code",
        "last_error_message",
        "last_error_at",
        "token_expires_at",
        "token_kind",
        "token_refresh_tried_at",
        "subscription_checked_at",  # the monitor checks the new token's subscription on its next pass
    }
)


async def connect_account(
    session: AsyncSession,
    *,
    catalog: Catalog,
    keyring: KeyRing,
    tenant_id: uuid.UUID,
    channel: str,
    external_account_id: str,
    token: str,
    waba_id: str | None = None,
    display_name: str | None = None,
    pin: str | None = None,
) -> AccountView:
    """Connect (or re-connect, replacing the token) an account; AccountConflict if another tenant has it.

    ``pin``: the WhatsApp number's two-step PIN the inbox registered it with, sealed with the token;
    None keeps the PIN the account already had (a new token does not forget it).

    A (re)connect saves a token, so the account counts as working again and whatever was known of
    the previous token (its errors, its expiry) is cleared; the token monitor asks Meta for the new
    token's expiry on its next pass. A rename is ``rename_account``, which touches none of that.
    ``session`` is a transaction on the tenant's database; the caller commits.
    """
    await catalog.map_account(channel, external_account_id, tenant_id)
    found = (
        await session.execute(
            select(SocialAccount.id, SocialAccount.credentials).where(
                SocialAccount.platform == channel, SocialAccount.external_account_id == external_account_id
            )
        )
    ).first()
    account_id = found[0] if found else uuid.uuid4()
    if pin is None and found is not None and found[1] is not None:
        pin = _sealed(keyring, tenant_id, account_id, found[1]).pin
    aad = binding(tenant_id, account_id, CREDENTIALS_FIELD)
    ciphertext = keyring.encrypt(pack(Credentials(token, pin)), aad=aad)
    values = {
        "tenant_id": tenant_id,
        "platform": channel,
        "external_account_id": external_account_id,
        "waba_id": waba_id,
        "display_name": display_name,
        "credentials": ciphertext,
        "credentials_hint": _hint(token),
        "status": "active",
        "is_active": True,
        "last_error_code": None,
        "last_error_message": None,
        "last_error_at": None,
        "token_expires_at": None,
        "token_kind": None,
        "token_refresh_tried_at": None,
        "subscription_checked_at": None,
    }
    stmt = insert(SocialAccount).values(id=account_id, **values)
    row = (
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[SocialAccount.platform, SocialAccount.external_account_id],
                set_={k: v for k, v in values.items() if v is not None or k in _CLEARED_ON_CONNECT}
                | {"credentials": ciphertext},
            ).returning(SocialAccount)
        )
    ).scalar_one()
    await catalog.set_account_enabled(channel, external_account_id, tenant_id, True)
    if channel == "whatsapp" and waba_id:
        await _map_waba(catalog, waba_id, tenant_id)
    log.info("account_connected", channel=channel, tenant_id=str(tenant_id), account_id=external_account_id)
    return _view(row)


def _hint(token: str) -> str | None:
    """The last four characters people may see (none of a token too short to spare them)."""
    return token[-4:] if len(token) >= 8 else None


async def store_renewed_token(
    session: AsyncSession,
    *,
    keyring: KeyRing,
    tenant_id: uuid.UUID,
    account_id: uuid.UUID,
    token: str,
    expires_at: datetime | None,
    now: datetime,
) -> None:
    """Seal and store a token the account-monitor renewed (``fb_exchange_token``) in place of the old.

    Sealed like ``connect_account`` seals (bound to tenant, account and ``CREDENTIALS_FIELD``); the
    caller holds the row lock and has checked the old token is still the stored one.
    """
    # A number registered by Embedded Signup keeps its two-step PIN sealed with the renewed token.
    stored = await session.scalar(select(SocialAccount.credentials).where(SocialAccount.id == account_id))
    pin = _sealed(keyring, tenant_id, account_id, stored).pin if stored is not None else None
    aad = binding(tenant_id, account_id, CREDENTIALS_FIELD)
    ciphertext = keyring.encrypt(pack(Credentials(token, pin)), aad=aad)
    await session.execute(
        update(SocialAccount)
        .where(SocialAccount.id == account_id)
        .values(
            credentials=ciphertext,
            credentials_hint=_hint(token),
            token_expires_at=expires_at,
            token_refreshed_at=now,
        )
    )


async def _map_waba(catalog: Catalog, waba_id: str, tenant_id: uuid.UUID) -> None:
    """Route the WABA's own webhooks (template status updates) to this tenant too.

    A WABA already routed to another restaurant keeps its route: the number still connects (its
    messages are routed by the number's id), only the template webhooks go to the first one.
    """
    try:
        await catalog.map_account("whatsapp", waba_id, tenant_id)
    except AccountConflict:
        log.warning("waba_routed_elsewhere", tenant_id=str(tenant_id), waba_id=waba_id)


async def rename_account(
    session: AsyncSession, *, account_id: uuid.UUID, display_name: str | None
) -> str | None:
    """Change only the display name (status, errors and token untouched); answers the previous name.

    AccountNotFound when the tenant has no such account.
    """
    previous = (
        await session.execute(
            select(SocialAccount.display_name).where(SocialAccount.id == account_id).with_for_update()
        )
    ).one_or_none()
    if previous is None:
        raise AccountNotFound(f"account {account_id} does not exist")
    await session.execute(
        update(SocialAccount).where(SocialAccount.id == account_id).values(display_name=display_name)
    )
    return previous[0]


async def resolve_notifications(session: AsyncSession, account_id: uuid.UUID) -> None:
    """Resolve the account's open notifications (a new token fixes "expired" and "expiring soon")."""
    await session.execute(
        update(Notification)
        .where(Notification.social_account_id == account_id, Notification.resolved_at.is_(None))
        .values(resolved_at=datetime.now(UTC))
    )


async def list_accounts(session: AsyncSession) -> list[AccountView]:
    rows = (
        await session.execute(
            select(SocialAccount).order_by(SocialAccount.platform, SocialAccount.created_at)
        )
    ).scalars()
    return [_view(r) for r in rows]


async def set_account_enabled(
    session: AsyncSession,
    *,
    catalog: Catalog,
    tenant_id: uuid.UUID,
    channel: str,
    external_account_id: str,
    enabled: bool,
) -> AccountView:
    """Enable or disable an account: its tenant row and its routing change together."""
    row = (
        await session.execute(
            update(SocialAccount)
            .where(
                SocialAccount.platform == channel, SocialAccount.external_account_id == external_account_id
            )
            .values(is_active=enabled, status="active" if enabled else "disabled")
            .returning(SocialAccount)
        )
    ).scalar_one_or_none()
    if row is None:
        raise AccountNotFound(f"no {channel} account {external_account_id} in this tenant")
    await catalog.set_account_enabled(channel, external_account_id, tenant_id, enabled)
    return _view(row)


async def read_token(
    session: AsyncSession | AsyncConnection, *, keyring: KeyRing, tenant_id: uuid.UUID, account_id: uuid.UUID
) -> str:
    """Decrypt an account's token (DecryptionError if the ciphertext does not belong to it)."""
    ciphertext = (
        await session.execute(select(SocialAccount.credentials).where(SocialAccount.id == account_id))
    ).scalar_one_or_none()
    return decrypt_token(keyring, tenant_id=tenant_id, account_id=account_id, ciphertext=ciphertext)


def decrypt_token(
    keyring: KeyRing, *, tenant_id: uuid.UUID, account_id: uuid.UUID, ciphertext: str | None
) -> str:
    """The token of ``credentials`` read by the caller (DecryptionError if not this account's)."""
    if ciphertext is None:
        raise AccountNotFound(f"account {account_id} has no credentials")
    return _sealed(keyring, tenant_id, account_id, ciphertext).token


async def read_pin(
    session: AsyncSession, *, keyring: KeyRing, tenant_id: uuid.UUID, channel: str, external_account_id: str
) -> str | None:
    """The two-step PIN the inbox registered a WhatsApp number with, or None (none kept, no account)."""
    found = (
        await session.execute(
            select(SocialAccount.id, SocialAccount.credentials).where(
                SocialAccount.platform == channel, SocialAccount.external_account_id == external_account_id
            )
        )
    ).first()
    if found is None or found[1] is None:
        return None
    return _sealed(keyring, tenant_id, found[0], found[1]).pin


def _sealed(keyring: KeyRing, tenant_id: uuid.UUID, account_id: uuid.UUID, ciphertext: str) -> Credentials:
    return unpack(keyring.decrypt(ciphertext, aad=binding(tenant_id, account_id, CREDENTIALS_FIELD)))


async def verify_credentials(
    graph: GraphClient,
    *,
    channel: str,
    external_account_id: str,
    token: str,
    app_id: str | None,
    waba_id: str | None = None,
    app_token: str | None = None,
) -> AccountInfo:
    """Read the account with the token, then prove its holder owns it (``domain.ownership``).

    CredentialsRefused with Meta's reason when the read fails, OwnershipRefused (a CredentialsRefused)
    when ``debug_token`` does not show our app and the account among the granted targets. A
    GraphError that is retryable (Meta unreachable, 5xx, throttled) is raised as is: nothing was
    learnt about the token. ``app_token`` (``app_id|secret``) authenticates ``debug_token``.
    """
    from omni_common.graph import GraphError

    try:
        info = await graph.get_account(channel, external_account_id, token)  # type: ignore[arg-type]
        checked = await graph.debug_token(token, app_token=app_token)
        grant = TokenGrant(checked.is_valid, checked.app_id, checked.targets)
        if needs_me(channel, external_account_id, waba_id, grant) and checked.is_valid:
            grant = replace(grant, me_id=await graph.get_me_id(token))
    except GraphError as exc:
        if exc.retryable:  # Meta could not be asked (network, 5xx, throttled): not a verdict on the token
            raise
        code = f" (code {exc.code})" if exc.code is not None else ""
        raise CredentialsRefused(f"Meta refused the {channel} credentials: {exc.message}{code}") from exc
    refusal = ownership_refusal(
        channel=channel, account_id=external_account_id, waba_id=waba_id, our_app_id=app_id, grant=grant
    )
    if refusal is not None:
        log.warning("account_ownership_refused", channel=channel, account_id=external_account_id)
        raise OwnershipRefused(refusal.reason, field=refusal.field)
    return info


@dataclass(frozen=True)
class ReauthFlagged:
    """What flagging did: whether the account was newly flagged, and what to announce after commit."""

    first: bool
    events: list[LiveEvent]


async def flag_needs_reauth(
    session: AsyncSession,
    *,
    account_id: uuid.UUID,
    why: str,
    error_code: str | None,
    now: datetime | None = None,
    fix: str | None = None,
) -> ReauthFlagged:
    """Flag an account whose token Meta refused, and tell its owner once (``domain.reauth``).

    Every path that learns a token is dead comes here (the sender, the account-monitor, the inbox's
    connection test, the demo). The row lock makes "was it flagged before?" and the flag one step, so
    two replicas learning it at once add one notice; one is also skipped while an earlier one is open.
    ``why`` is Meta's reason; the returned events are for live inboxes, once the caller committed.
    """
    at = now or datetime.now(UTC)
    row = (
        await session.execute(select(SocialAccount).where(SocialAccount.id == account_id).with_for_update())
    ).scalar_one_or_none()
    if row is None:
        raise AccountNotFound(f"account {account_id} does not exist")
    first = row.status != "needs_reauth"
    row.status = "needs_reauth"
    row.last_error_code = error_code
    row.last_error_message = why
    row.last_error_at = at
    note_id: uuid.UUID | None = None
    if first and not await _open_notice(session, account_id, EXPIRED_KIND):
        notice = reauth_notice(
            row.platform, row.display_name or row.external_account_id, why, code=error_code, fix=fix
        )
        note = Notification(
            kind=notice.kind,
            severity=notice.severity,
            title=notice.title,
            body=notice.body,
            social_account_id=account_id,
            data=notice.data | {"account_id": row.external_account_id},
        )
        session.add(note)
        await session.flush()
        note_id = note.id
    else:
        await session.flush()
    return ReauthFlagged(first, reauth_events(row.platform, row.external_account_id, note_id))


async def _open_notice(session: AsyncSession, account_id: uuid.UUID, kind: str) -> bool:
    found = await session.scalar(
        select(Notification.id)
        .where(
            Notification.social_account_id == account_id,
            Notification.kind == kind,
            Notification.resolved_at.is_(None),
        )
        .limit(1)
    )
    return found is not None
