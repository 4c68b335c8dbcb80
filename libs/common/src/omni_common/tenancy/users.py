"""Tenant users: creation and argon2 password hashing."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.db.tenant_models import ROLES, User
from omni_common.errors import OmniError

DEFAULT_HASHER = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


class UserExists(OmniError):
    """A user with that email already exists in this tenant."""


def normalize_email(email: str) -> str:
    """Emails are compared and stored lowercased (unique case-insensitively)."""
    value = email.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@") or len(value) > 320:
        raise ValueError(f"not an email address: {email!r}")
    return value


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return (hasher or DEFAULT_HASHER).hash(password)


def verify_password(password_hash: str, password: str, hasher: PasswordHasher | None = None) -> bool:
    """True when ``password`` matches ``password_hash`` (never raises on a mismatch or bad hash)."""
    try:
        return (hasher or DEFAULT_HASHER).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this email (case-insensitive), or None."""
    return await session.scalar(select(User).where(User.email == normalize_email(email)))


async def add_user(
    session: AsyncSession,
    email: str,
    password: str,
    role: str,
    *,
    display_name: str | None = None,
    hasher: PasswordHasher | None = None,
) -> User:
    """Add a user in the session's transaction (the caller commits); UserExists on a taken email."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    normalized = normalize_email(email)
    if await get_user_by_email(session, normalized) is not None:
        raise UserExists(f"a user with email {normalized} already exists")
    # argon2 is deliberately slow CPU work: keep it off the event loop.
    password_hash = await asyncio.to_thread(hash_password, password, hasher)
    user = User(email=normalized, password_hash=password_hash, role=role, display_name=display_name)
    session.add(user)
    await session.flush()
    return user
