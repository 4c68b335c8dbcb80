"""Every emoji the picker offers (static/emoji.js) is one WhatsApp accepts as a reaction."""

from __future__ import annotations

import re
from pathlib import Path

import inbox_api
from omni_common.outbound.replies import validate_emoji

SOURCE = (Path(inbox_api.__file__).parent / "static" / "emoji.js").read_text(encoding="utf-8")


def test_each_emoji_of_the_picker_is_a_valid_reaction() -> None:
    listed = re.findall(r'\["([^"\]]+)", "[a-z ]+"\]', SOURCE)
    assert len(listed) >= 40
    assert len(set(listed)) == len(listed)
    for emoji in listed:
        assert validate_emoji(emoji) == emoji
