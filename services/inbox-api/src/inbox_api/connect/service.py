"""Connecting what the owner ticked after "Continue with Facebook": each through the same path as the
manual form (``accounts.service.connect``: ownership proven by ``debug_token``, token encrypted,
catalog claim), then subscribed to our app's webhooks and the subscription read back.
"""

from __future__ import annotations

from typing import Any

from inbox_api.accounts.models import AccountIn
from inbox_api.accounts.service import connect
from inbox_api.auth.models import Principal
from inbox_api.connect.embedded import connect_number
from inbox_api.connect.meta import FacebookLogin, LoginProblem, subscribe_page, subscribe_waba
from inbox_api.connect.outcome import Outcome, refusal
from inbox_api.connect.signup import Number
from inbox_api.connect.store import Choices
from inbox_api.deps import InboxDeps
from omni_common.errors import OmniError

# Plain words for the permissions the owner may decline in Meta's dialog.
PERMISSION_WORDS = {
    "pages_show_list": "see the list of your Pages",
    "pages_messaging": "answer Messenger conversations of your Page",
    "pages_manage_metadata": "receive your Page's messages (webhooks)",
    "instagram_basic": "see your Instagram account",
    "instagram_manage_messages": "answer Instagram Direct messages",
    "whatsapp_business_management": "manage your WhatsApp Business Account",
    "whatsapp_business_messaging": "send and receive WhatsApp messages",
    "business_management": "see your business",
}
CHANNEL_WORDS = {"facebook": "Messenger", "instagram": "Instagram", "whatsapp": "WhatsApp"}


def _item(choices: Choices, ticked: str) -> tuple[str, dict[str, Any]] | None:
    """A ticked value (``page:<id>``, ``ig:<id>``, ``wa:<id>``) found among the offered ones."""
    kind, _, wanted = ticked.partition(":")
    if kind in ("page", "ig"):
        key = "id" if kind == "page" else "instagram_id"
        for page in choices.assets["pages"]:
            if page.get(key) == wanted:
                return kind, page
    if kind == "wa":
        for number in choices.assets["numbers"]:
            if number["id"] == wanted:
                return kind, number
    return None  # not offered to this session: ignored, never trusted


async def _one(
    deps: InboxDeps, login: FacebookLogin, user: Principal, choices: Choices, kind: str, item: dict[str, Any]
) -> Outcome:
    if kind == "wa" and choices.embedded:  # Embedded Signup: the number is registered too
        # proven before registering, with the targets debug_token gave at the callback
        return await connect_number(deps, login, user, choices.user_token, Number.of(item), choices.targets)
    if kind == "wa":
        label = f"WhatsApp {item['number']} ({item['name']})"
        body = AccountIn(
            channel="whatsapp",
            external_account_id=item["id"],
            token=choices.user_token,
            waba_id=item["waba_id"],
            display_name=item["name"] or None,
        )
    elif kind == "ig":
        label = f"Instagram account of {item['name']}"
        body = AccountIn(channel="instagram", external_account_id=item["instagram_id"], token=item["token"])
    else:
        label = f"Messenger of {item['name']}"
        body = AccountIn(
            channel="facebook", external_account_id=item["id"], token=item["token"], display_name=item["name"]
        )
    try:
        await connect(deps, user, body)
    except OmniError as exc:
        return Outcome(label, False, f"Not connected: {refusal(exc)}")
    try:
        if kind == "wa":
            listed = await subscribe_waba(login, item["waba_id"], choices.user_token)
            said = "receiving messages" if listed else "Meta does not list the subscription yet"
        else:
            fields = await subscribe_page(login, item["id"], item["token"])
            said = "receiving messages" if "messages" in fields else "Meta does not list the subscription yet"
    except LoginProblem as exc:
        return Outcome(label, False, f"Connected, but not subscribed to messages: {exc}")
    return Outcome(label, True, f"Connected, {said}.")


async def finish(
    deps: InboxDeps, login: FacebookLogin, user: Principal, choices: Choices, ticked: list[str]
) -> list[Outcome]:
    """Connect and subscribe each ticked item, one after the other; one failing stops none."""
    outcomes = []
    for value in dict.fromkeys(ticked):
        found = _item(choices, value)
        if found is not None:
            outcomes.append(await _one(deps, login, user, choices, *found))
    return outcomes
