"""Signed but hostile deliveries the fault suite's corpus lacks, through the real ingress, router and
normalizer: each entry lands in its own tenant, or is refused / dead-lettered with a reason, and
never in a tenant that does not own its account.

Two tenants: "hosta" owns WhatsApp number A (on) and AD (turned off), "hostb" owns B; U belongs to
nobody. The splitter's outcomes quoted in comments are the pure functions the router runs
(omni_common.channels.inbound), so each expectation here is the one the code promises.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from pipeline import Pipeline, provision, running_pipeline, sign, unique_digits, wait_until
from pipeline import connect as connect_account
from testenv import APP_SECRET

from omni_common.broker.connection import connect
from omni_common.broker.dlq import DeadLetterInfo, list_dead_letters
from omni_common.channels.inbound.safe_json import MAX_DEPTH
from omni_common.settings import Settings

pytestmark = pytest.mark.integration


@dataclass
class World:
    pipe: Pipeline
    a_db: str
    b_db: str
    a: str  # hosta's number
    off: str  # hosta's number, turned off
    b: str  # hostb's number
    unknown: str  # nobody's

    @property
    def dbs(self) -> tuple[str, str]:
        return self.a_db, self.b_db


@pytest.fixture(scope="module")
def world(settings: Settings) -> Iterator[World]:
    a, off, b, unknown = (unique_digits() for _ in range(4))

    async def setup() -> tuple[str, str]:
        hosta = await provision(settings, "hosta", {"whatsapp": a})
        await connect_account(settings, hosta.id, "whatsapp", off, enabled=False)
        hostb = await provision(settings, "hostb", {"whatsapp": b})
        return hosta.db_name, hostb.db_name

    a_db, b_db = asyncio.run(setup())
    with running_pipeline(settings) as pipe:
        yield World(pipe, a_db, b_db, a, off, b, unknown)


def _message(mid: str, text: str = "hello", sender: Any = "4915100000009") -> dict[str, Any]:
    return {"from": sender, "id": mid, "timestamp": "1760000000", "type": "text", "text": {"body": text}}


def _entry(number: Any, *messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"waba-{number}",
        "changes": [
            {
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550000000", "phone_number_id": number},
                    "contacts": [{"profile": {"name": "Kim"}, "wa_id": "4915100000009"}],
                    "messages": list(messages),
                },
            }
        ],
    }


def _delivery(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": list(entries)}


def _post(world: World, body: bytes) -> None:
    answer = httpx.post(
        f"{world.pipe.ingress_url}/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET), "Content-Type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _where(world: World, mid: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``mid`` in each tenant database."""
    return {db: world.pipe.messages(db, "external_message_id = %s", (mid,)) for db in world.dbs}


def _letters(world: World) -> list[DeadLetterInfo]:
    async def go() -> list[DeadLetterInfo]:
        conn = await connect(world.pipe.settings.rabbitmq_url, name="test-hostile-dlq")
        try:
            return await list_dead_letters(conn, world.pipe.topology)
        finally:
            await conn.close()

    return asyncio.run(go())


def _seen(world: World) -> set[str]:
    return {letter.id for letter in _letters(world)}


def _new_letter(world: World, before: set[str], reason: str, about: str | None = None) -> DeadLetterInfo:
    """Wait for a dead letter that was not there ``before``, with ``reason`` (and naming ``about`` in
    its headers, preview or detail). This module's pipeline is the only producer while it runs."""

    def found() -> DeadLetterInfo | None:
        for letter in _letters(world):
            text = f"{letter.preview} {letter.detail} {json.dumps(letter.headers, default=str)}"
            if letter.id not in before and letter.reason == reason and (about is None or about in text):
                return letter
        return None

    letter: DeadLetterInfo = wait_until(found, what=f"a {reason} dead letter about {about}")
    return letter


def _wait_stored(world: World, db: str, mid: str) -> dict[str, Any]:
    return wait_until(lambda: world.pipe.messages(db, "external_message_id = %s", (mid,)), what=mid)[0]


def test_a_mixed_tenant_batch_lands_each_entry_in_its_own_tenant_only(world: World) -> None:
    mids = {name: f"wamid.mix-{name}-{unique_digits()}" for name in ("a", "b", "off", "unknown")}
    body = orjson.dumps(
        _delivery(
            _entry(world.off, _message(mids["off"])),
            _entry(world.a, _message(mids["a"])),
            _entry(world.unknown, _message(mids["unknown"])),
            _entry(world.b, _message(mids["b"])),
        )
    )
    before = _seen(world)
    _post(world, body)
    assert _wait_stored(world, world.a_db, mids["a"])
    assert _wait_stored(world, world.b_db, mids["b"])
    # Refused by the router, each with its reason and its own account, its siblings unaffected.
    off = _new_letter(world, before, "channel_disabled", world.off)
    unknown = _new_letter(world, before, "unmapped_account", world.unknown)
    assert off.headers.get("x-omni-account-id") == world.off
    assert unknown.headers.get("x-omni-account-id") == world.unknown
    where = {name: _where(world, mid) for name, mid in mids.items()}
    assert where["a"][world.b_db] == []
    assert where["b"][world.a_db] == []
    assert where["off"] == {world.a_db: [], world.b_db: []}  # hosta owns it, but it is turned off
    assert where["unknown"] == {world.a_db: [], world.b_db: []}


def test_duplicate_keys_are_read_one_way_everywhere_the_last_wins(world: World) -> None:
    # The signed bytes say phone_number_id twice: A's, then B's. The router and the normalizer read
    # the same parse (orjson: the last key wins), so the message is B's, stored in hostb only, never
    # in both and never in A's tenant through a second reading.
    mid = f"wamid.dup-{unique_digits()}"
    entry = json.dumps(_entry("NUMBER", _message(mid, text="first")))
    twice = entry.replace(
        '"phone_number_id": "NUMBER"', f'"phone_number_id": "{world.a}", "phone_number_id": "{world.b}"'
    )
    twice = twice.replace('"body": "first"', '"body": "first", "body": "second"')
    kind = '"object": "whatsapp_business_account"'
    body = f'{{{kind}, "entry": [{twice}], {kind}}}'
    _post(world, body.encode())
    row = _wait_stored(world, world.b_db, mid)
    assert row["text"] == "second"
    assert _where(world, mid)[world.a_db] == []
    # A duplicated "entry" key: only the last array is delivered (the first one's message nowhere).
    lost, kept = f"wamid.dup-first-{unique_digits()}", f"wamid.dup-last-{unique_digits()}"
    first = json.dumps([_entry(world.a, _message(lost))])
    last = json.dumps([_entry(world.b, _message(kept))])
    _post(world, f'{{"object": "whatsapp_business_account", "entry": {first}, "entry": {last}}}'.encode())
    _wait_stored(world, world.b_db, kept)
    assert _where(world, lost) == {world.a_db: [], world.b_db: []}


def test_surrogate_pairs_are_stored_and_a_lone_surrogate_dead_letters_the_delivery(world: World) -> None:
    mid = f"wamid.emoji-{unique_digits()}"
    # Meta escapes non-ASCII: a pair of \\u escapes is one emoji (U+1F600) in the stored text.
    escaped = orjson.dumps(_delivery(_entry(world.a, _message(mid, text="EMOJI")))).replace(
        b"EMOJI", b"table \\ud83d\\ude00 \\u00e9"
    )
    _post(world, escaped)
    assert _wait_stored(world, world.a_db, mid)["text"] == "table \U0001f600 \u00e9"
    # A high surrogate without its low half is not JSON text: the whole delivery is dead-lettered
    # (malformed: not_json) and none of its entries, the valid sibling's included, is stored.
    broken, sibling = f"wamid.lone-{unique_digits()}", f"wamid.lone-sibling-{unique_digits()}"
    body = orjson.dumps(
        _delivery(_entry(world.a, _message(broken, text="LONE")), _entry(world.b, _message(sibling)))
    ).replace(b"LONE", b"half \\ud83d here")
    before = _seen(world)
    _post(world, body)
    letter = _new_letter(world, before, "malformed")
    assert "not_json" in letter.detail
    assert _where(world, broken) == {world.a_db: [], world.b_db: []}
    assert _where(world, sibling) == {world.a_db: [], world.b_db: []}


def test_ids_given_as_numbers_are_refused_with_a_reason_never_stored(world: World) -> None:
    # phone_number_id as a number: no account to route by (router: no_account_id).
    by_number = f"wamid.num-account-{unique_digits()}"
    before = _seen(world)
    _post(world, orjson.dumps(_delivery(_entry(int(world.a), _message(by_number)))))
    _new_letter(world, before, "no_account_id")
    # The message id and the sender as numbers: routed to hosta, refused by the normalizer.
    number_id = int(unique_digits(12))
    before = _seen(world)
    _post(world, orjson.dumps(_delivery(_entry(world.a, _message(number_id)))))  # type: ignore[arg-type]
    letter = _new_letter(world, before, "malformed")
    assert "message.id" in letter.detail
    sender_mid = f"wamid.num-from-{unique_digits()}"
    before = _seen(world)
    _post(world, orjson.dumps(_delivery(_entry(world.a, _message(sender_mid, sender=4915100000009)))))
    assert "missing_id" in _new_letter(world, before, "malformed").detail
    for mid in (by_number, str(number_id), sender_mid):
        assert _where(world, mid) == {world.a_db: [], world.b_db: []}


def _nested(depth: int) -> Any:
    """A value whose brackets nest ``depth`` deep (a list of lists ... of a string)."""
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_at_the_limit_is_stored_and_one_deeper_is_dead_lettered(world: World) -> None:
    # The message's fields sit 8 brackets deep ({ entry [ { changes [ { value { messages [ {):
    # an extra field inside it brings the whole body to exactly MAX_DEPTH, or one past it.
    inside = 8  # brackets around the message's own fields
    ok, deep = f"wamid.depth-ok-{unique_digits()}", f"wamid.depth-over-{unique_digits()}"
    at_limit = copy.deepcopy(_message(ok))
    at_limit["extra"] = _nested(MAX_DEPTH - inside)
    over = copy.deepcopy(_message(deep))
    over["extra"] = _nested(MAX_DEPTH - inside + 1)
    body_ok = orjson.dumps(_delivery(_entry(world.a, at_limit)))
    body_over = orjson.dumps(_delivery(_entry(world.a, over)))
    assert _depth(body_ok) == MAX_DEPTH
    assert _depth(body_over) == MAX_DEPTH + 1
    before = _seen(world)
    _post(world, body_ok)
    _post(world, body_over)
    assert _wait_stored(world, world.a_db, ok)
    letter = _new_letter(world, before, "malformed")
    assert "too_deep" in letter.detail
    assert _where(world, deep) == {world.a_db: [], world.b_db: []}


def _depth(body: bytes) -> int:
    deepest = level = 0
    in_string = escaped = False
    for char in body.decode():
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest
