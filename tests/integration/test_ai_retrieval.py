"""Retrieval over the tenant's knowledge in PostgreSQL: paraphrases find their FAQ entry, strangers decline.

Prints the accuracy (``-s`` shows it): the share of paraphrases whose own entry ranks first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from ai_paraphrases import PARAPHRASES, UNRELATED
from inbox_support import SeededTenant, seed
from sqlalchemy.ext.asyncio import AsyncSession

from ai_suggester.language import detect
from ai_suggester.retrieval import retrieve, search
from omni_cli.commands.demo_assistant import ASSISTANT
from omni_common.contracts.assistant import AssistantDocument
from omni_common.db.catalog import Catalog, catalog_engine
from omni_common.db.registry import TenantEngineRegistry
from omni_common.settings import Settings
from omni_common.tenancy.assistant import write_document
from omni_common.tenancy.assistant_knowledge import knowledge_is_current, knowledge_rows

pytestmark = pytest.mark.integration
T = TypeVar("T")
DOC = AssistantDocument.model_validate(ASSISTANT)
REQUIRED = 0.9


def in_tenant(
    settings: Settings,
    tenant: SeededTenant,
    fn: Callable[[AsyncSession], Awaitable[T]],
    *,
    write: bool = False,
) -> T:
    async def run() -> T:
        engine = catalog_engine(settings.database_url)
        registry = TenantEngineRegistry(
            catalog=Catalog(engine), server_url=settings.database_url, connections_per_server=2
        )
        try:
            scope = registry.begin if write else registry.session
            async with scope(tenant.id) as session:
                return await fn(session)
        finally:
            await registry.close()
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def tenant(settings: Settings) -> SeededTenant:
    seeded = seed(settings, f"air-{uuid.uuid4().hex[:6]}")
    in_tenant(settings, seeded, lambda s: write_document(s, DOC, None), write=True)
    return seeded


def _faq_rank(hits: list[Any], question: str) -> int | None:
    position = next(i for i, f in enumerate(DOC.faq) if f.question == question)
    for rank, hit in enumerate(hits):
        if hit.kind == "faq" and hit.position == position:
            return rank
    return None


def test_paraphrases_find_their_faq_entry(settings: Settings, tenant: SeededTenant) -> None:
    async def run(session: AsyncSession) -> list[tuple[str, str, int | None, str]]:
        out = []
        for question, paraphrases in PARAPHRASES.items():
            for p in paraphrases:
                lang = detect(p, DOC.profile.language) or DOC.profile.language
                hits = await retrieve(session, p, lang)
                top = f"{hits[0].kind}:{hits[0].title[:40]} {hits[0].score:.2f}" if hits else "-"
                out.append((question, p, _faq_rank(hits, question), top))
        return out

    results = in_tenant(settings, tenant, run)
    first = sum(1 for _, _, rank, _ in results if rank == 0)
    misses = [(p, q, top) for q, p, rank, top in results if rank != 0]
    share = first / len(results)
    print(f"\nretrieval: {first}/{len(results)} paraphrases rank their FAQ entry first ({share:.1%})")
    for p, q, top in misses:
        print(f"  miss: {p!r} -> {top} (wanted {q!r})")
    assert share >= REQUIRED, misses


@pytest.mark.parametrize("question", UNRELATED)
def test_unrelated_questions_find_nothing(settings: Settings, tenant: SeededTenant, question: str) -> None:
    lang = detect(question, "en") or "en"
    hits = in_tenant(settings, tenant, lambda s: retrieve(s, question, lang))
    assert hits == [], [(h.kind, h.title, h.score) for h in hits]


def test_menu_hours_and_policies_are_found(settings: Settings, tenant: SeededTenant) -> None:
    def top(question: str, lang: str = "en") -> list[tuple[str, str]]:
        hits = in_tenant(settings, tenant, lambda s: retrieve(s, question, lang))
        return [(h.kind, h.title) for h in hits]

    vegan = top("do you have vegan dishes?")
    assert {("menu", "Vegan Lasagne"), ("menu", "Chickpea Curry")} <= set(vegan[:2])
    assert ("menu", "Margherita") not in vegan
    assert top("are you open tonight?")[0] == ("hours", "Opening hours")
    assert top("Habt ihr heute Abend geöffnet?", "de")[0] == ("hours", "Opening hours")
    assert top("Can I reserve a table for six?")[0][0] == "policy"
    assert top("what allergens are in the tiramisu?")[0] == ("menu", "Tiramisu")


def test_the_index_follows_the_document(settings: Settings, tenant: SeededTenant) -> None:
    assert in_tenant(settings, tenant, lambda s: knowledge_is_current(s, DOC))
    changed = DOC.model_copy(update={"faq": [*DOC.faq[:1]]})
    assert not in_tenant(settings, tenant, lambda s: knowledge_is_current(s, changed))
    rows = knowledge_rows(DOC)
    assert len([r for r in rows if r.kind == "faq"]) == len(DOC.faq)
    assert {r.language for r in rows if r.kind == "faq"} == {"en", "de"}
    hits = in_tenant(settings, tenant, lambda s: search(s, "Parkhaus", "de"))
    assert hits[0].language == "de"
