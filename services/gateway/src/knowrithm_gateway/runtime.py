"""What the gateway needs per process: settings and route table now, clients once started."""

from __future__ import annotations

import aiohttp
from redis.asyncio import Redis

from knowrithm_common.identity import AssertionSigner, load_private_key
from knowrithm_common.tokens import JWKS_PATH
from knowrithm_gateway.auth import Authenticator, TokenVerifier
from knowrithm_gateway.config import GatewaySettings
from knowrithm_gateway.jwks import JwksCache
from knowrithm_gateway.openapi import OpenApiAggregator
from knowrithm_gateway.routing import RouteTable


class GatewayRuntime:
    """Holds the gateway's clients; `start()` builds them in the lifespan, `stop()` closes them."""

    session: aiohttp.ClientSession
    redis: Redis
    authenticator: Authenticator
    openapi: OpenApiAggregator

    def __init__(self, settings: GatewaySettings) -> None:
        pem = settings.knowrithm_assertion_private_key.get_secret_value()
        if not pem.strip():
            raise RuntimeError(
                "KNOWRITHM_ASSERTION_PRIVATE_KEY is required (the key that signs assertions)"
            )
        self.settings = settings
        self.signer = AssertionSigner(load_private_key(pem))
        self.routes = RouteTable()
        self.upstreams = settings.upstreams()

    async def start(self) -> None:
        """Open the upstream connection pool and Redis."""
        settings = self.settings
        connector = aiohttp.TCPConnector(
            limit=settings.pool_size, limit_per_host=0,
            keepalive_timeout=settings.pool_keepalive_seconds, ttl_dns_cache=300,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            # Bytes pass through untouched (Content-Encoding and Content-Length stay true),
            # no cookies are kept between users, and no headers the client did not send.
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=settings.connect_timeout_seconds
            ),
        )
        self.redis = Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
            health_check_interval=30,
        )
        jwks = JwksCache(
            session=self.session, url=self.upstreams["auth"] + JWKS_PATH,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            max_age_seconds=settings.jwks_max_age_seconds,
        )
        self.authenticator = Authenticator(
            verifier=TokenVerifier(jwks=jwks, redis=self.redis), signer=self.signer
        )
        api_services = {k: v for k, v in self.upstreams.items() if k != "ingestion-worker"}
        self.openapi = OpenApiAggregator(
            session=self.session, upstreams=api_services, routes=self.routes,
            ttl_seconds=settings.openapi_cache_seconds,
            timeout_seconds=settings.health_timeout_seconds,
        )

    async def stop(self) -> None:
        """Close every client."""
        await self.session.close()
        await self.redis.aclose()
