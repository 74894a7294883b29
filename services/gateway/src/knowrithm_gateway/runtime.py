"""What the gateway needs per process: settings and tables now, clients once started."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from redis.asyncio import Redis

from knowrithm_common.identity import AssertionSigner, load_private_key
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.sysconfig import SystemConfigWatcher
from knowrithm_common.tokens import API_KEY_RESOLVE_PATH, JWKS_PATH
from knowrithm_gateway.admission import Gate
from knowrithm_gateway.apikeys import ApiKeys, SecretThrottle
from knowrithm_gateway.auth import TokenVerifier
from knowrithm_gateway.config import GatewaySettings
from knowrithm_gateway.guard import Guard
from knowrithm_gateway.jwks import JwksCache
from knowrithm_gateway.openapi import OpenApiAggregator
from knowrithm_gateway.overrides import LiveLimits
from knowrithm_gateway.policies import OperationTable
from knowrithm_gateway.ratelimit import ClientAddress
from knowrithm_gateway.revocation import RevocationListener
from knowrithm_gateway.routing import RouteTable
from knowrithm_gateway.upstream import fresh_session, pooled_session
from knowrithm_gateway.usage import UsageRecorder


class GatewayRuntime:
    """Holds the gateway's clients; `start()` builds them in the lifespan, `stop()` closes them."""

    session: aiohttp.ClientSession
    fresh_session: aiohttp.ClientSession  # resends after a dead pooled connection (upstream.py)
    redis: Redis
    nats: NatsConnection
    gate: Gate
    usage: UsageRecorder
    revocations: RevocationListener
    openapi: OpenApiAggregator
    config: SystemConfigWatcher

    def __init__(self, settings: GatewaySettings) -> None:
        pem = settings.knowrithm_assertion_private_key.get_secret_value()
        if not pem.strip():
            raise RuntimeError(
                "KNOWRITHM_ASSERTION_PRIVATE_KEY is required (the key that signs assertions)"
            )
        self.settings = settings
        self.signer = AssertionSigner(load_private_key(pem))
        self.routes = RouteTable()
        self.operations = OperationTable()
        self.upstreams = settings.upstreams()
        self.addresses = ClientAddress(settings.trusted_proxies)  # a bad entry fails at start-up
        self.limits = LiveLimits(settings)

    async def start(self) -> None:
        """Open the upstream pool, Redis and NATS; start the configuration, usage and revocation loops."""
        settings = self.settings
        self.session = pooled_session(settings)
        self.fresh_session = fresh_session(settings)
        self.redis = Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2,
            health_check_interval=30,
        )
        jwks = JwksCache(
            session=self.session, url=self.upstreams["auth"] + JWKS_PATH,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            max_age_seconds=settings.jwks_max_age_seconds,
        )
        verifier = TokenVerifier(
            jwks=jwks, limits=self.limits, leads=settings.lead_token_verifier(),
            lead_per_minute=settings.rate_limit_lead_per_minute,
        )
        api_keys = ApiKeys(
            redis=self.redis, session=self.session,
            resolve_url=self.upstreams["auth"] + API_KEY_RESOLVE_PATH, signer=self.signer,
            cache_seconds=settings.api_key_cache_seconds,
            timeout_seconds=settings.api_key_resolve_timeout_seconds,
            limits=self.limits,
            throttle=SecretThrottle(
                self.redis, max_failures=settings.api_key_max_failed_secrets,
                lockout_seconds=settings.api_key_lockout_minutes * 60,
            ),
        )
        self.gate = Gate(
            verifier=verifier, api_keys=api_keys, guard=Guard(self.redis), signer=self.signer,
            addresses=self.addresses,
            anonymous_per_minute=settings.rate_limit_anonymous_per_minute,
            auth_per_minute=settings.rate_limit_auth_per_minute,
        )
        self.config = SystemConfigWatcher(self.redis, interval=settings.system_config_refresh_seconds)

        def configuration_changed(values: Mapping[str, Any]) -> None:
            self.limits.apply(values)
            verifier.forget_all()
            api_keys.forget_all()

        self.config.on_change(configuration_changed)
        await self.config.start()  # the overrides in force before the first request
        # NATS connects in the background: the gateway serves while it is down.
        self.nats = NatsConnection(settings.nats_url, name="gateway")
        await self.nats.start()
        self.usage = UsageRecorder(
            self.nats, flush_seconds=settings.usage_flush_seconds,
            batch_size=settings.usage_batch_size, buffer_limit=settings.usage_buffer_limit,
        )
        await self.usage.start()
        self.revocations = RevocationListener(self.nats, api_keys)
        await self.revocations.start()
        # The worker and the console serve no public API operations.
        api_services = {k: v for k, v in self.upstreams.items() if k not in ("ingestion-worker", "console")}
        self.openapi = OpenApiAggregator(
            session=self.session, upstreams=api_services, routes=self.routes,
            operations=self.operations,
            ttl_seconds=settings.openapi_cache_seconds,
            timeout_seconds=settings.health_timeout_seconds,
        )

    async def stop(self) -> None:
        """Publish the buffered usage, then close every client."""
        await self.config.stop()
        await self.revocations.stop()
        await self.usage.stop()
        await self.nats.close()
        await self.session.close()
        await self.fresh_session.close()
        await self.redis.aclose()
