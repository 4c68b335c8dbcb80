"""Messenger and Instagram outside 24 hours, over real sockets: with the account's human-agent
setting a reply goes as ``MESSAGE_TAG`` / ``HUMAN_AGENT`` up to 7 days (Meta's window rules in the
sandbox), the conversation counts down to 7 days, and nothing goes after that or without the setting."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from inbox_support import SeededTenant, seed
from templates_support import Stack, full_stack, login

from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    return seed(settings, f"agent-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def stack(
    settings: Settings, tenant: SeededTenant, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with full_stack(
        settings, tenant, tmp_path_factory.mktemp("media"), window_hours=24, human_agent_permission=True
    ) as s:
        yield s


def owner(stack: Stack) -> dict[str, str]:
    """The account setting is the owner's (docs/security.md, "Who can do what")."""
    return login(stack.http, stack.tenant, "business_owner")


def human_agent(stack: Stack, channel: str, on: bool) -> None:
    answer = stack.http.patch(
        f"/api/social-accounts/{stack.tenant.accounts[channel]}",
        json={"human_agent": on},
        headers=owner(stack),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["human_agent_enabled"] is on


def reply(stack: Stack, channel: str, text: str) -> dict[str, object]:
    answer = stack.http.post(
        f"/api/conversations/{stack.tenant.chats[channel]}/messages", json={"text": text}
    )
    return {**answer.json(), "http": answer.status_code}


@pytest.mark.parametrize("channel", ["facebook", "instagram"])
def test_without_the_setting_only_24_hours(stack: Stack, channel: str) -> None:
    human_agent(stack, channel, False)
    stack.stale(channel, hours=30)
    refused = reply(stack, channel, "Sorry for the late answer")
    assert refused["http"] == 409
    assert "human-agent" in str(refused["detail"])
    view = stack.http.get(f"/api/conversations/{stack.tenant.chats[channel]}").json()
    assert view["reply_window_open"] is False
    assert view["templates_allowed"] is False


@pytest.mark.parametrize("channel", ["facebook", "instagram"])
def test_with_the_setting_a_reply_goes_as_human_agent_up_to_7_days(stack: Stack, channel: str) -> None:
    human_agent(stack, channel, True)
    stack.stale(channel, hours=48)
    view = stack.http.get(f"/api/conversations/{stack.tenant.chats[channel]}").json()
    assert view["reply_window_open"] is True
    assert view["reply_window_tag"] == "HUMAN_AGENT"
    closes = datetime.fromisoformat(view["reply_window_closes_at"])
    assert timedelta(days=4, hours=23) < closes - datetime.now(closes.tzinfo) < timedelta(days=5, minutes=1)
    text = f"A person here, sorry for the wait {uuid.uuid4().hex[:6]}"
    queued = reply(stack, channel, text)
    assert queued["http"] == 202, queued
    row = stack.settled(str(queued["id"]), "sent", "delivered", "read")
    assert row["status"] != "failed"
    request = next(r for r in stack.graph_requests("/messages") if text in r["body"])
    body = json.loads(request["body"])
    assert (body["messaging_type"], body["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")


def test_within_24_hours_no_tag_is_sent(stack: Stack) -> None:
    human_agent(stack, "facebook", True)
    stack.stale("facebook", hours=2)
    text = f"Quick answer {uuid.uuid4().hex[:6]}"
    queued = reply(stack, "facebook", text)
    stack.settled(str(queued["id"]), "sent", "delivered", "read")
    body = json.loads(next(r for r in stack.graph_requests("/messages") if text in r["body"])["body"])
    assert body["messaging_type"] == "RESPONSE"
    assert "tag" not in body


@pytest.mark.parametrize("channel", ["facebook", "instagram"])
def test_after_7_days_nothing_goes(stack: Stack, channel: str) -> None:
    human_agent(stack, channel, True)
    stack.stale(channel, hours=24 * 7 + 1)
    refused = reply(stack, channel, "Hello again")
    assert refused["http"] == 409
    assert "7 days" in str(refused["detail"])


def test_the_setting_is_messenger_and_instagram_only(stack: Stack) -> None:
    answer = stack.http.patch(
        f"/api/social-accounts/{stack.tenant.accounts['whatsapp']}",
        json={"human_agent": True},
        headers=owner(stack),
    )
    assert answer.status_code == 422


def test_when_meta_has_not_granted_the_permission_the_reply_fails_in_plain_words(stack: Stack) -> None:
    human_agent(stack, "facebook", True)
    stack.stale("facebook", hours=30)
    stack.sandbox("POST", "/config", json={"human_agent_permission": False})
    try:
        queued = reply(stack, "facebook", "Are you still there?")
        assert queued["http"] == 202
        row = stack.settled(str(queued["id"]), "failed")
        assert row["error_code"] == "10"
        assert "24-hour window has closed" in row["error_message"]
    finally:
        stack.sandbox("POST", "/config", json={"human_agent_permission": True})
