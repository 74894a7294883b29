"""The web console, cold in a real browser, and the server render of a 50-row list.

The whole platform runs as the e2e tests start it (embedded PostgreSQL, NATS, Redis, every
process; the console behind the gateway). A company with an agent on the offline provider
gets 50 leads. Then:

- **each screen cold**: the sign-in page (signed out) and every screen of `knowrithm_console.web.NAV`
  plus the profile (signed in as the company's admin), each opened `--runs` times in a fresh
  headless Chromium context (Debian's /usr/bin/chromium through Playwright: empty cache, no
  connections): requests made, bytes transferred (headers and bodies as sent on the wire),
  and the time from navigation start to the `load` event (page ready: HTML, CSS, htmx parsed);
- **server render of a 50-row list**: `GET /console/leads` (50 leads a page) `--renders` times
  straight at the console's own port (its response time: the session read, two API calls
  through the gateway, the template) and through the gateway (what a browser waits for).

    python3 -m uv run --frozen python bench/console.py --runs 10 --renders 50
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))
from accounts import PASSWORD
from platform_runner import offline_agent, running_platform

from knowrithm_console.web import NAV

CHROMIUM = "/usr/bin/chromium"
COOKIE = "knowrithm_console"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
READY = ("(() => { const n = performance.getEntriesByType('navigation')[0];"
         " return n.loadEventEnd - n.startTime; })()")


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    """Sign in through the console's form (its CSRF token from the page)."""
    page = await client.get("/console/sign-in")
    match = _CSRF.search(page.text)
    assert match is not None
    r = await client.post("/console/sign-in", data={"csrf_token": match.group(1), "email": email,
                                                      "password": PASSWORD})
    assert r.status_code == 303, r.text
LIMITS = {"GATEWAY_RATE_LIMIT_AUTH_PER_MINUTE": "100000", "GATEWAY_RATE_LIMIT_USER_PER_MINUTE": "1000000",
          "GATEWAY_RATE_LIMIT_COMPANY_PER_MINUTE": "1000000"}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _cold(chromium, url: str, cookie: str | None, runs: int) -> dict[str, float]:
    """Open `url` `runs` times, each in a new context; median requests, bytes and time to load."""
    requests, transfer, ready = [], [], []
    for _ in range(runs):
        context = await chromium.new_context()
        if cookie:
            await context.add_cookies([{"name": COOKIE, "value": cookie, "url": url}])
        page = await context.new_page()
        seen: list = []
        page.on("requestfinished", lambda request: seen.append(request))  # noqa: B023 - used within this run
        response = await page.goto(url, wait_until="load")
        assert response is not None and response.ok, (url, response and response.status)
        assert response.url == url, f"{url} went to {response.url}"
        load = await page.evaluate(READY)
        await page.wait_for_load_state("networkidle")
        total = 0
        for request in seen:
            sizes = await request.sizes()
            total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            total += sizes["requestBodySize"] + sizes["requestHeadersSize"]
        requests.append(len(seen))
        transfer.append(total)
        ready.append(load)
        await context.close()
    return {"requests": max(requests), "kb": max(transfer) / 1024, "p50": statistics.median(ready),
            "max": max(ready)}


async def _renders(client: httpx.AsyncClient, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200 and r.text.count('#lead-status"') == 50, r.status_code
    return times


async def main(runs: int, renders: int) -> None:
    from playwright.async_api import async_playwright

    with running_platform(LIMITS) as platform:
        async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as gateway:
            auth, agent_id = await offline_agent(gateway, platform)
            for i in range(50):
                body = {"agent_id": agent_id, "first_name": f"Bench{i}", "last_name": "Lead",
                        "email": f"bench-{uuid.uuid4().hex[:10]}@example.com", "source": "bench"}
                (await gateway.post("/api/v1/lead", json=body, headers=auth)).raise_for_status()
            me = (await gateway.get("/api/v1/auth/user/me", headers=auth)).json()["user"]
        async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as client:
            await sign_in(client, me["email"])
            cookie = client.cookies[COOKIE]
            await _renders(client, "/console/leads", 5)  # warm the console's connections
            via_gateway = await _renders(client, "/console/leads", renders)
        async with httpx.AsyncClient(base_url=platform.url("console"), timeout=30,
                                     cookies={COOKIE: cookie}) as direct:
            at_console = await _renders(direct, "/console/leads", renders)

        base = platform.gateway_url
        screens = [("Sign in", f"{base}/console/sign-in", None)]
        screens += [(item.label, base + item.path, cookie) for item in NAV]
        screens.append(("Profile", f"{base}/console/profile", cookie))
        async with async_playwright() as pw:
            chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                rows = [(name, await _cold(chromium, url, c, runs)) for name, url, c in screens]
            finally:
                await chromium.close()

    print(f"\nEach screen cold, n={runs} fresh contexts (worst requests and bytes, load time p50 / max):")
    print("| screen | requests | transfer | page ready p50 | max |\n|---|---:|---:|---:|---:|")
    for name, m in rows:
        print(f"| {name} | {m['requests']:.0f} | {m['kb']:.1f} KB | {m['p50']:.0f} ms | {m['max']:.0f} ms |")
    print(f"\nGET /console/leads, 50 rows, n={renders}:")
    print("| measured at | p50 | p95 | max |\n|---|---:|---:|---:|")
    for name, values in (("the console's port", at_console), ("the gateway", via_gateway)):
        print(f"| {name} | {pct(values, 50):.1f} ms | {pct(values, 95):.1f} ms | {max(values):.1f} ms |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--renders", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.renders))
