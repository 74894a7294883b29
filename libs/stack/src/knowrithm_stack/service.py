"""Platform processes (uvicorn apps) and their migrations."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .child import Child
from .environment import env_for
from .ports import HOST
from .probes import http_ok
from .processes import ProcessSpec


class MigrationError(RuntimeError):
    """A service's migrations failed; the message carries their output."""


class ServiceProcess(Child):
    """One platform process served by uvicorn on 127.0.0.1:port."""

    tier = 1

    def __init__(
        self, spec: ProcessSpec, *, port: int, env: Mapping[str, str], log_dir: Path
    ) -> None:
        super().__init__(spec.name, log_path=log_dir / f"{spec.name}.log")
        self.spec = spec
        self.port = port
        self._env = env_for(spec, env)

    @property
    def url(self) -> str:
        """Return the process's base URL."""
        return f"http://{HOST}:{self.port}"

    @property
    def ready_url(self) -> str:
        """Return the readiness probe URL."""
        return f"{self.url}/health/ready"

    def command(self) -> list[str]:
        """Return the uvicorn argv."""
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.spec.app,
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            # Open SSE streams would otherwise hold a graceful shutdown forever.
            "--timeout-graceful-shutdown",
            "5",
            # Client addresses are the gateway's call (GATEWAY_TRUSTED_PROXIES), not uvicorn's:
            # its default trusts X-Forwarded-For from 127.0.0.1, which any local caller can write.
            "--no-proxy-headers",
        ]

    def environment(self) -> dict[str, str]:
        """Return the inherited environment plus the platform's, minus others' secrets."""
        return dict(self._env)

    def is_ready(self) -> bool:
        """Return True when GET /health/ready answers 200."""
        return self.running() and http_ok(self.ready_url)


def run_migrations(
    specs: Sequence[ProcessSpec],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    timeout: float = 300.0,
    on_event: Callable[[str, str], None] | None = None,
) -> None:
    """Run each spec's migrations in order; raise MigrationError with the output on failure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        if spec.migrate is None:
            continue
        if on_event is not None:
            on_event(spec.name, "migrating")
        argv = [sys.executable, "-m", spec.migrate]
        started = time.monotonic()
        try:
            result = subprocess.run(  # noqa: S603 - argv built from the process table
                argv,
                env=env_for(spec, env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            output, code = result.stdout + result.stderr, result.returncode
        except subprocess.TimeoutExpired as exc:
            output = _text(exc.stdout) + _text(exc.stderr) + f"\n(timed out after {timeout:.0f}s)"
            code = -1
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with (log_dir / f"migrate-{spec.name}.log").open("a", encoding="utf-8") as log:
            log.write(f"--- {stamp} {' '.join(argv)} -> exit {code}\n{output}")
        if code != 0:
            raise MigrationError(
                f"migrations of {spec.name} (python -m {spec.migrate}) failed with exit {code}:\n"
                f"{output.rstrip()}"
            )
        if on_event is not None:
            on_event(spec.name, f"migrated in {time.monotonic() - started:.1f}s")


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
