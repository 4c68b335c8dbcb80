"""Output hygiene: plain text only, no invisible or control characters, capped, and no leaked instructions."""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 1000
# Characters that hide text from the human who reviews the draft (or smuggle data past them).
_INVISIBLE = re.compile(
    "["
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef"
    "]"
)
# Markdown images auto-load in some renderers: a classic exfiltration channel; links keep their text.
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\((?:[^)]*)\)")
_HTML_TAG = re.compile(r"<[^>]{0,200}>")
_BLANK_LINES = re.compile(r"\n{3,}")


def _visible(ch: str) -> bool:
    if ch in "\n\t":
        return True
    # Cc (control), Cf (format), Co/Cs/Cn (private, surrogate, unassigned) never belong in a reply.
    return not unicodedata.category(ch).startswith("C")


def clean_text(text: str, max_chars: int = MAX_CHARS) -> str:
    """Plain, visible text of at most ``max_chars`` characters (cut at a word where possible)."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = "".join(ch for ch in text if _visible(ch))
    text = text.replace("\t", " ")
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = "\n".join(line.strip() for line in text.splitlines())
    text = _BLANK_LINES.sub("\n\n", text).strip()
    if len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        text = (cut[:space] if space > max_chars // 2 else cut).rstrip() + "…"
    return text


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


def leaks(output: str, hidden: str, window: int = 8) -> bool:
    """True when ``output`` repeats ``window`` consecutive words of ``hidden`` (e.g. the instructions)."""
    words = _normal(hidden).split()
    said = f" {_normal(output)} "
    if len(words) < window:
        return bool(words) and f" {' '.join(words)} " in said
    return any(f" {' '.join(words[i : i + window])} " in said for i in range(len(words) - window + 1))
