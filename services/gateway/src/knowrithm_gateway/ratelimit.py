"""Rate limits: fixed windows aligned to the clock, counted in Redis by the admission script.

A request is counted in every bucket that applies to it (its API key's hour and day, its
user's minute, its company's minute, or its IP's minute when anonymous, plus the stricter
per-IP minute of the public credential routes); it is refused when any bucket is full, and a
refused request counts nowhere. Fixed windows cost one INCR per bucket and give exact
`Retry-After`/`X-RateLimit-Reset` values; their known cost is that a client may spend two
windows' worth around a boundary. A key's "per day" is the UTC calendar day.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import Scope

from knowrithm_common.errors import RateLimited
from knowrithm_gateway.metrics import RATE_LIMITED

MINUTE, HOUR, DAY = 60, 3600, 86400
_WINDOW_NAMES = {MINUTE: "minute", HOUR: "hour", DAY: "day"}

@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket: `name` says whose (api_key_hour, user, ip, ...), `prefix` is its Redis key."""

    name: str
    prefix: str
    max_requests: int
    window: int

    def key(self, now: float) -> str:
        return f"{self.prefix}:{int(now // self.window)}"

    def reset(self, now: float) -> int:
        """Unix time at which the current window ends."""
        return (int(now // self.window) + 1) * self.window

    def ttl(self, now: float) -> int:
        return self.reset(now) - int(now) + 1


def limit(name: str, subject: object, max_requests: int, window: int) -> Limit | None:
    """A bucket for `subject`, or None when the limit is switched off (0 or less)."""
    if max_requests <= 0:
        return None
    return Limit(name, f"gw:rl:{name}:{subject}:{window}", max_requests, window)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the counters said: the tightest bucket's headers, or the refusal."""

    headers: list[tuple[str, str]]
    refused: RateLimited | None


def judge(limits: Sequence[Limit], counts: Sequence[int], *, now: float, refused: bool) -> Verdict:
    """Headers of the tightest limit; when refused, the 429 with the longest wait among full ones."""
    if not limits:
        return Verdict([], None)
    tightest = min(
        zip(limits, counts, strict=True), key=lambda lc: (lc[0].max_requests - lc[1], lc[0].window)
    )
    if refused:
        full = [lim for lim, used in zip(limits, counts, strict=True) if used >= lim.max_requests]
        tightest = (max(full, key=lambda lim: lim.reset(now)), 0) if full else tightest
    lim, used = tightest
    headers = [
        ("X-RateLimit-Limit", str(lim.max_requests)),
        ("X-RateLimit-Remaining", str(max(0, lim.max_requests - used) if not refused else 0)),
        ("X-RateLimit-Reset", str(lim.reset(now))),
    ]
    if not refused:
        return Verdict(headers, None)
    RATE_LIMITED.labels(lim.name).inc()
    wait = max(1, math.ceil(lim.reset(now) - now))
    window = _WINDOW_NAMES.get(lim.window, f"{lim.window} s")
    error = RateLimited(
        f"Rate limit exceeded: {lim.max_requests} requests per {window} ({lim.name})",
        retry_after=wait,
        detail={"limit": lim.name, "max_requests": lim.max_requests, "window_seconds": lim.window},
    )
    return Verdict(headers, error)


class ClientAddress:
    """The caller's IP: the socket peer, or from X-Forwarded-For when the peer is a trusted proxy."""

    def __init__(self, trusted_proxies: str) -> None:
        self._networks = [
            ipaddress.ip_network(item.strip(), strict=False)
            for item in trusted_proxies.split(",") if item.strip()
        ]

    def of(self, scope: Scope, forwarded_for: str | None) -> str:
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self._networks or not forwarded_for or not self._trusted(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        # Walk back from the nearest hop: the first one not ours is who connected to our edge.
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)
