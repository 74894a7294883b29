"""A 100-page text PDF end to end: upload through the gateway until the document is
`processed` (extracted, chunked, embedded with the offline embedder, indexed in pgvector).

Starts the embedded stack and the whole platform in a temporary directory (as the e2e tests
do), signs up a company with offline settings and an agent, then uploads the same PDF
`--runs` times (each a new document) and reports the wall time from the upload request to
`processed` as the client sees it. Target: ≤ 15 s for the 100 pages.

Usage (from the repo root):
    python3 -m uv run python bench/ingestion_pipeline.py [--pages 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time

import httpx
from platform_runner import offline_agent, running_platform

from knowrithm_ingestion.testing import samples
from knowrithm_stack.launcher import Platform

PAGE = ("Section {n}. The harbour authority inspects cranes, pallets and cold storage on schedule {n}; "
        "every finding is logged with the berth number and the inspector's initials. ") * 12


async def measure(platform: Platform, *, pages: int, runs: int) -> list[tuple[float, float, int]]:
    pdf = samples.make_pdf([PAGE.format(n=n) for n in range(1, pages + 1)])
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as gateway:
        auth, agent_id = await offline_agent(gateway, platform)
        results = []
        for run in range(runs):
            started = time.perf_counter()
            r = await gateway.post("/api/v1/document/upload", data={"agent_id": agent_id},
                                   files=[("files", (f"manual-{run}.pdf", pdf, "application/pdf"))],
                                   headers=auth)
            assert r.status_code == 202, r.text
            document_id = r.json()["documents"][0]["id"]
            while True:
                doc = (await gateway.get(f"/api/v1/document/{document_id}", headers=auth)).json()
                if doc["status"] in ("processed", "failed"):
                    break
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - started
            assert doc["status"] == "processed", doc
            queued_to_done = (dt.datetime.fromisoformat(doc["processed_at"])
                              - dt.datetime.fromisoformat(doc["created_at"]))
            results.append((wall, queued_to_done.total_seconds(), doc["chunk_count"]))
            print(f"run {run + 1}: {wall:.2f} s upload→processed, {doc['chunk_count']} chunks", flush=True)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with running_platform() as platform:
        results = asyncio.run(measure(platform, pages=args.pages, runs=args.runs))
    walls = [r[0] for r in results]
    print()
    print("| PDF | runs | upload→processed median | best | worst | chunks | target |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.pages} text pages | {len(walls)} | {statistics.median(walls):.2f} s | {min(walls):.2f} s "
          f"| {max(walls):.2f} s | {results[0][2]} | ≤ 15 s |")


if __name__ == "__main__":
    main()
