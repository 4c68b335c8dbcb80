"""Rows sent to PostgreSQL as one JSON document (``jsonb_to_recordset``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from normalizer.sql import records as _records


def test_rows_become_one_json_document_with_ids_and_times_as_text() -> None:
    chat = uuid.uuid4()
    at = datetime(2026, 11, 26, 1, 2, 3, 456000, tzinfo=UTC)
    doc = json.loads(_records([{"chat_id": chat, "at": at, "preview": "héllo", "media": {"a": [1]}}])["rows"])
    assert doc == [
        {
            "chat_id": str(chat),
            "at": "2026-11-26T01:02:03.456000+00:00",
            "preview": "héllo",
            "media": {"a": [1]},
        }
    ]


def test_an_integer_beyond_64_bits_still_serialises() -> None:
    doc = json.loads(_records([{"raw_payload": {"n": 2**70}, "chat_id": uuid.UUID(int=1)}])["rows"])
    assert doc == [{"raw_payload": {"n": 2**70}, "chat_id": "00000000-0000-0000-0000-000000000001"}]
