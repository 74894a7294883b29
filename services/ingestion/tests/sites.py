"""A local web site for tests of fetching and crawling.

A real HTTP server on a chosen loopback address (127.0.0.5 by default; any 127/8 address binds
on Linux) and a free port, serving the routes it is given: pages, redirects, robots.txt and
sitemaps. It counts the requests it receives per path, so a test can prove that a refused
fetch never reached it.

    with Site() as site:
        site.page("/", "<a href='/about'>About</a>", title="Home")
        site.redirect("/old", "/")
        site.robots("User-agent: *\\nDisallow: /private")
        fetcher.fetch(site.url("/"))
        assert site.hits["/"] == 1
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from xml.sax.saxutils import escape


@dataclass
class Gate:
    """Holds a route's answer until `release` is set; `arrived` is set (at `arrived_at`, epoch seconds)
    when the request comes in."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    arrived_at: float | None = None


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    gate: Gate | None = None  # a slow site: the answer waits for the test


def html_page(body: str, *, title: str | None = None) -> str:
    head = f"<title>{escape(title)}</title>" if title else ""
    return f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


class Site:
    """A threaded HTTP server on `host`:`port` (0 = a free port) serving registered routes."""

    def __init__(self, host: str = "127.0.0.5", port: int = 0, *, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[dict[str, str]] = []  # headers of every request, in order
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.host, self.port = host, self.server.server_address[1]
        # A short poll interval: shutdown() waits for it, and tests start and stop many sites.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    # --- routes ---------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def page(self, path: str, body: str, *, title: str | None = None) -> Site:
        """An HTML page; `body` is the inside of <body>."""
        self.routes[path] = Route(body=html_page(body, title=title).encode())
        return self

    def file(self, path: str, content: bytes | str, *, content_type: str | None, send_length: bool = True,
             status: int = 200) -> Site:
        data = content.encode() if isinstance(content, str) else content
        self.routes[path] = Route(status=status, body=data, content_type=content_type, send_length=send_length)
        return self

    def held(self, path: str, content: bytes, *, content_type: str) -> Gate:
        """A file whose answer waits until the test releases the returned gate (a slow site)."""
        gate = Gate()
        self.routes[path] = Route(body=content, content_type=content_type, gate=gate)
        return gate

    def redirect(self, path: str, to: str, *, status: int = 302) -> Site:
        """`path` answers `status` with Location `to` (relative or absolute)."""
        self.routes[path] = Route(status=status, content_type=None, headers={"Location": to})
        return self

    def robots(self, text: str) -> Site:
        return self.file("/robots.txt", text, content_type="text/plain")

    def sitemap(self, urls: list[str], *, path: str = "/sitemap.xml") -> Site:
        entries = "".join(f"<url><loc>{escape(u)}</loc></url>" for u in urls)
        xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
        return self.file(path, xml, content_type="application/xml")

    def sitemap_index(self, sitemap_urls: list[str], *, path: str = "/sitemap.xml") -> Site:
        entries = "".join(f"<sitemap><loc>{escape(u)}</loc></sitemap>" for u in sitemap_urls)
        xml = (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
               f"{entries}</sitemapindex>")
        return self.file(path, xml, content_type="application/xml")

    # --- server ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path or "/"
                with site._lock:
                    site.hits[path] += 1
                    site.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                route = site.routes.get(path) or Route(status=404, body=b"not found", content_type="text/plain")
                if route.gate is not None:
                    route.gate.arrived_at = time.time()
                    route.gate.arrived.set()
                    route.gate.release.wait(30)
                self.send_response(route.status)
                if route.content_type:
                    self.send_header("Content-Type", route.content_type)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.send_length:
                    self.send_header("Content-Length", str(len(route.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def start(self) -> Site:
        self._thread.start()
        return self

    def stop(self) -> None:
        for route in self.routes.values():  # never leave a held request behind
            if route.gate is not None:
                route.gate.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Site:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
