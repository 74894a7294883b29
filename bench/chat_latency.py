"""Chat turns through the gateway with the offline responder, and open SSE streams.

Starts the embedded stack and the whole platform (as the e2e tests do, rate limits lifted),
trains one agent on ~10,000 chunks, then:

1. latency: N conversations ask at once (N = 1, 50, 200), each turn a blocking chat
   (`?wait=true`): the client's turn time (request → final answer) and the server's own
   time before the first token (`first_token_ms`: the answerer took the job → first token,
   retrieval included), p50/p95;
2. streams: 1,000 SSE streams held open on one conversations process (all on one
   conversation), then one question: the time until every stream has the final answer, and
   the conversations process's memory before and after opening them.

Usage (from the repo root):
    python3 -m uv run python bench/chat_latency.py [--chunks 10000] [--streams 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
import psutil
from platform_runner import offline_agent, running_platform

from knowrithm_stack.launcher import Platform
from knowrithm_stack.pytest_plugin import E2E_ENV

SENTENCE = (
    "Section {n}: crane {n} at berth {b} is inspected on day {d}, and pallets of {item} "
    "are stacked by team {t} before the evening tide. "
)
ITEMS = ("copper", "timber", "coffee", "cotton", "steel", "grain", "wool", "salt")


def corpus(chunks: int, files: int = 10) -> list[bytes]:
    """Text files that chunk into about `chunks` chunks (one paragraph of ~300 words per chunk)."""
    per_file = chunks // files
    out = []
    for f in range(files):
        paragraphs = []
        for p in range(per_file):
            n = f * per_file + p
            paragraphs.append(
                "".join(
                    SENTENCE.format(n=n, b=n % 97, d=n % 28, item=ITEMS[n % 8], t=n % 13) for _ in range(6)
                )
            )
        out.append("\n\n".join(paragraphs).encode())
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def train(gateway: httpx.AsyncClient, platform: Platform, chunks: int) -> tuple[dict, str]:
    auth, agent_id = await offline_agent(gateway, platform)
    ids = []
    for i, data in enumerate(corpus(chunks)):
        r = await gateway.post(
            "/api/v1/document/upload",
            data={"agent_id": agent_id},
            files=[("files", (f"port-{i}.txt", data, "text/plain"))],
            headers=auth,
        )
        ids.append(r.json()["documents"][0]["id"])
    total = 0
    for document_id in ids:
        for _ in range(1200):  # until processed (10 minutes at most)
            doc = (await gateway.get(f"/api/v1/document/{document_id}", headers=auth)).json()
            if doc["status"] in ("processed", "failed"):
                break
            await asyncio.sleep(0.5)
        total += doc["chunk_count"] or 0
    print(f"indexed {total} chunks", flush=True)
    return auth, agent_id


async def turn(gateway: httpx.AsyncClient, auth: dict, conversation_id: str, n: int) -> tuple[float, int]:
    started = time.perf_counter()
    r = await gateway.post(
        f"/api/v1/conversation/{conversation_id}/chat?wait=true",
        json={"message": f"When is crane {n} at berth {n % 97} inspected?"},
        headers=auth,
    )
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text
    return elapsed * 1000, r.json()["message"]["first_token_ms"]


async def latency(
    gateway: httpx.AsyncClient, auth: dict, agent_id: str, concurrency: int, rounds: int
) -> str:
    conversations = [
        (await gateway.post("/api/v1/conversation", json={"agent_id": agent_id}, headers=auth)).json()[
            "conversation"
        ]["id"]
        for _ in range(concurrency)
    ]
    await turn(gateway, auth, conversations[0], 0)  # warm-up
    results: list[tuple[float, int]] = []
    for r in range(rounds):
        results += await asyncio.gather(
            *[turn(gateway, auth, c, r * concurrency + i) for i, c in enumerate(conversations)]
        )
    turns, first = [t for t, _ in results], [float(f) for _, f in results]
    return (
        f"| {concurrency} | {len(results)} | {pct(turns, 0.5):.0f} ms | {pct(turns, 0.95):.0f} ms "
        f"| {pct(first, 0.5):.1f} ms | {pct(first, 0.95):.1f} ms |"
    )


async def streams(platform: Platform, auth: dict, agent_id: str, count: int) -> str:
    process = psutil.Process(platform.pid("conversations"))
    rss_before = process.memory_info().rss
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=120, limits=limits) as client:
        conversation_id = (
            await client.post("/api/v1/conversation", json={"agent_id": agent_id}, headers=auth)
        ).json()["conversation"]["id"]
        ready, done = asyncio.Event(), []
        opened = 0

        async def hold() -> None:
            nonlocal opened
            async with client.stream(
                "GET", f"/api/v1/conversation/{conversation_id}/messages/stream", headers=auth
            ) as response:
                async for line in response.aiter_lines():
                    if line == "event: ready":
                        opened += 1
                        if opened == count:
                            ready.set()
                    elif line == "event: completed":
                        done.append(time.perf_counter())
                        return

        tasks = [asyncio.create_task(hold()) for _ in range(count)]
        await asyncio.wait_for(ready.wait(), 120)
        rss_open = process.memory_info().rss
        asked = time.perf_counter()
        r = await client.post(
            f"/api/v1/conversation/{conversation_id}/chat", json={"message": "crane 7?"}, headers=auth
        )
        assert r.status_code == 202, r.text
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    spread = (max(done) - asked) * 1000
    return (
        f"| {count} | {len(done)} | {spread:.0f} ms | {rss_before / 2**20:.0f} MiB "
        f"| {rss_open / 2**20:.0f} MiB | {(rss_open - rss_before) / count / 1024:.1f} KiB |"
    )


async def run(platform: Platform, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(
        base_url=platform.gateway_url, timeout=120, limits=httpx.Limits(max_connections=400)
    ) as gateway:
        auth, agent_id = await train(gateway, platform, args.chunks)
        print(
            "\n| concurrent conversations | turns | turn p50 | turn p95 | first token p50 | first token p95 |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
        for concurrency, rounds in ((1, 30), (50, 3), (200, 2)):
            print(await latency(gateway, auth, agent_id, concurrency, rounds), flush=True)
    print(
        "\n| open SSE streams | got the answer | question → last stream has it | RSS before | RSS open "
        "| per stream |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    print(await streams(platform, auth, agent_id, args.streams), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    with running_platform(E2E_ENV) as platform:
        asyncio.run(run(platform, args))

if __name__ == "__main__":
    main()
