"""Hybrid search latency and insert throughput of the pgvector store at 10k and 100k chunks.

Starts its own embedded PostgreSQL 18 + pgvector (as the pytest plugin does, throwaway data),
migrates the ingestion schema, then grows `ingestion.vectors` to each size with generated
support-centre text (20 companies x 5 agents, offline embedder, 384 dimensions) and runs
hybrid searches scoped to one company and one agent, as the chat path does.

Reported per size: insert throughput (embedding and upsert measured apart; upserts include
HNSW maintenance) and search latency p50/p95/p99 (the store's search call only; the query
is embedded beforehand). ANALYZE runs after loading, as autovacuum would in steady state.

Usage (from the repo root):
    uv run python bench/pgvector_search.py [--sizes 10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from knowrithm_common.db.migrations import upgrade
from knowrithm_common.settings import to_psycopg_url
from knowrithm_ingestion.embeddings.offline import OfflineEmbedder
from knowrithm_ingestion.vectorstore.base import SearchQuery, VectorRecord
from knowrithm_ingestion.vectorstore.pgvector import PgVectorStore

COMPANIES, AGENTS_PER_COMPANY, CHUNKS_PER_DOCUMENT = 20, 5, 25
DIMENSION = 384
BATCH = 500  # one company's chunks, spread over its agents

PRODUCTS = ["blender", "kettle", "router", "thermostat", "vacuum", "espresso machine", "air purifier",
            "dishwasher", "smart lock", "doorbell camera", "e-bike", "treadmill", "printer", "monitor"]
TOPICS = ["warranty", "refund", "shipping", "installation", "firmware update", "subscription", "invoice",
          "password reset", "return label", "spare parts", "cleaning", "safety recall", "discount code"]
SENTENCES = [
    "The {p} is covered by a {n}-year {t} policy when it is registered within {m} days of purchase.",
    "To request a {t} for your {p}, open the orders page, choose the item and follow the steps shown.",
    "Customers in {c} receive {t} updates by email; delivery of the {p} usually takes {m} business days.",
    "If the {p} stops working, unplug it for {n} minutes before contacting support about the {t}.",
    "Our support team handles {t} questions for the {p} from Monday to Friday, {n} am to {m} pm.",
    "Model {code} of the {p} needs the latest {t} before it can connect to the mobile app.",
    "A {t} is not available for a {p} that was damaged by misuse, water or unauthorised repairs.",
    "Business accounts can download every {t} for the {p} as a PDF from the billing section.",
    "The {p} ships with a quick start guide; the full manual explains {t} in chapter {n}.",
    "Prices for the {p} include VAT in {c}; the {t} is processed within {m} days of approval.",
]
COUNTRIES = ["Germany", "France", "Canada", "Spain", "Italy", "the Netherlands", "Poland", "Sweden"]
QUESTIONS = [
    "How long is the {t} on the {p}?",
    "How do I get a {t} for my {p}?",
    "When will my {p} arrive in {c}?",
    "Where can I find the {t} for model {code}?",
    "My {p} does not work, what about the {t}?",
]


@dataclass(frozen=True)
class Agent:
    company: uuid.UUID
    agent: uuid.UUID


def fill(template: str, rng: random.Random) -> str:
    """One sentence or question with random products, topics and numbers."""
    return template.format(
        p=rng.choice(PRODUCTS), t=rng.choice(TOPICS), c=rng.choice(COUNTRIES),
        n=rng.randint(1, 12), m=rng.randint(2, 30), code=f"{rng.choice('ABKXZ')}{rng.randint(100, 999)}",
    )


def chunk_text(rng: random.Random) -> str:
    """A passage of 5 to 9 support sentences (about 100 to 180 words)."""
    return " ".join(fill(rng.choice(SENTENCES), rng) for _ in range(rng.randint(5, 9)))


def start_postgres(workdir: Path) -> tuple[Any, str]:
    from knowrithm_stack.ports import free_port
    from knowrithm_stack.servers import PostgresServer, create_database

    server = PostgresServer(data_dir=workdir, port=free_port(), durable=False)
    server.start(wait=True, timeout=60)
    return server, create_database(server.dsn("postgres"), "bench_vectors", replace=True)


async def load(store: PgVectorStore, embedder: OfflineEmbedder, agents: list[Agent], *, count: int,
               rng: random.Random) -> tuple[float, float]:
    """Add `count` chunks spread over the agents; return (embedding seconds, upsert seconds)."""
    embed_s = upsert_s = 0.0
    companies = sorted({a.company for a in agents})
    for number, start in enumerate(range(0, count, BATCH)):
        size = min(BATCH, count - start)
        company = companies[number % len(companies)]
        owners = [a for a in agents if a.company == company]
        texts = [chunk_text(rng) for _ in range(size)]
        t0 = time.perf_counter()
        vectors = embedder.embed_sync(texts).tolist()
        t1 = time.perf_counter()
        documents = [uuid.uuid4() for _ in range(size // CHUNKS_PER_DOCUMENT + 1)]
        records = [
            VectorRecord(id=uuid.uuid4(), company_id=company, agent_id=owners[i % len(owners)].agent,
                         document_id=documents[i // CHUNKS_PER_DOCUMENT], chunk_index=i % CHUNKS_PER_DOCUMENT,
                         page=None, content=texts[i], model=embedder.model, vector=vectors[i])
            for i in range(size)
        ]
        await store.upsert(company, records)
        embed_s, upsert_s = embed_s + (t1 - t0), upsert_s + (time.perf_counter() - t1)
    return embed_s, upsert_s


async def run_queries(store: PgVectorStore, embedder: OfflineEmbedder, agents: list[Agent], *, n: int,
                      rng: random.Random) -> list[float]:
    """Latencies (ms) of n hybrid searches, each scoped to one company and one agent."""
    questions = [fill(rng.choice(QUESTIONS), rng) for _ in range(n)]
    vectors = embedder.embed_sync(questions).tolist()
    latencies = []
    for question, vector in zip(questions, vectors, strict=True):
        owner = rng.choice(agents)
        query = SearchQuery(
            text=question, vector=vector, model=embedder.model, agent_ids=[owner.agent], limit=8
        )
        t0 = time.perf_counter()
        hits = await store.search(owner.company, query)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert hits, "a scoped search over a loaded agent found nothing"
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def print_plan(
    store: PgVectorStore, embedder: OfflineEmbedder, owner: Agent, *, rng: random.Random
) -> None:
    """EXPLAIN ANALYZE of one scoped search: which indexes the planner picked."""
    question = fill(rng.choice(QUESTIONS), rng)
    vector = embedder.embed_sync([question]).tolist()[0]
    query = SearchQuery(text=question, vector=vector, model=embedder.model, agent_ids=[owner.agent], limit=8)
    statement = store.search_statement(owner.company, query)
    assert statement is not None
    async with store.search_transaction(statement) as conn:
        plan = await conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql), statement.params)
        print("\n".join(row[0] for row in plan))


async def bench(url: str, sizes: list[int], queries: int, *, explain: bool = False) -> list[dict[str, Any]]:
    engine = create_async_engine(to_psycopg_url(url), pool_size=2)
    store, embedder, rng = PgVectorStore(engine), OfflineEmbedder(dimension=DIMENSION), random.Random(42)
    await store.setup()
    agents = [Agent(uuid.uuid4(), uuid.uuid4()) for _ in range(COMPANIES)]
    agents = [Agent(a.company, uuid.uuid4()) for a in agents for _ in range(AGENTS_PER_COMPANY)]
    rows, loaded = [], 0
    for size in sizes:
        embed_s, upsert_s = await load(store, embedder, agents, count=size - loaded, rng=rng)
        added, loaded = size - loaded, size
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE ingestion.vectors"))
        await run_queries(store, embedder, agents, n=20, rng=rng)  # warm caches and plans
        latencies = await run_queries(store, embedder, agents, n=queries, rng=rng)
        if explain:
            await print_plan(store, embedder, agents[0], rng=rng)
        rows.append({
            "chunks": size, "added": added, "embed_per_s": added / embed_s, "upsert_per_s": added / upsert_s,
            "p50": statistics.median(latencies), "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99), "max": max(latencies),
        })
        print_row(rows[-1])
    await engine.dispose()
    return rows


def print_header() -> None:
    print(f"{'chunks':>8} {'added':>8} {'embed/s':>9} {'upsert/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8}")


def print_row(row: dict[str, Any]) -> None:
    print(f"{row['chunks']:>8} {row['added']:>8} {row['embed_per_s']:>9.0f} {row['upsert_per_s']:>9.0f} "
          f"{row['p50']:>8.2f} {row['p95']:>8.2f} {row['p99']:>8.2f} {row['max']:>8.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="cumulative table sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="searches per size")
    parser.add_argument("--explain", action="store_true", help="print one search's plan per size")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-pgvector-") as tmp:
        server, url = start_postgres(Path(tmp))
        try:
            upgrade(package="knowrithm_ingestion", schema="ingestion", url=url)
            print(f"{COMPANIES} companies x {AGENTS_PER_COMPANY} agents, {DIMENSION}-d offline embeddings, "
                  f"{args.queries} hybrid searches per size scoped to one company + agent (limit 8)")
            print_header()
            asyncio.run(bench(url, sizes, args.queries, explain=args.explain))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
