"""Cheap readiness probes (stdlib sockets and http.client: no proxies, fast to import)."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Return True when GET url answers 200."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout
    )
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _exchange(host: str, port: int, send: bytes, timeout: float) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if send:
            sock.sendall(send)
        return sock.recv(64)


def nats_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Return True when a NATS server greets with INFO on host:port."""
    try:
        return _exchange(host, port, b"", timeout).startswith(b"INFO ")
    except OSError:
        return False


def redis_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Return True when host:port answers PING with PONG (or asks for auth: it is up)."""
    try:
        reply = _exchange(host, port, b"PING\r\n", timeout)
    except OSError:
        return False
    return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")


def postgres_ok(dsn: str, timeout: float = 2.0) -> bool:
    """Return True when `select 1` succeeds on dsn."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("select 1")
        return True
    except psycopg.Error:
        return False


def url_ok(kind: str, url: str) -> bool:
    """Probe url according to kind: postgres, nats, redis, or http (a /health/ready URL)."""
    if kind == "postgres":
        return postgres_ok(url)
    if kind == "http":
        return http_ok(url)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if kind == "nats":
        return nats_ok(host, port or 4222)
    if kind == "redis":
        return redis_ok(host, port or 6379)
    raise ValueError(f"unknown probe kind {kind!r}")
