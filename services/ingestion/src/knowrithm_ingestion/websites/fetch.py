"""Ingestion's outbound fetches (URL uploads, crawling) use the shared SSRF guard.

The guard lives in `knowrithm_common.safehttp` since analytics delivers webhooks through it
too; the names are re-exported here so ingestion's modules keep importing them from here.
"""

from knowrithm_common.safehttp import (
    BLOCKED_NAMES,
    DEFAULT_USER_AGENT,
    REDIRECT_STATUSES,
    Allowlist,
    FetchFailed,
    FetchRefused,
    FetchResult,
    FetchTooLarge,
    IPAddress,
    Resolver,
    SafeFetcher,
    is_public,
    literal_ip,
    system_resolver,
)

__all__ = [
    "BLOCKED_NAMES",
    "DEFAULT_USER_AGENT",
    "REDIRECT_STATUSES",
    "Allowlist",
    "FetchFailed",
    "FetchRefused",
    "FetchResult",
    "FetchTooLarge",
    "IPAddress",
    "Resolver",
    "SafeFetcher",
    "is_public",
    "literal_ip",
    "system_resolver",
]
