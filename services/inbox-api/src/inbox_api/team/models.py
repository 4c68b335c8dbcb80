"""What the team page and API show about members and sessions (no password hashes, no session ids)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

# Roles in words; only the first two may use the inbox.
ROLE_WORDS = {
    "business_owner": "Owner",
    "manager": "Manager",
    "staff": "Staff (no inbox access)",
    "investor": "Investor (no inbox access)",
    "customer": "Customer (no inbox access)",
    "super_admin": "Platform admin (no inbox access)",
}


class MemberOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    role: str
    role_words: str
    active: bool
    last_login_at: datetime | None
    open_sessions: int


class SessionOut(BaseModel):
    device: str
    signed_in_at: datetime
    last_seen_at: datetime | None
    expires_at: datetime
    this_one: bool


class RoleIn(BaseModel):
    role: str
