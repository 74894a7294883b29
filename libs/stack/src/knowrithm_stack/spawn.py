"""Starting child processes that cannot outlive the supervisor.

Every child is forked from one long-lived thread and asks the kernel (Linux
PR_SET_PDEATHSIG) to receive its stop signal when that thread dies. The signal fires when
the *forking thread* exits, not the process, which is why all forks go through a single
thread that lives as long as the interpreter: children spawned from a short-lived worker
thread would otherwise be killed when that thread ends. If the supervisor is SIGKILLed
(or pytest is killed by a timeout) the children still go away instead of becoming orphans
holding ports and data directories.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved before any fork: the child must not have to load libraries after fork().
_prctl = _load_prctl()


class _Spawner:
    """Runs Popen calls on one daemon thread that lives until the interpreter exits."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the spawner thread and return its result."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="knowrithm-spawner", daemon=True
                )
                self._thread.start()
            if threading.current_thread() is self._thread:
                return fn()
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future.result()

    def _loop(self) -> None:
        while True:
            fn, future = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)


_spawner = _Spawner()


def _death_signal_preexec(sig: int, parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        # The parent may have died between fork() and prctl(): then nobody would signal us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def spawn(
    argv: list[str], *, death_signal: int = signal.SIGTERM, **popen_kwargs: Any
) -> subprocess.Popen[bytes]:
    """Start argv in its own process group; it gets death_signal if the supervisor dies."""
    parent_pid = os.getpid()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - argv is built by the stack, never from input
            argv,
            stdin=subprocess.DEVNULL,
            # Own process group: a terminal's Ctrl-C reaches only the supervisor, which then
            # stops services before the servers they depend on.
            process_group=0,
            preexec_fn=_death_signal_preexec(death_signal, parent_pid),
            **popen_kwargs,
        )

    proc: subprocess.Popen[bytes] = _spawner.run(start)
    return proc
