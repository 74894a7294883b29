"""Gateway metrics: the shared request series labelled by route pattern, and the gateway's own."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from knowrithm_common.metrics import LATENCY, REQUESTS

SERVICE = "gateway"
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

UPSTREAM_ERRORS = Counter(
    "knowrithm_gateway_upstream_errors_total",
    "Upstream requests that failed before a response (connect, timeout, protocol)",
    ["upstream", "kind"],
)
UPSTREAM_RESENDS = Counter(
    "knowrithm_gateway_upstream_resends_total",
    "Requests resent on a fresh connection after a pooled one turned out dead (upstream.py)",
    ["upstream"],
)
RATE_LIMITED = Counter(
    "knowrithm_gateway_rate_limited_total", "Requests refused by a rate limit", ["limit"]
)
USAGE_DROPPED = Counter(
    "knowrithm_gateway_usage_records_dropped_total",
    "API usage records dropped because NATS stayed unreachable past the buffer limit",
)
USAGE_PUBLISHED = Counter(
    "knowrithm_gateway_usage_records_published_total", "API usage records published to NATS"
)


# Label lookups cost more than the increments; the label sets are few, so keep the children.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(*, route: str, method: str, status: int, seconds: float) -> None:
    """Count and time one proxied request in the series every service exports."""
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        # Methods are client-chosen strings: fold the unusual ones so labels stay bounded.
        label = method if method in METHODS else "OTHER"
        children = (
            REQUESTS.labels(SERVICE, label, route, str(status)),
            LATENCY.labels(SERVICE, label, route),
        )
        if method in METHODS:
            _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def observe_upstream_resend(*, upstream: str) -> None:
    """Count a request resent after its pooled connection turned out dead."""
    UPSTREAM_RESENDS.labels(upstream).inc()


def observe_upstream_error(*, upstream: str, kind: str) -> None:
    """Count an upstream failure (kind: unavailable, timeout, bad_gateway)."""
    UPSTREAM_ERRORS.labels(upstream, kind).inc()
