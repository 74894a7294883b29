"""One contract for every vector store: what ingestion and search rely on, whichever backend runs.

pgvector runs on the embedded PostgreSQL (a database migrated by the real migrations).
Weaviate runs only when WEAVIATE_URL names a real Weaviate server (never a fake); otherwise
its half of the suite is skipped. Each test works in companies of its own (fresh uuids), so
tests do not see each other's records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest

from knowrithm_ingestion.embeddings.offline import OfflineEmbedder
from knowrithm_ingestion.vectorstore import SearchQuery, VectorRecord, VectorStore, create_vector_store

MODEL = "offline-embedder"
EMBEDDER = OfflineEmbedder(dimension=384)

FAQ = [
    "Refunds for damaged items are issued within 14 days of receiving the returned parcel.",
    "Our support team answers emails Monday to Friday between 9 am and 6 pm Central European Time.",
    "To reset your password, open the sign-in page and choose 'Forgot password'.",
    "Standard shipping to Canada takes five to seven business days.",
    "Gift cards never expire and can be combined with seasonal discounts.",
    "The Pro plan includes unlimited agents, priority support and single sign-on.",
]


@pytest.fixture(scope="session")
def pg_url(stack) -> str:
    from knowrithm_common.db.migrations import upgrade

    url = stack.create_database("ingestion_vectors_tests")
    upgrade(package="knowrithm_ingestion", schema="ingestion", url=url)
    return url


@pytest.fixture(scope="session", params=["pgvector", "weaviate"])
async def store(request) -> AsyncIterator[VectorStore]:
    if request.param == "pgvector":
        from sqlalchemy.ext.asyncio import create_async_engine

        from knowrithm_common.settings import to_psycopg_url

        engine = create_async_engine(to_psycopg_url(request.getfixturevalue("pg_url")))
        created = create_vector_store(backend="pgvector", engine=engine)
        await created.setup()
        yield created
        await created.close()
        await engine.dispose()
        return
    url = os.environ.get("WEAVIATE_URL")
    if not url:
        pytest.skip("WEAVIATE_URL is not set: no Weaviate server to test against")
    from knowrithm_ingestion.vectorstore.weaviate import WeaviateStore

    prefix = f"KnowrithmTest{uuid.uuid4().hex[:8]}"
    created = WeaviateStore(url, api_key=os.environ.get("WEAVIATE_API_KEY"), collection_prefix=prefix)
    await created.setup()
    yield created
    for dim in (384, 768):
        await created._client.collections.delete(f"{prefix}{dim}")  # type: ignore[attr-defined]
    await created.close()


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


async def records(
    company: uuid.UUID,
    texts: Sequence[str],
    *,
    agent: uuid.UUID,
    document: uuid.UUID,
    model: str = MODEL,
    vectors: Sequence[Sequence[float]] | None = None,
) -> list[VectorRecord]:
    if vectors is None:
        vectors = await EMBEDDER.embed(texts, task="document")
    return [
        VectorRecord(id=uuid.uuid4(), company_id=company, agent_id=agent, document_id=document, chunk_index=i,
                     page=i + 1, content=text, model=model, vector=vector)
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]


async def query(text: str, **kw) -> SearchQuery:
    vector = (await EMBEDDER.embed([text], task="query"))[0]
    return SearchQuery(text=text, vector=kw.pop("vector", vector), model=kw.pop("model", MODEL), **kw)


async def test_search_finds_the_chunk_holding_the_exact_sentence_first(store):
    company, agent, document = ids(3)
    await store.upsert(company, await records(company, FAQ, agent=agent, document=document))
    hits = await store.search(company, await query(FAQ[3], limit=3))
    assert hits[0].content == FAQ[3]
    assert (hits[0].agent_id, hits[0].document_id, hits[0].chunk_index, hits[0].page) == (agent, document, 3, 4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_hybrid_search_finds_both_a_keyword_only_and_a_vector_only_match(store):
    company, agent, document = ids(3)
    asked = await query("Which spare parts fit the ZX-4471 grinder?", limit=5)
    direction = np.asarray(asked.vector)
    rng = np.random.default_rng(7)
    fillers = [f"Filler note {i} about office plants and coffee." for i in range(80)]
    filler_vectors = [v / np.linalg.norm(v) for v in rng.standard_normal((80, 384))]
    keyword_only = "Spare parts for the ZX-4471 grinder: blade set, motor brush and lid seal."
    vector_only = "Components compatible with that machine are listed in the annex."
    corpus = await records(
        company, [*fillers, keyword_only, vector_only], agent=agent, document=document,
        vectors=[*(v.tolist() for v in filler_vectors), (-direction).tolist(), direction.tolist()],
    )
    await store.upsert(company, corpus)
    found = [h.content for h in await store.search(company, asked)]
    assert keyword_only in found[:2] and vector_only in found[:2]


async def test_a_company_never_finds_counts_or_deletes_another_companys_records(store):
    company_a, company_b, agent, document = ids(4)
    corpus = await records(company_a, FAQ, agent=agent, document=document)
    await store.upsert(company_a, corpus)

    assert await store.search(company_b, await query(FAQ[0])) == []
    assert await store.count(company_b) == 0
    await store.delete_documents(company_b, [document])
    await store.delete_ids(company_b, [r.id for r in corpus])
    await store.delete_agent(company_b, agent)
    await store.delete_company(company_b)
    assert await store.count(company_a) == len(FAQ)
    with pytest.raises(ValueError):
        await store.upsert(company_b, corpus)  # records of A handed in under B's name
    assert await store.count(company_a) == len(FAQ)


async def test_agent_filter_returns_only_that_agents_chunks(store):
    company, agent_1, agent_2, document_1, document_2 = ids(5)
    await store.upsert(company, await records(company, FAQ[:3], agent=agent_1, document=document_1))
    await store.upsert(company, await records(company, FAQ[3:], agent=agent_2, document=document_2))
    hits = await store.search(company, await query(FAQ[4], agent_ids=[agent_1]))
    assert hits and {h.agent_id for h in hits} == {agent_1}
    assert FAQ[4] not in [h.content for h in hits]
    assert await store.search(company, await query(FAQ[4], agent_ids=[])) == []


async def test_document_filter_returns_only_those_documents_chunks(store):
    company, agent, document_1, document_2 = ids(4)
    await store.upsert(company, await records(company, FAQ[:3], agent=agent, document=document_1))
    await store.upsert(company, await records(company, FAQ[3:], agent=agent, document=document_2))
    hits = await store.search(company, await query(FAQ[0], document_ids=[document_2]))
    assert hits and {h.document_id for h in hits} == {document_2}


async def test_search_compares_only_vectors_of_the_query_model(store):
    company, agent, document = ids(3)
    await store.upsert(company, await records(company, FAQ[:3], agent=agent, document=document, model="model-a"))
    await store.upsert(company, await records(company, FAQ[3:], agent=agent, document=document, model="model-b"))
    hits = await store.search(company, await query(FAQ[1], model="model-b"))
    assert hits and all(h.content in FAQ[3:] for h in hits)


async def test_deletes_remove_exactly_what_they_name(store):
    company, agent_1, agent_2, document_1, document_2, document_3 = ids(6)
    first = await records(company, FAQ[:2], agent=agent_1, document=document_1)
    await store.upsert(company, first)
    await store.upsert(company, await records(company, FAQ[2:4], agent=agent_1, document=document_2))
    await store.upsert(company, await records(company, FAQ[4:], agent=agent_2, document=document_3))
    assert await store.count(company) == 6
    assert await store.count(company, agent_id=agent_1) == 4
    assert await store.count(company, document_id=document_2) == 2

    await store.delete_ids(company, [first[0].id])
    assert await store.count(company, document_id=document_1) == 1
    await store.delete_documents(company, [document_2])
    assert await store.count(company) == 3
    await store.delete_agent(company, agent_2)
    assert (await store.count(company), await store.count(company, agent_id=agent_2)) == (1, 0)
    await store.delete_company(company)
    assert await store.count(company) == 0
    assert await store.search(company, await query(FAQ[0])) == []


async def test_upserting_the_same_ids_again_replaces_content_without_duplicates(store):
    company, agent, document = ids(3)
    corpus = await records(company, FAQ, agent=agent, document=document)
    await store.upsert(company, corpus)
    changed = "Refunds are now issued within 3 days, by bank transfer only."
    vector = (await EMBEDDER.embed([changed], task="document"))[0]
    await store.upsert(company, [VectorRecord(**{**_fields(corpus[0]), "content": changed, "vector": vector}),
                                 *corpus[1:]])
    assert await store.count(company) == len(FAQ)
    hits = await store.search(company, await query(changed, limit=2))
    assert hits[0].id == corpus[0].id and hits[0].content == changed
    assert FAQ[0] not in [h.content for h in await store.search(company, await query(FAQ[0], limit=10))]


async def test_two_embedding_dimensions_coexist_and_are_searched_apart(store):
    company, agent, document_small, document_large = ids(4)
    wide = OfflineEmbedder(dimension=768)
    await store.upsert(company, await records(company, FAQ[:3], agent=agent, document=document_small))
    large_vectors = await wide.embed(FAQ[3:], task="document")
    await store.upsert(company, await records(company, FAQ[3:], agent=agent, document=document_large,
                                              vectors=large_vectors))
    assert await store.count(company) == 6

    wide_query = SearchQuery(text=FAQ[5], vector=(await wide.embed([FAQ[5]], task="query"))[0], model=MODEL)
    hits = await store.search(company, wide_query)
    assert hits[0].content == FAQ[5] and {h.document_id for h in hits} == {document_large}
    narrow_hits = await store.search(company, await query(FAQ[1]))
    assert narrow_hits[0].content == FAQ[1] and {h.document_id for h in narrow_hits} == {document_small}


def _fields(record: VectorRecord) -> dict:
    return {name: getattr(record, name) for name in VectorRecord.__slots__}
