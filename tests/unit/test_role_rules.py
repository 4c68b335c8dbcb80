"""The role matrix's rules (``inbox_api.auth.roles``) without a server: who holds what, the words of
a refusal, and a route without a decision refused to everyone."""

from __future__ import annotations

import uuid

import pytest

from inbox_api.auth.models import Principal
from inbox_api.auth.roles import MATRIX, ROUTES, WHAT, Capability, decision, may, refusal


def person(role: str) -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), role, f"{role}@x.test", None, "sid", via_cookie=False)


OWNER, MANAGER = person("business_owner"), person("manager")


@pytest.mark.parametrize("capability", list(Capability))
def test_the_owner_holds_every_capability(capability: Capability) -> None:
    assert refusal(OWNER, capability) is None


def test_a_manager_is_refused_the_owners_capabilities_in_plain_words() -> None:
    for capability, roles in MATRIX.items():
        if MANAGER.role in roles:
            assert refusal(MANAGER, capability) is None
        else:
            assert refusal(MANAGER, capability) == f"only the owner can {WHAT[capability]}"
    assert refusal(MANAGER, Capability.AI_SETTINGS) == "only the owner can change the AI settings"


def test_every_capability_has_a_row_and_every_owner_only_one_its_words() -> None:
    assert set(MATRIX) == set(Capability)
    assert {c for c, roles in MATRIX.items() if MANAGER.role not in roles} == set(WHAT)
    assert set(ROUTES.values()) == set(Capability)  # no capability without a route


def test_a_route_without_a_decision_is_refused_to_everyone() -> None:
    assert decision("GET", "/api/something-new") is None
    assert refusal(OWNER, None) is not None
    assert refusal(MANAGER, None) is not None


def test_head_is_decided_as_get_and_templates_ask_by_name() -> None:
    assert decision("HEAD", "/api/audit") is decision("GET", "/api/audit") is Capability.AUDIT
    assert may(OWNER, "audit")
    assert not may(MANAGER, "audit")
    assert may(MANAGER, "answer")
