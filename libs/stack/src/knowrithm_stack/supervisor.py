"""Supervision: restart crashed children with backoff; stop everything in order."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from .child import Child, StartupError, log_tail

log = logging.getLogger("knowrithm_stack")

#: on_event(child name, event, detail); events: started, exited, restarted, restart_failed.
EventHandler = Callable[[str, str, str], None]


class Supervisor:
    """Watches children on a background thread and restarts those that exit while wanted."""

    def __init__(
        self,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        stable_after: float = 30.0,
        poll_interval: float = 0.2,
        on_event: EventHandler | None = None,
    ) -> None:
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.poll_interval = poll_interval
        self.on_event = on_event
        self._children: dict[str, Child] = {}
        self._backoff: dict[str, float] = {}
        self._restart_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    # -- membership ---------------------------------------------------------------------
    def add(self, child: Child) -> None:
        """Supervise child (it is not started here)."""
        with self._lock:
            if child.name in self._children:
                raise ValueError(f"a child named {child.name!r} is already supervised")
            self._children[child.name] = child
            self._backoff[child.name] = self.backoff_initial

    def remove(self, name: str) -> Child:
        """Stop supervising name (it is not stopped here)."""
        with self._lock:
            self._backoff.pop(name, None)
            self._restart_at.pop(name, None)
            return self._children.pop(name)

    def __getitem__(self, name: str) -> Child:
        return self._children[name]

    def __contains__(self, name: object) -> bool:
        return name in self._children

    @property
    def children(self) -> list[Child]:
        """Return the supervised children, in the order they were added."""
        with self._lock:
            return list(self._children.values())

    # -- running ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the watcher thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._closed.clear()
            self._thread = threading.Thread(
                target=self._watch, name="knowrithm-supervisor", daemon=True
            )
            self._thread.start()

    def _emit(self, name: str, event: str, detail: str = "") -> None:
        log.log(
            logging.WARNING if event != "started" else logging.INFO, "%s %s %s", name, event, detail
        )
        if self.on_event is not None:
            try:
                self.on_event(name, event, detail)
            except Exception:
                log.exception("on_event handler failed")

    def _watch(self) -> None:
        while not self._closed.wait(self.poll_interval):
            for child in self.children:
                self._check(child)

    def _check(self, child: Child) -> None:
        # Non-blocking: a child being stopped or started by someone else is left alone.
        if not child.lock.acquire(blocking=False):
            return
        try:
            if not child.wanted or child.running():
                self._restart_at.pop(child.name, None)
                return
            now = time.monotonic()
            name = child.name
            restart_at = self._restart_at.get(name)
            if restart_at is None:
                child.crashes += 1
                if now - child.started_at >= self.stable_after:
                    self._backoff[name] = self.backoff_initial  # it ran long enough: not a loop
                delay = self._backoff.get(name, self.backoff_initial)
                self._backoff[name] = min(delay * 2, self.backoff_max)
                self._restart_at[name] = now + delay
                self._emit(name, "exited", f"code {child.exit_code()}, restarting in {delay:.1f}s")
                return
            if now < restart_at:
                return
            del self._restart_at[name]
            try:
                child.start()
            except Exception as exc:
                # Counted as another crash on the next pass, with a longer delay.
                self._emit(name, "restart_failed", str(exc))
                return
            self._emit(name, "restarted", f"pid {child.pid}")
        finally:
            child.lock.release()

    def start_children(self, children: Iterable[Child] | None = None) -> None:
        """Start children (default: all) without waiting for readiness."""
        for child in self.children if children is None else children:
            with self._lock:
                self._restart_at.pop(child.name, None)
            child.start()
            self._emit(child.name, "started", f"pid {child.pid}")

    def stop_children(
        self, children: Iterable[Child] | None = None, *, timeout: float | None = None
    ) -> None:
        """Stop children (default: all): processes first, then servers; a tier at once."""
        chosen = self.children if children is None else list(children)
        for tier in sorted({child.tier for child in chosen}, reverse=True):
            batch = [child for child in chosen if child.tier == tier]
            if not batch:
                continue
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                # Parallel within a tier: a slow SIGTERM then SIGKILL adds one timeout, not n.
                for future in [pool.submit(child.stop, timeout) for child in batch]:
                    future.result()

    def close(self, *, timeout: float | None = None) -> None:
        """Stop every child and the watcher thread."""
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.stop_children(timeout=timeout)


def wait_ready(
    children: Iterable[Child],
    *,
    timeout: float,
    on_ready: Callable[[Child], None] | None = None,
    max_crashes: int = 3,
) -> None:
    """Block until every child is ready; raise StartupError naming the failures and their logs.

    Gives up early on a child that crashed max_crashes times since the wait began (an import
    error is not going to fix itself while we wait).
    """
    pending = list(children)
    baseline = {child.name: child.crashes for child in pending}
    deadline = time.monotonic() + timeout
    while pending:
        for child in list(pending):
            if child.is_ready():
                pending.remove(child)
                if on_ready is not None:
                    on_ready(child)
            elif child.crashes - baseline[child.name] >= max_crashes:
                raise StartupError(_failure(child, f"exited {max_crashes} times while starting"))
        if not pending:
            return
        if time.monotonic() > deadline:
            details = "\n\n".join(_failure(c, f"not ready after {timeout:.0f}s") for c in pending)
            raise StartupError(details)
        time.sleep(0.2)


def _failure(child: Child, what: str) -> str:
    tail = log_tail(child.log_path).rstrip() or "(empty)"
    return f"{child.name} {what}; last lines of {child.log_path}:\n{tail}"
