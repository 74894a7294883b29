"""The egress guard for database hosts: what `SafeFetcher` is for web fetches.

Every host a connection names (each MongoDB seed, and for `mongodb+srv` every SRV target) is
resolved, and every address it resolves to must be public (`safehttp.is_public`) unless the
operator's allow-list (CIDRs, host names or host:port, `safehttp.Allowlist`) names it. Names that
lead to the machine itself or to cloud metadata (`localhost`, `*.localhost`,
`metadata.google.internal`) are refused whatever they resolve to. The engines then connect to the
checked address (`Target.ip`: libpq's `hostaddr`, aiomysql's `host`, pymongo's host), so a DNS
answer that changes between the check and the connection cannot redirect it.

Refusals raise `DatabaseRefused` (422 `database_host_refused`): nothing was sent to the host.
A name that does not resolve raises `DatabaseUnreachable` (502 `database_unreachable`).
SRV lookups use dnspython (installed with pymongo); an SRV target outside the name's parent
domain is refused, as the MongoDB specification requires.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from knowrithm_common.safehttp import (
    BLOCKED_NAMES,
    Allowlist,
    IPAddress,
    Resolver,
    is_public,
    literal_ip,
    system_resolver,
)

from .errors import DatabaseRefused, DatabaseUnreachable
from .spec import ParsedUrl

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """A checked host: its name, port and validated addresses (connect to `ip`)."""

    host: str
    port: int
    addresses: tuple[str, ...]

    @property
    def ip(self) -> str:
        return self.addresses[0]


async def check_host(
    host: str,
    port: int,
    allow: Sequence[str] | Allowlist,
    *,
    timeout: float = 10,
    resolver: Resolver | None = None,
) -> Target:
    """Resolve `host` and validate every address; DatabaseRefused when one is not allowed."""
    allowlist = allow if isinstance(allow, Allowlist) else Allowlist(allow)
    host = host.lower().rstrip(".")
    named = allowlist.names(host, port)
    ip = literal_ip(host)
    if ip is None and not named and (host in BLOCKED_NAMES or host.endswith(".localhost")):
        raise DatabaseRefused(
            f"The database host {host} is a local or internal host; connecting to it is not allowed"
        )
    addresses = [ip] if ip is not None else await _resolve(host, port, timeout, resolver or system_resolver)
    for address in addresses:
        if not (named or is_public(address) or allowlist.covers(address)):
            shown = f" ({address})" if ip is not None else ""
            if ip is None:
                logger.info("refused database host %s: resolves to %s", host, address)
            raise DatabaseRefused(
                f"The database host {host} points to a private or local address{shown}; "
                "connecting to it is not allowed"
            )
    return Target(host=host, port=port, addresses=tuple(str(a) for a in addresses))


async def check_url_hosts(
    parsed: ParsedUrl,
    allow: Sequence[str] | Allowlist,
    *,
    timeout: float = 10,
    resolver: Resolver | None = None,
) -> list[Target]:
    """Every host of a parsed URL checked (SRV targets for mongodb+srv), in the URL's order."""
    allowlist = allow if isinstance(allow, Allowlist) else Allowlist(allow)
    hosts = await srv_targets(parsed.host, timeout=timeout) if parsed.srv else list(parsed.hosts)
    return [await check_host(h, p, allowlist, timeout=timeout, resolver=resolver) for h, p in hosts]


async def srv_targets(name: str, *, timeout: float = 10) -> list[tuple[str, int]]:
    """The hosts of `_mongodb._tcp.<name>`; each must lie in the parent domain of `name`."""
    try:
        import dns.asyncresolver
        import dns.exception
    except ImportError as exc:  # pragma: no cover - dnspython comes with pymongo
        raise DatabaseRefused(
            "mongodb+srv:// URLs are not supported here; give the hosts (mongodb://)"
        ) from exc
    if name.count(".") < 2:
        raise DatabaseRefused("A mongodb+srv:// host needs at least three labels (e.g. cluster0.example.com)")
    try:
        answer = await dns.asyncresolver.resolve(f"_mongodb._tcp.{name}", "SRV", lifetime=timeout)
    except (dns.exception.DNSException, OSError) as exc:
        raise DatabaseUnreachable(f"The SRV record of {name} could not be found; check the address") from exc
    parent = name.split(".", 1)[1]
    targets = []
    for record in answer:
        target = str(record.target).lower().rstrip(".")
        if not target.endswith("." + parent):
            raise DatabaseRefused(
                f"The SRV record of {name} points outside {parent}; connecting to it is not allowed"
            )
        targets.append((target, int(record.port)))
    if not targets:
        raise DatabaseUnreachable(f"The SRV record of {name} names no host")
    return targets


async def _resolve(host: str, port: int, timeout: float, resolver: Resolver) -> list[IPAddress]:
    try:
        found = await asyncio.wait_for(resolver(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        raise DatabaseUnreachable(f"The database host {host} could not be found; check the address") from exc
    try:
        addresses = [ipaddress.ip_address(text.split("%", 1)[0]) for text in found]
    except ValueError as exc:
        raise DatabaseRefused(f"The database host {host} resolved to an invalid address") from exc
    if not addresses:
        raise DatabaseUnreachable(f"The database host {host} could not be found; check the address")
    return addresses
