"""What checking credentials costs: one GET through the gateway, anonymous, with a JWT, with an API key.

Starts its own processes (Redis, NATS, a stand-in upstream, the gateway; each uvicorn with
one worker) and sends the same public `GET /api/v1/country` three ways, alternating every
round so machine noise hits all three alike:

- anonymous: no credentials (the per-IP rate limit is still counted in Redis);
- jwt: an access token (verified once per token; revocation, session, company and the
  user's and company's rate limits checked in one Redis round trip per request);
- api_key: `X-API-Key` + `X-API-Secret` of a key already cached (secret hashed and compared;
  the cached record, company and the key's limits confirmed in one Redis round trip).

Phases as in gateway_overhead.py: latency with 1 request in flight, throughput with a
bounded concurrent load. The report gives what each credential adds over anonymous at p50.

Usage (from the repo root):
    uv run python bench/auth_overhead.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from gateway_overhead import (
    JWKS_ENV,
    UNLIMITED_ENV,
    Sample,
    _pct,
    _pem,
    _public_pem,
    _uvicorn,
    _wait_http,
    drive,
    start_datastores,
)

from knowrithm_common.identity import AssertionMiddleware, AssertionVerifier, load_public_key

PATH = "/api/v1/country"
RECORD_ENV = "BENCH_API_KEY_RECORD"
TARGETS = ("anonymous", "jwt", "api_key")


def create_upstream_app() -> Any:
    """A stand-in auth: JWKS, the API-key resolve route, and a small public JSON answer."""
    from knowrithm_common.tokens import API_KEY_RESOLVE_PATH

    app = FastAPI()
    verifier = AssertionVerifier(load_public_key(os.environ["KNOWRITHM_ASSERTION_PUBLIC_KEY"]))
    app.add_middleware(AssertionMiddleware, verifier=verifier)
    jwks = json.loads(os.environ[JWKS_ENV])
    record = json.loads(os.environ[RECORD_ENV])

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks  # type: ignore[no-any-return]

    @app.get("/health/live")
    async def live() -> dict[str, Any]:
        return {"status": "alive"}

    @app.post(API_KEY_RESOLVE_PATH)
    async def resolve(request: Request) -> JSONResponse:
        body = await request.json()
        if body["key_hash"] != record["key_hash"]:
            return JSONResponse({"success": False, "error": "api_key_not_found"}, status_code=404)
        return JSONResponse(record["record"])

    @app.get(PATH)
    async def countries(request: Request) -> list[dict[str, Any]]:
        return [{"id": 1, "name": "Nigeria", "iso_code": "NG", "caller": request.state.principal.kind}]

    return app


def _credentials(jwt_key: Ed25519PrivateKey) -> tuple[str, tuple[str, str], dict[str, Any]]:
    """An access token, an API key and secret, and the record auth would resolve the key to."""
    from knowrithm_common.tokens import (
        ACCESS_TOKEN_AUDIENCE,
        ACCESS_TOKEN_ISSUER,
        ApiKeyRecord,
        credential_hash,
        key_id,
    )

    now = int(time.time())
    company_id = uuid.uuid4()
    claims = {
        "iss": ACCESS_TOKEN_ISSUER, "aud": ACCESS_TOKEN_AUDIENCE, "sub": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex, "iat": now, "exp": now + 3600, "company_id": str(company_id),
        "role": "admin", "typ": "access", "scopes": [], "sid": str(uuid.uuid4()),
    }
    token = jwt.encode(claims, jwt_key, algorithm="EdDSA", headers={"kid": key_id(jwt_key.public_key())})
    api_key, api_secret = "ak_" + secrets.token_urlsafe(32), "as_" + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=uuid.uuid4(), company_id=company_id, user_id=uuid.uuid4(), role="admin",
        scopes=["read"], secret_hash=credential_hash(api_secret), expires_at=None,
        rate_limit_per_hour=1_000_000_000, rate_limit_per_day=1_000_000_000,
    )
    resolvable = {"key_hash": credential_hash(api_key), "record": record.model_dump(mode="json")}
    return token, (api_key, api_secret), resolvable


async def start(workdir: Path) -> tuple[list[Any], str, dict[str, dict[str, str]]]:
    """The processes, the gateway URL of the path, and each target's headers."""
    from knowrithm_common.tokens import public_jwk
    from knowrithm_stack.ports import free_port

    datastores, common = start_datastores(workdir)
    assertion_key, jwt_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    token, (api_key, api_secret), resolvable = _credentials(jwt_key)
    upstream_port, gateway_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    upstream_env = {
        **common, "KNOWRITHM_ASSERTION_PUBLIC_KEY": _public_pem(assertion_key),
        JWKS_ENV: json.dumps({"keys": [public_jwk(jwt_key.public_key())]}),
        RECORD_ENV: json.dumps(resolvable),
    }
    gateway_env = {**common, **UNLIMITED_ENV, "KNOWRITHM_ASSERTION_PRIVATE_KEY": _pem(assertion_key)}
    for name in ("AUTH", "AGENTS", "CONVERSATIONS", "INGESTION", "ANALYTICS", "INGESTION_WORKER"):
        gateway_env[f"GATEWAY_{name}_URL"] = upstream_url
    upstream_log, gateway_log = workdir / "upstream.log", workdir / "gateway.log"
    upstream = _uvicorn(
        "auth_overhead:create_upstream_app", upstream_port, env=upstream_env, log=upstream_log
    )
    gateway = _uvicorn(
        "knowrithm_gateway.main:create_app", gateway_port, env=gateway_env, log=gateway_log
    )
    processes = [upstream, gateway, *datastores]
    try:
        await _wait_http(upstream_url + "/health/live", upstream, upstream_log)
        await _wait_http(f"http://127.0.0.1:{gateway_port}/health/live", gateway, gateway_log)
    except BaseException:
        stop(processes)
        raise
    headers = {
        "anonymous": {},
        "jwt": {"Authorization": f"Bearer {token}"},
        "api_key": {"X-API-Key": api_key, "X-API-Secret": api_secret},
    }
    return processes, f"http://127.0.0.1:{gateway_port}{PATH}", headers


def stop(processes: list[Any]) -> None:
    for proc in processes:
        if hasattr(proc, "terminate"):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except Exception:  # last resort below
                proc.kill()
        else:
            proc.stop()


async def measure(
    url: str, headers: dict[str, dict[str, str]], args: argparse.Namespace
) -> dict[str, dict[str, Sample]]:
    """Rotate the three targets every round, for the latency and the throughput phase."""
    phases = {"latency": (1, args.latency_requests), "throughput": (args.concurrency, args.requests)}
    results = {phase: {name: Sample() for name in TARGETS} for phase in phases}
    connector = aiohttp.TCPConnector(limit=args.concurrency, keepalive_timeout=3)
    async with aiohttp.ClientSession(connector=connector) as session:
        for name in TARGETS:  # warm-up: pools, JWKS, the key's resolve and caches
            await drive(session, url, headers[name], concurrency=args.concurrency, requests=args.warmup)
        for round_no in range(args.rounds):
            order = TARGETS[round_no % 3:] + TARGETS[: round_no % 3]
            for phase, (concurrency, requests) in phases.items():
                for name in order:
                    sample = await drive(
                        session, url, headers[name], concurrency=concurrency, requests=requests
                    )
                    results[phase][name].add(sample)
    return results


def report(results: dict[str, dict[str, Sample]], args: argparse.Namespace) -> str:
    lat, thr = results["latency"], results["throughput"]
    lines = [
        f"GET `{PATH}` through the gateway — latency: 1 in flight, {args.rounds} x "
        f"{args.latency_requests} requests; throughput: {args.concurrency} in flight, "
        f"{args.rounds} x {args.requests} requests; targets rotate every round.",
        "",
        "| credentials | p50 ms (1 in flight) | p95 ms (1 in flight) | req/s "
        f"({args.concurrency} in flight) | p50 ms (loaded) | p95 ms (loaded) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in TARGETS:
        one, many = lat[name], thr[name]
        lines.append(
            f"| {name} | {_pct(one.latencies, .5):.2f} | {_pct(one.latencies, .95):.2f} | "
            f"{len(many.latencies) / many.seconds:,.0f} | {_pct(many.latencies, .5):.2f} | "
            f"{_pct(many.latencies, .95):.2f} | {one.errors + many.errors} |"
        )
    base = statistics.median(lat["anonymous"].latencies)
    lines.append("")
    for name, target in (("jwt", 0.5), ("api_key", 1.0)):
        added = (statistics.median(lat[name].latencies) - base) * 1000
        lines.append(f"- {name} adds **{added:.2f} ms** at p50 over anonymous (target ≤ {target} ms)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="per round and target")
    parser.add_argument("--latency-requests", type=int, default=500, help="per round and target")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=1000)
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        processes, url, headers = await start(Path(tmp))
        try:
            results = await measure(url, headers, args)
        finally:
            stop(processes)
    print(report(results, args))


if __name__ == "__main__":
    asyncio.run(main())
