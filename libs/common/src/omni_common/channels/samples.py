"""Meta-shaped webhook deliveries built in code: for demo data, tests and the load generator.

Shapes follow Meta's documentation (see ``../shared/reference/meta-api.md``): WhatsApp
``whatsapp_business_account`` envelopes with ``changes[].value``, Messenger ``page`` and Instagram
``instagram`` envelopes with ``messaging[]``.
"""

from __future__ import annotations

from typing import Any


def whatsapp_text(
    *, phone_number_id: str, waba_id: str, wa_id: str, name: str, text: str, message_id: str, timestamp: int
) -> dict[str, Any]:
    """A WhatsApp delivery with one inbound text message."""
    return _whatsapp_inbound(
        phone_number_id, waba_id, wa_id, name, message_id, timestamp, "text", {"body": text}
    )


def _whatsapp_inbound(
    phone_number_id: str,
    waba_id: str,
    wa_id: str,
    name: str,
    message_id: str,
    timestamp: int,
    kind: str,
    content: Any,
) -> dict[str, Any]:
    """A WhatsApp delivery with one inbound message of ``kind`` (its object under that key)."""
    return whatsapp_delivery(
        waba_id,
        phone_number_id,
        {
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [
                {"from": wa_id, "id": message_id, "timestamp": str(timestamp), "type": kind, kind: content}
            ],
        },
    )


def whatsapp_message(
    *,
    phone_number_id: str,
    waba_id: str,
    wa_id: str,
    name: str,
    message_id: str,
    timestamp: int,
    kind: str,
    content: Any,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A WhatsApp delivery with one inbound message of any ``kind`` (``button``, ``interactive``,
    ``contacts``...), optionally answering our message ``context_id`` (a template's button reply)."""
    delivery = _whatsapp_inbound(phone_number_id, waba_id, wa_id, name, message_id, timestamp, kind, content)
    if context_id is not None:
        message = delivery["entry"][0]["changes"][0]["value"]["messages"][0]
        message["context"] = {"from": "15550000000", "id": context_id}
    return delivery


def whatsapp_reaction(
    *,
    phone_number_id: str,
    waba_id: str,
    wa_id: str,
    name: str,
    target_message_id: str,
    emoji: str,
    message_id: str,
    timestamp: int,
) -> dict[str, Any]:
    """A WhatsApp delivery with a customer's reaction to a message (an empty emoji removes it)."""
    return _whatsapp_inbound(
        phone_number_id,
        waba_id,
        wa_id,
        name,
        message_id,
        timestamp,
        "reaction",
        {"message_id": target_message_id, "emoji": emoji},
    )


def whatsapp_status(
    *, phone_number_id: str, waba_id: str, message_id: str, status: str, recipient: str, timestamp: int
) -> dict[str, Any]:
    """A WhatsApp delivery with one status of a message the business sent."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient,
    }
    if status == "failed":
        item["errors"] = [
            {"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message"}
        ]
    return whatsapp_delivery(waba_id, phone_number_id, {"statuses": [item]})


def whatsapp_delivery(waba_id: str, phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
    """Wrap a ``value`` (messages, statuses, contacts) in WhatsApp's envelope."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550000000",
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def messaging_text(
    channel: str, *, account_id: str, user_id: str, text: str, mid: str, timestamp_ms: int
) -> dict[str, Any]:
    """A Messenger (``facebook``) or Instagram delivery with one inbound text message."""
    return messaging_delivery(
        channel,
        account_id,
        {
            "sender": {"id": user_id},
            "recipient": {"id": account_id},
            "timestamp": timestamp_ms,
            "message": {"mid": mid, "text": text},
        },
        time_ms=timestamp_ms,
    )


def messaging_delivery(channel: str, account_id: str, *items: dict[str, Any], time_ms: int) -> dict[str, Any]:
    """Wrap ``messaging`` items in a Messenger/Instagram envelope."""
    return {
        "object": "page" if channel == "facebook" else "instagram",
        "entry": [{"id": account_id, "time": time_ms, "messaging": list(items)}],
    }
