"""The caller, and the sign-in request and answer of the JSON API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pydantic import BaseModel, Field

from omni_common.domain.people import person_name
from omni_common.tenancy.audit import Actor


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; the tenant comes from the verified token, never from the request."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    email: str
    display_name: str | None
    sid: str
    via_cookie: bool

    @property
    def name(self) -> str:
        """The name the user goes by (set by them, else made from their email)."""
        return person_name(self.display_name, self.email)

    def actor(self) -> Actor:
        """The caller as the audit trail records them."""
        return Actor(self.user_id, self.email)


@dataclass(frozen=True)
class LoginResult:
    token: str
    principal: Principal


class LoginIn(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int
    csrf_token: str


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)
