"""One supervised OS process: start, stop with escalation, kill, log file."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from pathlib import Path

from .spawn import spawn


class StartupError(RuntimeError):
    """A process or server did not become ready."""


def log_tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a log file ('' when it does not exist)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except FileNotFoundError:
        return ""


class Child(ABC):
    """Base class of everything the supervisor runs; subclasses say what to run and probe."""

    #: 0 = infrastructure server (stopped after every tier-1 process), 1 = platform process.
    tier: int = 1
    #: Signal asking for a graceful stop; also sent by the kernel if the supervisor dies.
    stop_signal: int = signal.SIGTERM
    #: Seconds to wait after stop_signal before SIGKILL.
    stop_timeout: float = 15.0

    def __init__(self, name: str, *, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        # Held while starting/stopping, so the supervisor never restarts a child being stopped.
        self.lock = threading.RLock()
        #: True while the child should run: the supervisor restarts it only then.
        self.wanted = False
        self.started_at = 0.0
        self.starts = 0
        #: Exits the supervisor noticed while the child was wanted (crashes).
        self.crashes = 0
        self._proc: subprocess.Popen[bytes] | None = None

    # -- what to run (subclasses) -------------------------------------------------------
    @abstractmethod
    def command(self) -> list[str]:
        """Return the argv to run."""

    def environment(self) -> dict[str, str] | None:
        """Return the child's environment (None = inherit)."""
        return None

    def workdir(self) -> Path | None:
        """Return the child's working directory (None = inherit)."""
        return None

    def run_as(self) -> str | None:
        """Return the system user to run as (None = ourselves)."""
        return None

    def prepare(self) -> None:
        """Get ready to start (create directories, initialise data); runs before each start."""
        return None  # most children need nothing; servers override

    @abstractmethod
    def is_ready(self) -> bool:
        """Return True when the child answers its readiness probe."""

    @property
    @abstractmethod
    def url(self) -> str:
        """Return the URL clients use to reach the child."""

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """Return the pid of the running process, None when not running."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def running(self) -> bool:
        """Return True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def exit_code(self) -> int | None:
        """Return the exit code of the last process if it has exited, else None."""
        return None if self._proc is None else self._proc.poll()

    def start(self, *, wait: bool = False, timeout: float = 30.0) -> None:
        """Start the process (no-op if running); with wait, block until it is ready."""
        with self.lock:
            self.wanted = True
            if not self.running():
                self._spawn()
        if wait:
            self.wait_ready(timeout)

    def _spawn(self) -> None:
        self.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = self.command()
        kwargs: dict[str, object] = {}
        user = self.run_as()
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            # Drop root's supplementary groups too, not only the uid and gid.
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        with self.log_path.open("ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {stamp} starting {self.name}: {' '.join(argv)}\n".encode())
            log.flush()
            self._proc = spawn(
                argv,
                death_signal=self.stop_signal,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.workdir(),
                **kwargs,
            )
        self.started_at = time.monotonic()
        self.starts += 1

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until is_ready(), raising StartupError with the log tail on timeout."""
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} not ready after {timeout:.0f}s; last log lines "
                    f"({self.log_path}):\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float | None = None) -> None:
        """Stop for good (not restarted): stop_signal, then SIGKILL to its group after timeout."""
        with self.lock:
            self.wanted = False
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return
            try:
                os.kill(proc.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                proc.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(proc)
                proc.wait()

    def kill(self) -> None:
        """SIGKILL the process group, as a crash would; a supervisor restarts it."""
        with self.lock:
            if self._proc is not None:
                self._kill_group(self._proc)

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        # Only while the leader is unreaped: its pid (= the group id) cannot have been reused.
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of this child's log."""
        return log_tail(self.log_path, lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} pid={self.pid}>"
