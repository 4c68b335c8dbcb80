"""Find the tenant's knowledge entries that answer a question: full-text search in its own database.

Each question word becomes a group of alternatives (``synonyms.expand``); an entry scores, per
group it matches, the group's weight times how rare the group is among the entries (a word every
dish has says little), double when it matches the entry's title (a FAQ question, a dish name).
Stop words of the customer's language are dropped; a word that matches no entry's lexemes may still
match by trigram similarity (typos). Entries in the customer's language get a small boost.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Float, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from ai_suggester.synonyms import expand
from omni_common.tenancy.assistant_knowledge import ts_config

# The least score an entry needs to count as an answer: one topic word in its title, or a few in
# its body. Below it the suggester says it does not know.
MIN_SCORE = 1.0
SAME_LANGUAGE_BOOST = 1.5


@dataclass(frozen=True)
class Hit:
    """A knowledge entry that matches, with its score."""

    kind: str
    position: int
    language: str
    title: str
    body: str
    score: float


_SEARCH = text(
    """
    WITH g AS (
        SELECT g.n, g.any_q, g.title_q, g.weight, g.word
        FROM unnest(:any_q, :title_q, :weights, :words) WITH ORDINALITY
             AS g(any_q, title_q, weight, word, n)
        WHERE g.word IS NULL
           OR numnode(plainto_tsquery(CAST(:qconfig AS regconfig), unaccent(g.word))) > 0
    ),
    q AS (  -- each group parsed once per configuration in use (stemmed the way entries were)
        SELECT g.n, g.weight, g.word, c.config,
               to_tsquery(CAST(c.config AS regconfig), unaccent(g.title_q)) AS title_q,
               to_tsquery(CAST(c.config AS regconfig), unaccent(g.any_q)) AS any_q
        FROM g CROSS JOIN (SELECT DISTINCT config FROM assistant_knowledge) AS c
    ),
    m AS (
        SELECT e.id, q.n, q.weight,
               e.tsv @@ q.title_q AS in_title,
               e.tsv @@ q.any_q OR (length(q.word) >= 5 AND q.word <% e.plain) AS in_any
        FROM assistant_knowledge e JOIN q ON q.config = e.config
    ),
    s AS (
        SELECT m.*, count(*) FILTER (WHERE m.in_any) OVER (PARTITION BY m.n) AS df,
               count(*) OVER (PARTITION BY m.n) AS total
        FROM m
    ),
    scored AS (
        SELECT s.id,
               sum(CASE WHEN s.in_title THEN 1.0 WHEN s.in_any THEN 0.5 ELSE 0 END
                   * s.weight * ln(1 + s.total::float / greatest(s.df, 1))) AS score
        FROM s GROUP BY s.id
    )
    SELECT e.kind, e.position, e.language, e.title, e.body,
           scored.score * CASE WHEN e.language = :qlang THEN :boost ELSE 1 END AS score
    FROM scored JOIN assistant_knowledge e ON e.id = scored.id
    WHERE scored.score > 0
    ORDER BY score DESC, e.kind = 'faq' DESC, e.id
    LIMIT :limit
    """
).bindparams(
    bindparam("any_q", type_=ARRAY(Text)),
    bindparam("title_q", type_=ARRAY(Text)),
    bindparam("weights", type_=ARRAY(Float)),
    bindparam("words", type_=ARRAY(Text)),
)


async def search(session: AsyncSession, question: str, language: str, *, limit: int = 8) -> list[Hit]:
    """Entries of this tenant's knowledge that match ``question``, best first (any score)."""
    groups = expand(question)
    if not groups:
        return []
    rows = await session.execute(
        _SEARCH,
        {
            "any_q": [g.any_query for g in groups],
            "title_q": [g.title_query for g in groups],
            "weights": [g.weight for g in groups],
            "words": [g.word for g in groups],
            "qconfig": ts_config(language),
            "qlang": language,
            "boost": SAME_LANGUAGE_BOOST,
            "limit": limit,
        },
    )
    return [Hit(r.kind, r.position, r.language, r.title, r.body, float(r.score)) for r in rows]


async def retrieve(session: AsyncSession, question: str, language: str, *, limit: int = 8) -> list[Hit]:
    """The entries that answer ``question`` (score at least ``MIN_SCORE``), best first; [] to decline."""
    return [h for h in await search(session, question, language, limit=limit) if h.score >= MIN_SCORE]
