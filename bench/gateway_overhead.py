"""What the gateway costs: the same GET through the gateway and straight to the service.

Starts its own processes (Redis, NATS, one upstream service, the gateway with its rate limits
lifted; each uvicorn with one worker), signs an access token for the gateway path and an
identity assertion for the direct path, then drives both targets in alternating rounds so
machine noise hits both alike:

- latency: one request at a time (p50/p95 of a single request, what the gateway *adds*);
- throughput: a bounded concurrent load (requests/s, with p50/p95 under that load).

Usage (from the repo root):
    uv run python bench/gateway_overhead.py
    uv run python bench/gateway_overhead.py --upstream-app knowrithm_auth.main:create_app \
        --path /api/v1/auth/user/me

The default upstream is `create_upstream_app` below: AssertionMiddleware plus a small JSON
answer for `GET /api/v1/auth/user/me`, and the JWKS the gateway needs, as auth would serve.
Every upstream gets the generated token key as `KNOWRITHM_JWT_PRIVATE_KEY` (so a real auth
publishes its JWKS) plus `--upstream-env KEY=VALUE` pairs (DATABASE_URL, ...); `--claims`
merges JSON into the token's claims (e.g. the `sub`/`company_id` of a seeded user).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from fastapi import FastAPI, Request

from knowrithm_common.identity import AssertionMiddleware, AssertionVerifier, load_public_key

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_UPSTREAM = "gateway_overhead:create_upstream_app"
DEFAULT_PATH = "/api/v1/auth/user/me"
JWKS_ENV = "BENCH_JWKS"
# A benchmark sends far more than a user may: the gateway's rate limits are lifted.
UNLIMITED_ENV = {
    f"GATEWAY_RATE_LIMIT_{name}_PER_MINUTE": "1000000000"
    for name in ("USER", "COMPANY", "ANONYMOUS", "AUTH")
}


def create_upstream_app() -> Any:
    """The default upstream: verifies the assertion and answers a small JSON, like auth's /me."""
    app = FastAPI()
    verifier = AssertionVerifier(load_public_key(os.environ["KNOWRITHM_ASSERTION_PUBLIC_KEY"]))
    app.add_middleware(AssertionMiddleware, verifier=verifier)
    jwks = json.loads(os.environ.get(JWKS_ENV, '{"keys": []}'))

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks

    @app.get("/health/live")
    async def live() -> dict[str, Any]:
        return {"status": "alive"}

    @app.get(DEFAULT_PATH)
    async def me(request: Request) -> dict[str, Any]:
        principal = request.state.principal
        return {
            "success": True,
            "user": {"id": str(principal.user_id), "role": principal.role,
                     "company_id": str(principal.company_id)},
        }

    return app


# ---------------------------------------------------------------------------- processes


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _uvicorn(app: str, port: int, *, env: dict[str, str], log: Path) -> Any:
    from knowrithm_stack.spawn import spawn  # children die with the bench, even on SIGKILL

    argv = [
        sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log",
        "--app-dir", str(BENCH_DIR),
    ]
    handle = log.open("wb")
    return spawn(argv, env={**os.environ, **env}, stdout=handle, stderr=handle, cwd=REPO_ROOT)


async def _wait_http(url: str, proc: Any, log: Path, wait_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + wait_seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited early:\n{_tail(log)}")
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@dataclass
class Targets:
    gateway_url: str
    direct_url: str
    gateway_headers: dict[str, str]
    direct_headers: dict[str, str]
    processes: list[Any] = field(default_factory=list)


def _credentials(
    assertion_key: Ed25519PrivateKey, jwt_key: Ed25519PrivateKey, *, claims: dict[str, Any]
) -> tuple[str, str]:
    """An access token for the gateway path and the assertion the gateway would make of it."""
    from knowrithm_common.identity import AssertionSigner
    from knowrithm_common.tokens import (
        ACCESS_TOKEN_AUDIENCE,
        ACCESS_TOKEN_ISSUER,
        AccessTokenClaims,
        key_id,
    )
    from knowrithm_gateway.auth import principal_from_claims

    now = int(time.time())
    payload = {
        "iss": ACCESS_TOKEN_ISSUER, "aud": ACCESS_TOKEN_AUDIENCE, "sub": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex, "iat": now, "exp": now + 3600,
        "company_id": str(uuid.uuid4()), "role": "admin", "typ": "access", "scopes": [],
        **claims,
    }
    token = jwt.encode(
        payload, jwt_key, algorithm="EdDSA", headers={"kid": key_id(jwt_key.public_key())}
    )
    principal = principal_from_claims(AccessTokenClaims.model_validate(payload))
    # Signed once, as the gateway signs once per token: both paths carry the same work.
    assertion = AssertionSigner(assertion_key, ttl_seconds=3600).sign(principal)
    return token, assertion


def start_datastores(workdir: Path) -> tuple[list[Any], dict[str, str]]:
    """Redis and NATS (the gateway publishes usage events), and the environment naming them."""
    from knowrithm_stack.ports import free_port
    from knowrithm_stack.servers import NatsServer, RedisServer

    redis = RedisServer(data_dir=workdir, port=free_port(), durable=False)
    nats = NatsServer(data_dir=workdir, port=free_port(), monitor_port=free_port())
    started: list[Any] = []
    try:
        for server in (redis, nats):
            server.start(wait=True, timeout=30)
            started.append(server)
    except BaseException:
        for server in started:
            server.stop()
        raise
    return started, {"KNOWRITHM_ENV": "development", "REDIS_URL": redis.url, "NATS_URL": nats.url}


async def start_targets(args: argparse.Namespace, workdir: Path) -> Targets:
    """Redis, NATS, the upstream and the gateway, with credentials for both paths."""
    from knowrithm_common.identity import ASSERTION_HEADER
    from knowrithm_common.tokens import public_jwk
    from knowrithm_stack.ports import free_port

    datastores, common = start_datastores(workdir)
    assertion_key = Ed25519PrivateKey.generate()
    jwt_key = Ed25519PrivateKey.generate()
    upstream_port, gateway_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    upstream_env = {
        **common, "KNOWRITHM_ASSERTION_PUBLIC_KEY": _public_pem(assertion_key),
        "KNOWRITHM_JWT_PRIVATE_KEY": _pem(jwt_key),
        JWKS_ENV: json.dumps({"keys": [public_jwk(jwt_key.public_key())]}),
        **dict(pair.split("=", 1) for pair in args.upstream_env),
    }
    gateway_env = {
        **common, **UNLIMITED_ENV, "KNOWRITHM_ASSERTION_PRIVATE_KEY": _pem(assertion_key)
    }
    for name in ("AUTH", "AGENTS", "CONVERSATIONS", "INGESTION", "ANALYTICS", "INGESTION_WORKER"):
        gateway_env[f"GATEWAY_{name}_URL"] = upstream_url
    upstream_log, gateway_log = workdir / "upstream.log", workdir / "gateway.log"
    upstream = _uvicorn(args.upstream_app, upstream_port, env=upstream_env, log=upstream_log)
    gateway = _uvicorn(args.gateway_app, gateway_port, env=gateway_env, log=gateway_log)
    targets = Targets(
        gateway_url=f"http://127.0.0.1:{gateway_port}{args.path}",
        direct_url=f"{upstream_url}{args.path}",
        gateway_headers={}, direct_headers={}, processes=[upstream, gateway, *datastores],
    )
    try:
        await _wait_http(upstream_url + "/health/live", upstream, upstream_log)
        await _wait_http(f"http://127.0.0.1:{gateway_port}/health/live", gateway, gateway_log)
    except BaseException:
        stop_targets(targets)
        raise
    token, assertion = _credentials(assertion_key, jwt_key, claims=json.loads(args.claims))
    targets.gateway_headers = {"Authorization": f"Bearer {token}"}
    targets.direct_headers = {ASSERTION_HEADER: assertion}
    return targets


def stop_targets(targets: Targets) -> None:
    for proc in targets.processes:
        if hasattr(proc, "terminate"):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except Exception:  # last resort below
                proc.kill()
        else:
            proc.stop()


# ---------------------------------------------------------------------------- load


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: int = 0

    def add(self, other: Sample) -> None:
        self.latencies.extend(other.latencies)
        self.seconds += other.seconds
        self.errors += other.errors


async def drive(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], *,
    concurrency: int, requests: int,
) -> Sample:
    """Send `requests` GETs with at most `concurrency` in flight; time each one."""
    sample = Sample()
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    sample.errors += 1
            sample.latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sample.seconds = time.perf_counter() - started
    return sample


async def measure(targets: Targets, args: argparse.Namespace) -> dict[str, dict[str, Sample]]:
    """Alternate gateway and direct in rounds, for the latency and the throughput phase."""
    phases = {
        "latency": (1, args.latency_requests),
        "throughput": (args.concurrency, args.requests),
    }
    results = {phase: {"gateway": Sample(), "direct": Sample()} for phase in phases}
    connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=3)
    targets_by_name = {
        "gateway": (targets.gateway_url, targets.gateway_headers),
        "direct": (targets.direct_url, targets.direct_headers),
    }
    async with aiohttp.ClientSession(connector=connector) as session:
        for url, headers in targets_by_name.values():  # warm-up: pools, caches, JWKS
            await drive(session, url, headers, concurrency=args.concurrency, requests=args.warmup)
        for round_no in range(args.rounds):
            order = ["gateway", "direct"] if round_no % 2 == 0 else ["direct", "gateway"]
            for phase, (concurrency, requests) in phases.items():
                for name in order:
                    url, headers = targets_by_name[name]
                    sample = await drive(
                        session, url, headers, concurrency=concurrency, requests=requests
                    )
                    results[phase][name].add(sample)
    return results


# ---------------------------------------------------------------------------- report


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def report(results: dict[str, dict[str, Sample]], args: argparse.Namespace) -> str:
    """A markdown table of both targets and the gateway's cost."""
    lat, thr = results["latency"], results["throughput"]
    lines = [
        f"GET `{args.path}` — latency: 1 in flight, {args.rounds} x {args.latency_requests} "
        f"requests; throughput: {args.concurrency} in flight, {args.rounds} x {args.requests} "
        "requests; targets alternate every round.",
        "",
        "| target | p50 ms (1 in flight) | p95 ms (1 in flight) | req/s "
        f"({args.concurrency} in flight) | p50 ms (loaded) | p95 ms (loaded) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("direct", "gateway"):
        one, many = lat[name], thr[name]
        rps = len(many.latencies) / many.seconds
        lines.append(
            f"| {name} | {_pct(one.latencies, .5):.2f} | {_pct(one.latencies, .95):.2f} | "
            f"{rps:,.0f} | {_pct(many.latencies, .5):.2f} | {_pct(many.latencies, .95):.2f} | "
            f"{one.errors + many.errors} |"
        )
    added = statistics.median(lat["gateway"].latencies) - statistics.median(lat["direct"].latencies)
    ratio = (len(thr["gateway"].latencies) / thr["gateway"].seconds) / (
        len(thr["direct"].latencies) / thr["direct"].seconds
    )
    lines += [
        "",
        f"- gateway adds **{added * 1000:.2f} ms** at p50 (target ≤ 1 ms)",
        f"- gateway throughput is **{ratio:.0%}** of direct (target ≥ 50%)",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--upstream-app", default=DEFAULT_UPSTREAM, help="module:factory")
    parser.add_argument("--path", default=DEFAULT_PATH)
    parser.add_argument(
        "--gateway-app", default="knowrithm_gateway.main:create_app",
        help="module:factory of the gateway (to compare variants)",
    )
    parser.add_argument(
        "--upstream-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra environment of the upstream process (repeatable)",
    )
    parser.add_argument("--claims", default="{}", help="JSON merged into the token's claims")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="per round and target")
    parser.add_argument("--latency-requests", type=int, default=500, help="per round, target")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1000)
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        targets = await start_targets(args, Path(tmp))
        try:
            results = await measure(targets, args)
        finally:
            stop_targets(targets)
    print(report(results, args))


if __name__ == "__main__":
    asyncio.run(main())
