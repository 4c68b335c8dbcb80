"""An account as connected or changed, and as the API and the settings page show it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from omni_common.domain.channels import Channel
from omni_common.tenancy.accounts import AccountView

# The status in a word or two; the internal names ("needs_reauth") never reach the page.
STATUS_LABEL = {"active": "Connected", "disabled": "Disabled", "needs_reauth": "Needs a new token"}
STATUS_HELP = {
    "active": "Connected: messages arrive and replies are sent.",
    "disabled": "Disabled: incoming messages are not shown and nothing is sent.",
    "needs_reauth": (
        "Needs a new access token: Meta rejected the saved token (expired or revoked). "
        "Generate a new token in Meta Business Suite and replace it here."
    ),
}


class AccountIn(BaseModel):
    channel: Channel
    external_account_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")
    token: str = Field(min_length=8, max_length=4096)
    waba_id: str | None = Field(default=None, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)


class AccountPatch(BaseModel):
    enabled: bool | None = None
    token: str | None = Field(default=None, min_length=8, max_length=4096)
    display_name: str | None = Field(default=None, max_length=200)
    # Messenger/Instagram: Meta granted the Human Agent permission (App Review): replies up to 7 days.
    human_agent: bool | None = None


def account_dict(view: AccountView) -> dict[str, Any]:
    return {
        **view.to_dict(),
        "status_label": STATUS_LABEL.get(view.status, view.status.replace("_", " ").capitalize()),
        "status_help": STATUS_HELP.get(view.status, ""),
    }
