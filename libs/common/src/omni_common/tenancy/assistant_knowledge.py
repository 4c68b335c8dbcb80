"""The assistant document as searchable rows: one per FAQ entry, dish, policy, the hours and contacts.

The document stays the truth; ``assistant_knowledge`` is its full-text index, rebuilt whole (in the
saving transaction) whenever the document changes. Each row is indexed with the text search
configuration of its own language (``simple`` when PostgreSQL has none for it) over unaccented
text, the title weighted A and the body B.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from sqlalchemy import Integer, Text, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from omni_common.contracts.assistant import AssistantDocument
from omni_common.contracts.assistant_sentences import PROFILE_LABELS
from omni_common.db.tenant_models import AssistantKnowledge, AssistantSettings

# Bump when the rows made from a document change: every tenant is then re-indexed on its next use.
INDEX_VERSION = 1
# PostgreSQL's built-in configurations (stemming and stop words) for the languages owners write in.
TS_CONFIGS: dict[str, str] = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
}
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


def ts_config(language: str) -> str:
    """The text search configuration for a language code (``simple``: no stemming, no stop words)."""
    return TS_CONFIGS.get(language, "simple")


@dataclass(frozen=True)
class KnowledgeRow:
    """One entry as indexed: what it is, where it came from, its language and text."""

    kind: str
    position: int
    language: str
    title: str
    body: str


def _label(language: str, key: str) -> str:
    return PROFILE_LABELS.get(language, PROFILE_LABELS["en"])[key]


def knowledge_rows(doc: AssistantDocument) -> list[KnowledgeRow]:
    """The entries of ``doc`` (pure: the same document always gives the same rows)."""
    main = doc.profile.language
    rows: list[KnowledgeRow] = []
    for i, faq in enumerate(doc.faq):
        if faq.question.strip() and faq.answer.strip():
            rows.append(
                KnowledgeRow("faq", i, faq.language or main, faq.question.strip(), faq.answer.strip())
            )
    for i, item in enumerate(doc.menu):
        lang = item.language or main
        parts = [item.description.strip(), ", ".join(t.strip() for t in item.tags if t.strip())]
        if item.allergens:
            parts.append(f"{_label(lang, 'allergens')}: {', '.join(item.allergens)}")
        body = ". ".join(p for p in parts if p)
        if item.name.strip():
            rows.append(KnowledgeRow("menu", i, lang, item.name.strip(), body))
    profile = doc.profile
    if profile.opening_hours.strip():
        rows.append(KnowledgeRow("hours", 0, main, _label(main, "hours"), profile.opening_hours.strip()))
    sentences = [s.strip(" ;") for s in _SENTENCE_END.split(profile.policies) if s.strip(" ;")]
    rows.extend(KnowledgeRow("policy", i, main, s, "") for i, s in enumerate(sentences))
    if profile.address.strip():
        rows.append(KnowledgeRow("address", 0, main, _label(main, "address"), profile.address.strip()))
    if profile.phone.strip():
        rows.append(KnowledgeRow("phone", 0, main, _label(main, "phone"), profile.phone.strip()))
    return rows


def document_hash(doc: AssistantDocument) -> str:
    """A fingerprint of what the index is built from (and of how it is built)."""
    data = doc.model_dump(mode="json", include={"profile", "menu", "faq"})
    raw = json.dumps([INDEX_VERSION, data], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


_INSERT = text(
    """
    INSERT INTO assistant_knowledge (kind, position, language, config, title, body, plain, tsv)
    SELECT k.kind, k.position, k.language, k.config, k.title, k.body,
           lower(unaccent(k.title || ' ' || k.body)),
           setweight(to_tsvector(CAST(k.config AS regconfig), unaccent(k.title)), 'A')
           || setweight(to_tsvector(CAST(k.config AS regconfig), unaccent(k.body)), 'B')
    FROM unnest(:kinds, :positions, :languages, :configs, :titles, :bodies)
         AS k(kind, position, language, config, title, body)
    """
).bindparams(
    bindparam("kinds", type_=ARRAY(Text)),
    bindparam("positions", type_=ARRAY(Integer)),
    bindparam("languages", type_=ARRAY(Text)),
    bindparam("configs", type_=ARRAY(Text)),
    bindparam("titles", type_=ARRAY(Text)),
    bindparam("bodies", type_=ARRAY(Text)),
)


async def rebuild_knowledge(session: AsyncSession, doc: AssistantDocument) -> None:
    """Replace the tenant's knowledge rows with those of ``doc`` (in the caller's transaction).

    Idempotent; concurrent rebuilds queue on the settings row's lock instead of mixing rows."""
    await session.execute(select(AssistantSettings.id).where(AssistantSettings.id == 1).with_for_update())
    await session.execute(delete(AssistantKnowledge))
    rows = knowledge_rows(doc)
    if rows:
        await session.execute(
            _INSERT,
            {
                "kinds": [r.kind for r in rows],
                "positions": [r.position for r in rows],
                "languages": [r.language for r in rows],
                "configs": [ts_config(r.language) for r in rows],
                "titles": [r.title for r in rows],
                "bodies": [r.body for r in rows],
            },
        )
    await session.execute(
        update(AssistantSettings)
        .where(AssistantSettings.id == 1)
        .values(knowledge_hash=document_hash(doc), updated_at=AssistantSettings.updated_at)
    )


async def knowledge_is_current(session: AsyncSession, doc: AssistantDocument) -> bool:
    """True when the rows were built from this very document."""
    built = await session.scalar(select(AssistantSettings.knowledge_hash).where(AssistantSettings.id == 1))
    return built == document_hash(doc)


__all__ = [
    "INDEX_VERSION",
    "TS_CONFIGS",
    "KnowledgeRow",
    "document_hash",
    "knowledge_is_current",
    "knowledge_rows",
    "rebuild_knowledge",
    "ts_config",
]
