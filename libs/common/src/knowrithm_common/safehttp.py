"""Every outbound request to an address a user gave goes through `SafeFetcher`: an SSRF guard.

Ingestion fetches with it (URL uploads, crawling); analytics delivers webhooks with it.
A URL given by a user must not reach what only the platform can reach: loopback, private and
link-local networks (the cloud metadata service at 169.254.169.254), CGNAT, unique-local IPv6,
multicast, reserved or unspecified addresses, or those hidden inside IPv4-mapped / NAT64 /
6to4 IPv6 addresses. Every address the host resolves to must be public, unless an allowlist
entry (a CIDR, a host, or host:port) names it — for a test site or an intranet wiki.

The connection is pinned to the validated address (http://<ip>:<port>/… with the original
Host header; for https the SNI and certificate check use the host name), so a DNS answer that
changes between the check and the connection (rebinding) cannot redirect it. `fetch` (GET)
follows redirects by hand, each hop checked again; `post` follows none (a 3xx is an answer
like any other). Bodies are streamed and cut at a limit. Proxy variables of the environment
are ignored: a proxy would resolve names itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urljoin

import httpx

DEFAULT_USER_AGENT = "KnowrithmBot/1.0 (+https://knowrithm.org/bot)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Names that lead to the machine itself or to cloud metadata whatever DNS says.
BLOCKED_NAMES = frozenset({"localhost", "metadata.google.internal", "metadata.goog", "metadata"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
_MAX_CLIENTS = 16

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
_T = TypeVar("_T")

logger = logging.getLogger(__name__)


class FetchRefused(Exception):
    """The URL may not be fetched (scheme, credentials, or a private address); `reason` is for users."""

    code = "url_not_allowed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchFailed(Exception):
    """The fetch was allowed but did not succeed; `reason` is for users, `status` the HTTP status."""

    code = "fetch_failed"

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class FetchTooLarge(FetchFailed):
    """The body is over `max_bytes` (a URL upload may answer 413 for it)."""

    code = "file_too_large"


@dataclass(frozen=True)
class PostResult:
    """What a POST was answered: status, reason, headers and at most `max_response_bytes` of body."""

    status: int
    reason: str
    content: bytes
    headers: dict[str, str]
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL, after redirects
    status: int
    content_type: str | None
    content: bytes
    headers: dict[str, str]
    redirects: list[str] = field(default_factory=list)  # the URLs that answered with a redirect


def literal_ip(host: str) -> IPAddress | None:
    """The address a host names literally, including legacy IPv4 forms (2130706433, 0x7f.1)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host.lower()):
        try:  # inet_aton reads decimal, octal and hex parts the way resolvers and browsers do
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` is a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
        if ip.is_site_local:
            return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
    )


class Allowlist:
    """Operator exceptions: CIDRs (any port), host names, or host:port."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.hosts: set[str] = set()
        self.host_ports: set[tuple[str, int]] = set()
        for raw in entries:
            self._add(raw.strip().lower())

    def _add(self, entry: str) -> None:
        if not entry:
            return
        try:
            self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            return
        except ValueError:
            pass
        host, sep, port = entry.rpartition(":")
        if sep and port.isdigit() and host:
            self.host_ports.add((host.strip("[]"), int(port)))
        else:
            self.hosts.add(entry)

    def names(self, host: str, port: int) -> bool:
        """Whether the host itself (on this port) is allowed, whatever it resolves to."""
        return host in self.hosts or (host, port) in self.host_ports

    def covers(self, ip: IPAddress) -> bool:
        return any(ip in net for net in self.networks)


def _port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _shown(url: str) -> str:
    return url if len(url) <= 200 else url[:197] + "..."


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (no connection is made)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SafeFetcher:
    """Fetches public http(s) URLs for users; refuses everything else with a readable reason."""

    def __init__(
        self,
        *,
        allowlist: Sequence[str] = (),
        timeout: float = 20,
        max_redirects: int = 5,
        max_bytes: int = 50 * 1024 * 1024,
        user_agent: str = DEFAULT_USER_AGENT,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        purpose: str = "fetching it",
    ) -> None:
        self.allowlist = Allowlist(allowlist)
        self.purpose = purpose  # what is refused, in the reasons users read: "<purpose> is not allowed"
        self.timeout, self.max_redirects, self.max_bytes = timeout, max_redirects, max_bytes
        self.user_agent = user_agent
        self.resolver = resolver or system_resolver
        self.verify: ssl.SSLContext | bool = ssl_context or True  # a context: e.g. a private CA
        # One client per TLS server name, so a pooled connection verified for one host is never
        # reused for another host on the same address.
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()

    # --- validation -----------------------------------------------------------------------

    def check_syntax(self, url: str) -> None:
        """Refuse anything but an http(s) URL with a host and no credentials."""
        self._parse(url)

    def _parse(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise FetchRefused(f"{_shown(url)} is not a valid web address") from exc
        if parsed.scheme not in ("http", "https"):
            raise FetchRefused(
                f"{_shown(url)} is not an http or https address; {self.purpose} is not allowed"
            )
        if not parsed.host:
            raise FetchRefused(f"{_shown(url)} has no host name")
        if parsed.userinfo:
            raise FetchRefused(
                f"{_shown(url)} contains a user name or password; remove them from the address"
            )
        if not 0 < _port_of(parsed) < 65536:
            raise FetchRefused(f"{_shown(url)} has an invalid port")
        return parsed

    async def check(self, url: str) -> list[str]:
        """Resolve the URL's host and validate every address; the addresses, in resolver order."""
        return [str(ip) for ip in await self._addresses(self._parse(url), url)]

    async def _addresses(self, parsed: httpx.URL, url: str) -> list[IPAddress]:
        host, port = parsed.host.lower().rstrip("."), _port_of(parsed)
        named = self.allowlist.names(host, port)
        ip = literal_ip(host)
        if ip is None and not named and (host in BLOCKED_NAMES or host.endswith(".localhost")):
            raise FetchRefused(
                f"{_shown(url)} points to a local or internal host; {self.purpose} is not allowed"
            )
        addresses = [ip] if ip is not None else await self._resolve(parsed.raw_host.decode("ascii"), port)
        for address in addresses:
            if not (named or is_public(address) or self.allowlist.covers(address)):
                # The address is shown only when the URL spelled it: what an internal name
                # resolves to is not the caller's business (it would map the private network).
                shown = f" ({address})" if ip is not None else ""
                if ip is None:
                    logger.info("refused %s: %s resolves to %s", _shown(url), host, address)
                raise FetchRefused(
                    f"{_shown(url)} points to a private or local address{shown}; "
                    f"{self.purpose} is not allowed"
                )
        return addresses

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            found = await asyncio.wait_for(self.resolver(host, port), self.timeout)
        except (OSError, TimeoutError) as exc:
            raise FetchFailed(f"The host {host} could not be found; check the address") from exc
        addresses = []
        for text in found:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError as exc:
                raise FetchRefused(f"The host {host} resolved to an invalid address") from exc
        if not addresses:
            raise FetchFailed(f"The host {host} could not be found; check the address")
        return addresses

    # --- fetching -------------------------------------------------------------------------

    async def fetch(self, url: str, *, accept: str | None = None) -> FetchResult:
        """GET `url`, following up to `max_redirects` redirects, each one validated again."""
        current, redirects = url, []
        deadline = time.monotonic() + self.timeout * (self.max_redirects + 2)
        while True:
            parsed = self._parse(current)
            addresses = await self._addresses(parsed, current)
            response, body = await self._get(parsed, addresses, current, accept=accept, deadline=deadline)
            location = response.headers.get("location")
            if response.status_code in REDIRECT_STATUSES and location:
                redirects.append(current)
                if len(redirects) > self.max_redirects:
                    raise FetchFailed(
                        f"{_shown(url)} redirected more than {self.max_redirects} times; "
                        "use the address of the final page"
                    )
                current = urljoin(current, location.strip())
                continue
            if response.status_code >= 400:
                raise FetchFailed(
                    f"{_shown(current)} answered HTTP {response.status_code} "
                    f"{response.reason_phrase}".rstrip(), status=response.status_code,
                )
            return FetchResult(
                url=str(parsed.copy_with(fragment=None)),
                status=response.status_code,
                content_type=response.headers.get("content-type"),
                content=body,
                headers=dict(response.headers),
                redirects=redirects,
            )

    async def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        max_response_bytes: int = 64 * 1024,
    ) -> PostResult:
        """POST `content` to a validated address of `url`; no redirect is followed.

        Any HTTP answer is returned (the caller decides what a 3xx/4xx/5xx means), its body cut
        at `max_response_bytes`; a refused URL raises FetchRefused, no answer FetchFailed.
        """
        parsed = self._parse(url)
        addresses = await self._addresses(parsed, url)

        async def send(address: IPAddress) -> PostResult:
            response = await self._send("POST", parsed, address, headers=headers, content=content)
            try:
                body, truncated = await _read_capped(response, max_response_bytes)
            finally:
                await response.aclose()
            return PostResult(
                status=response.status_code, reason=response.reason_phrase, content=body,
                headers=dict(response.headers), truncated=truncated,
            )

        return await self._first_answer(addresses, url, send, deadline=time.monotonic() + self.timeout,
                                        verb="Posting to")

    async def _get(
        self, parsed: httpx.URL, addresses: list[IPAddress], url: str, *, accept: str | None, deadline: float
    ) -> tuple[httpx.Response, bytes]:
        async def send(address: IPAddress) -> tuple[httpx.Response, bytes]:
            response = await self._send("GET", parsed, address, headers={"Accept": accept or "*/*"})
            try:
                if response.status_code in REDIRECT_STATUSES or response.status_code >= 400:
                    return response, b""
                return response, await self._read(response, str(parsed))
            finally:
                await response.aclose()

        return await self._first_answer(addresses, url, send, deadline=deadline, verb="Fetching")

    async def _first_answer(
        self,
        addresses: list[IPAddress],
        url: str,
        send: Callable[[IPAddress], Awaitable[_T]],
        *,
        deadline: float,
        verb: str,
    ) -> _T:
        """`send` to the first validated address that accepts a connection."""
        failure: Exception | None = None
        for address in addresses:  # the next validated address when one refuses connections
            try:
                remaining = max(deadline - time.monotonic(), 0.001)
                return await asyncio.wait_for(send(address), remaining)
            except httpx.ConnectError as exc:
                failure = exc
            except (httpx.TimeoutException, TimeoutError) as exc:
                raise FetchFailed(
                    f"{_shown(url)} did not answer within {self.timeout:g} seconds; try again later"
                ) from exc
            except httpx.HTTPError as exc:
                raise FetchFailed(
                    f"{verb} {_shown(url)} failed ({type(exc).__name__}); try again later"
                ) from exc
        raise FetchFailed(f"Could not connect to {_shown(url)} ({_connect_reason(failure)})")

    async def _send(
        self,
        method: str,
        parsed: httpx.URL,
        address: IPAddress,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send a request to `address` with the URL's Host (and TLS name); the response is streamed."""
        host = parsed.raw_host.decode("ascii")
        tls_name = host if parsed.scheme == "https" and literal_ip(host) is None else None
        request_url = parsed.copy_with(host=str(address), fragment=None)
        sent = {"User-Agent": self.user_agent, "Accept": "*/*", **(headers or {})}
        sent["Host"] = parsed.netloc.decode("ascii")
        client = await self._client(tls_name or "")
        extensions = {"sni_hostname": tls_name} if tls_name else {}
        request = client.build_request(
            method, request_url, headers=sent, content=content, extensions=extensions
        )
        return await client.send(request, stream=True)

    async def _read(self, response: httpx.Response, url: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchTooLarge(self._too_large(url))
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchTooLarge(self._too_large(url))
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, url: str) -> str:
        mb = 1024 * 1024
        limit = f"{self.max_bytes / mb:.0f} MB" if self.max_bytes >= mb else f"{self.max_bytes} bytes"
        return f"{_shown(url)} is larger than the limit of {limit}"

    async def _client(self, tls_name: str) -> httpx.AsyncClient:
        client = self._clients.pop(tls_name, None)
        if client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False,
                verify=self.verify,
            )
            while len(self._clients) >= _MAX_CLIENTS:
                _, oldest = self._clients.popitem(last=False)
                await oldest.aclose()
        self._clients[tls_name] = client  # most recently used last
        return client

    async def aclose(self) -> None:
        """Close the pooled connections."""
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.aclose()


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether there was more (the rest is not read)."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk[: limit - size])
        size += len(chunk)
        if size >= limit:
            return b"".join(chunks), size > limit
    return b"".join(chunks), False


def _connect_reason(exc: Exception | None) -> str:
    causes: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(causes) < 10:  # httpx wraps anyio wraps the socket error
        causes.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "the connection was refused"
    text = " ".join(str(cause) for cause in causes).lower()
    if "certificate" in text:
        return "its TLS certificate could not be verified"
    if "refused" in text:
        return "the connection was refused"
    return "the server could not be reached"
