"""Choosing TCP ports on 127.0.0.1."""

from __future__ import annotations

import socket
import threading

HOST = "127.0.0.1"

# Ports handed out by this process but maybe not bound yet: two servers started in the same
# run must not both be given the same "free" port.
_handed_out: set[int] = set()
_lock = threading.Lock()


class PortInUseError(RuntimeError):
    """A port that must be used exactly is taken."""


def is_port_free(port: int, host: str = HOST) -> bool:
    """Return True when nothing listens on host:port and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # No SO_REUSEADDR: we want to know whether the server we start could bind it.
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """Return a currently unused port, never one already handed out by this process."""
    with _lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def port_holder(port: int) -> str | None:
    """Describe the process listening on port (`pid 123 (cmdline)`) when psutil can tell."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    return None
                proc = psutil.Process(conn.pid)
                cmdline = " ".join(proc.cmdline()) or proc.name()
                return f"pid {conn.pid} ({cmdline})"
    except Exception:  # noqa: S110 - best effort: permissions, races, platform gaps
        pass
    return None


def pick_port(preferred: int, *, name: str, strict: bool = False, host: str = HOST) -> int:
    """Return preferred if free (0 = any free port); else a free port, or raise when strict."""
    if preferred == 0:
        return free_port(host)
    with _lock:
        taken_here = preferred in _handed_out
    if not taken_here and is_port_free(preferred, host):
        with _lock:
            _handed_out.add(preferred)
        return preferred
    if strict:
        holder = port_holder(preferred)
        detail = f" by {holder}" if holder else ""
        raise PortInUseError(f"port {preferred} for {name} is already in use{detail}")
    return free_port(host)


def release_ports(ports: list[int]) -> None:
    """Forget ports handed out earlier (their owner stopped for good)."""
    with _lock:
        _handed_out.difference_update(ports)
