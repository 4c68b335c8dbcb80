"""Stage 1: split one webhook delivery into per-account items the tenant-router can map.

A delivery may batch entries for several accounts, hence several tenants, so routing is per
WhatsApp ``entry[].changes[]`` element and per Messenger/Instagram ``entry[].messaging[]`` (or
``standby[]``) element. A fragment that cannot be routed becomes a ``RejectedItem`` and the rest
carries on; only a body that cannot be split at all raises ``MalformedDelivery`` with one of
``not_utf8``, ``not_json``, ``not_object``, ``too_deep``, ``too_large``, ``wrong_object``,
``no_entries``, ``unknown_channel`` (and ``parser_error`` should a bug ever surface).

Item reason codes: ``malformed`` (missing ids, wrong types), ``no_account_id`` (a WhatsApp change
with no phone number id that is not a known account-level field), ``account_mismatch`` (a
Messenger item whose page side is not the entry's page), ``no_items`` (an entry with nothing to
route), ``unsupported_field`` (a Page/Instagram entry with ``changes`` only: feed, comments).
"""

from __future__ import annotations

import logging
from typing import Any

from omni_common.channels.inbound.errors import MalformedDelivery
from omni_common.channels.inbound.model import AccountKind, RejectedItem, RoutableItem, SplitResult
from omni_common.channels.inbound.safe_json import parse_object
from omni_common.domain.channels import Channel

logger = logging.getLogger(__name__)

EXPECTED_OBJECT: dict[str, str] = {
    "whatsapp": "whatsapp_business_account",
    "facebook": "page",
    "instagram": "instagram",
}

# Meta batches at most 1000 updates per POST; anything beyond that is not Meta.
MAX_ENTRIES = 1000
MAX_ITEMS_PER_ENTRY = 1000
MAX_ITEMS = 1000

# WhatsApp fields about the whole WABA: they carry no phone_number_id, so they route by WABA id.
WABA_LEVEL_FIELDS = frozenset(
    {
        "account_alerts",
        "account_review_update",
        "account_update",
        "business_capability_update",
        "business_status_update",
        "flows",
        "message_template_components_update",
        "message_template_quality_update",
        "message_template_status_update",
        "partner_solutions",
        "payment_configuration_update",
        "phone_number_name_update",
        "phone_number_quality_update",
        "security",
        "template_category_update",
    }
)


def split_delivery(channel: Channel, body: bytes) -> SplitResult:
    """Split a raw webhook body into routable items and rejects; raises only ``MalformedDelivery``."""
    try:
        return _split(channel, body)
    except MalformedDelivery:
        raise
    except Exception as exc:
        # Meant to be unreachable; a bug must dead-letter one delivery, not crash the router.
        logger.exception("inbound splitter bug on %s delivery", channel)
        raise MalformedDelivery("parser_error", f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _split(channel: Channel, body: bytes) -> SplitResult:
    expected = EXPECTED_OBJECT.get(channel) if isinstance(channel, str) else None
    if expected is None:
        raise MalformedDelivery("unknown_channel", f"unknown channel {_name(channel)!r}")
    doc = parse_object(body)
    obj = doc.get("object")
    if obj != expected:
        raise MalformedDelivery("wrong_object", f"object {str(obj)[:64]!r}, expected {expected!r}")
    entries = doc.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MalformedDelivery("no_entries", "entry is missing, empty or not an array")
    if len(entries) > MAX_ENTRIES:
        raise MalformedDelivery("too_large", f"{len(entries)} entries, cap is {MAX_ENTRIES}")
    _check_sizes(entries)
    result = SplitResult()
    for e, entry in enumerate(entries):
        if channel == "whatsapp":
            _split_whatsapp_entry(e, entry, result)
        else:
            _split_messaging_entry(channel, e, entry, result)
    return result


def _check_sizes(entries: list[Any]) -> None:
    total = 0
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for key in ("changes", "messaging", "standby"):
            items = entry.get(key)
            if isinstance(items, list):
                if len(items) > MAX_ITEMS_PER_ENTRY:
                    raise MalformedDelivery("too_large", f"{len(items)} {key} in one entry")
                total += len(items)
    if total > MAX_ITEMS:
        raise MalformedDelivery("too_large", f"{total} items, cap is {MAX_ITEMS}")


def _reject(result: SplitResult, index: str, reason: str, detail: str, raw: Any) -> None:
    result.rejects.append(RejectedItem(index=index, reason_code=reason, detail=detail, raw=raw))


def _entry_id(result: SplitResult, e: int, entry: Any) -> str | None:
    if not isinstance(entry, dict):
        _reject(result, f"e{e}", "malformed", "entry is not an object", entry)
        return None
    entry_id = entry.get("id")
    if not isinstance(entry_id, str) or not entry_id:
        _reject(result, f"e{e}", "malformed", "entry.id missing or not a string", entry)
        return None
    return entry_id


def _split_whatsapp_entry(e: int, entry: Any, result: SplitResult) -> None:
    waba_id = _entry_id(result, e, entry)
    if waba_id is None:
        return
    changes = entry.get("changes")
    if not isinstance(changes, list):
        _reject(result, f"e{e}", "malformed", "entry.changes missing or not an array", entry)
        return
    if not changes:
        _reject(result, f"e{e}", "no_items", "entry.changes is empty", entry)
    for c, change in enumerate(changes):
        index = f"e{e}.c{c}"
        field = change.get("field") if isinstance(change, dict) else None
        value = change.get("value") if isinstance(change, dict) else None
        if not isinstance(field, str) or not field or not isinstance(value, dict):
            _reject(result, index, "malformed", "change needs a string field and an object value", change)
            continue
        payload = {"waba_id": waba_id, "field": field, "value": value}
        metadata = value.get("metadata")
        phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        kind: AccountKind
        if isinstance(phone_number_id, str) and phone_number_id:
            account_id, kind = phone_number_id, "phone_number"
        elif field in WABA_LEVEL_FIELDS:
            account_id, kind = waba_id, "waba"
        else:
            _reject(
                result, index, "no_account_id", f"field {field!r} has no metadata.phone_number_id", change
            )
            continue
        result.items.append(
            RoutableItem(
                index=index, channel="whatsapp", account_id=account_id, account_kind=kind, payload=payload
            )
        )


def _split_messaging_entry(channel: Channel, e: int, entry: Any, result: SplitResult) -> None:
    entry_id = _entry_id(result, e, entry)
    if entry_id is None:
        return
    lists = [(key, entry.get(key)) for key in ("messaging", "standby") if key in entry]
    if not lists:
        reason = "unsupported_field" if "changes" in entry else "malformed"
        _reject(result, f"e{e}", reason, "entry has no messaging or standby array", entry)
        return
    for key, items in lists:
        if not isinstance(items, list):
            _reject(result, f"e{e}", "malformed", f"entry.{key} is not an array", entry)
            continue
        for m, item in enumerate(items):
            index = f"e{e}.{key[0]}{m}"
            problem = _messaging_problem(channel, entry_id, item)
            if problem is not None:
                _reject(result, index, problem[0], problem[1], item)
                continue
            payload = {
                "entry_id": entry_id,
                "time": entry.get("time"),
                "item": item,
                "standby": key == "standby",
            }
            kind: AccountKind = "page" if channel == "facebook" else "instagram"
            result.items.append(
                RoutableItem(
                    index=index, channel=channel, account_id=entry_id, account_kind=kind, payload=payload
                )
            )


def _messaging_problem(channel: Channel, entry_id: str, item: Any) -> tuple[str, str] | None:
    if not isinstance(item, dict):
        return "malformed", "messaging item is not an object"
    ids: dict[str, str | None] = {}
    for side in ("sender", "recipient"):
        party = item.get(side)
        if party is None:
            ids[side] = None
            continue
        party_id = party.get("id") if isinstance(party, dict) else None
        if not isinstance(party, dict) or not (party_id is None or isinstance(party_id, str)):
            return "malformed", f"{side} is not an object with a string id"
        ids[side] = party_id
    # Only Messenger is cross-checked: for Instagram Login the webhook id and the account id the
    # API returns are not reliably the same id (meta-api.md §1.5), so a check could drop real traffic.
    if channel == "facebook":
        message = item.get("message")
        echo = isinstance(message, dict) and message.get("is_echo") is True
        page_side = "sender" if echo else "recipient"
        if ids[page_side] is not None and ids[page_side] != entry_id:
            return "account_mismatch", f"{page_side}.id is not the entry's page id"
    return None


def _name(channel: object) -> str:
    # repr() of an arbitrary object can itself fail (a huge int), so only strings are echoed.
    return channel[:32] if isinstance(channel, str) else type(channel).__name__
