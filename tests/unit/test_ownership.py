"""The ownership proof (domain.ownership): what a token must show before an account is connected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omni_common.domain.ownership import MESSAGING_SCOPE, Refusal, TokenGrant, needs_me, ownership_refusal

APP = "1234567890"
ids = st.text(alphabet="0123456789", min_size=1, max_size=17)
channels = st.sampled_from(sorted(MESSAGING_SCOPE))


def _refusal(channel: str, account: str, grant: TokenGrant, waba: str | None = None) -> Refusal | None:
    return ownership_refusal(channel=channel, account_id=account, waba_id=waba, our_app_id=APP, grant=grant)


@given(channel=channels, account=ids, waba=ids)
def test_a_granted_target_of_our_app_proves_it(channel: str, account: str, waba: str) -> None:
    target = waba if channel == "whatsapp" else account
    grant = TokenGrant(True, APP, {MESSAGING_SCOPE[channel]: ("999", target)})
    assert _refusal(channel, account, grant, waba) is None


@given(channel=channels, account=ids, waba=ids, others=st.lists(ids, max_size=5))
def test_an_account_not_among_the_targets_is_refused(
    channel: str, account: str, waba: str, others: list[str]
) -> None:
    target = waba if channel == "whatsapp" else account
    granted = tuple(o for o in others if o != target)
    grant = TokenGrant(True, APP, {MESSAGING_SCOPE[channel]: granted})
    refusal = _refusal(channel, account, grant, waba)
    assert refusal is not None
    assert refusal.field == ("waba_id" if channel == "whatsapp" else "external_account_id")
    assert MESSAGING_SCOPE[channel] in refusal.reason


@given(channel=channels, account=ids, other_app=ids)
def test_a_token_of_another_app_is_refused_whatever_it_was_granted(
    channel: str, account: str, other_app: str
) -> None:
    grant = TokenGrant(True, other_app + "x", {s: (account,) for s in MESSAGING_SCOPE.values()})
    refusal = _refusal(channel, account, grant, account)
    assert refusal is not None
    assert "another Meta app" in refusal.reason


@given(channel=channels, account=ids)
def test_an_invalid_token_is_refused(channel: str, account: str) -> None:
    grant = TokenGrant(False, APP, {s: (account,) for s in MESSAGING_SCOPE.values()})
    refusal = _refusal(channel, account, grant, account)
    assert refusal is not None
    assert "not valid" in refusal.reason


def test_the_target_must_be_granted_for_the_channels_permission() -> None:
    # Granted the Page for reading its metadata only: not for messaging.
    grant = TokenGrant(True, APP, {"pages_manage_metadata": ("42",), "instagram_manage_messages": ("42",)})
    assert _refusal("facebook", "42", grant) is not None
    assert _refusal("instagram", "42", grant) is None


def test_a_whatsapp_number_is_proven_through_its_waba_and_needs_it() -> None:
    grant = TokenGrant(True, APP, {"whatsapp_business_messaging": ("777",)})
    assert _refusal("whatsapp", "555", grant, "777") is None
    # The number's own id among the targets proves nothing: Meta grants WABAs.
    assert _refusal("whatsapp", "777", grant, "888") is not None
    missing = _refusal("whatsapp", "555", grant, None)
    assert missing is not None
    assert missing.field == "waba_id"


def test_a_page_token_proves_its_page_through_me_only_on_facebook() -> None:
    page_token = TokenGrant(True, APP, {}, me_id="42")
    assert needs_me("facebook", "42", None, TokenGrant(True, APP, {}))
    assert _refusal("facebook", "42", page_token) is None
    assert _refusal("facebook", "43", page_token) is not None
    assert _refusal("instagram", "42", page_token) is not None
    assert not needs_me("facebook", "42", None, TokenGrant(True, APP, {"pages_messaging": ("42",)}))
    assert not needs_me("instagram", "42", None, TokenGrant(True, APP, {}))


@pytest.mark.parametrize("app_id", [None, ""])
def test_without_our_app_id_nothing_is_proven(app_id: str | None) -> None:
    grant = TokenGrant(True, APP, {"pages_messaging": ("42",)})
    refusal = ownership_refusal(
        channel="facebook", account_id="42", waba_id=None, our_app_id=app_id, grant=grant
    )
    assert refusal is not None
    assert "OMNI_META_APP_ID" in refusal.reason


def test_only_development_may_switch_the_check_off() -> None:
    from omni_common.settings import Settings

    assert Settings(_env_file=None).env == "production"
    assert not Settings(_env_file=None, verify_accounts=True).account_check_bypassed()
    assert Settings(_env_file=None, verify_accounts=False, env="development").account_check_bypassed()
    with pytest.raises(ValueError, match="OMNI_ENV=development"):
        Settings(_env_file=None, verify_accounts=False).account_check_bypassed()


def test_the_demo_sandbox_sets_our_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from omni_cli.commands.services import sandbox_process

    monkeypatch.setenv("OMNI_DEV_SANDBOX", "1")
    monkeypatch.delenv("OMNI_META_APP_ID", raising=False)
    env: dict[str, str] = {}
    assert sandbox_process(env)
    assert env["OMNI_META_APP_ID"] == env["META_SANDBOX_APP_ID"] == "sandbox-app"
