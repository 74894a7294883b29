"""Stack (the three servers) and Platform (migrations + every process), used by CLI and tests."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from . import ports as portlib
from .child import Child, StartupError
from .environment import platform_env
from .keys import encryption_env, key_env, super_admin_env
from .processes import PROCESSES, ProcessSpec
from .servers import (
    DEFAULT_DATABASE,
    AnyServer,
    ExternalServer,
    PostgresServer,
    Server,
    build_servers,
    create_database,
    safe_database_name,
)
from .service import ServiceProcess, run_migrations
from .supervisor import EventHandler, Supervisor, wait_ready

#: on_progress(name, status): drives the CLI's progress display.
ProgressHandler = Callable[[str, str], None]
SERVER_PORT_KEYS = ("postgres", "nats", "nats-monitor", "redis")
#: The loopback address the embedded console calls the gateway from (see Platform._console_proxy_env).
CONSOLE_SOURCE_ADDRESS = "127.0.0.2"


def _noop(name: str, status: str) -> None:
    pass


def _sticky_ports(data_dir: Path, wanted: Mapping[str, int] | None) -> dict[str, int]:
    # Servers of `up` keep their ports across runs (psql bookmarks keep working) unless taken;
    # explicit ports (tests pass 0 = random) are used as given.
    if wanted is not None:
        return {key: portlib.pick_port(wanted.get(key, 0), name=key) for key in SERVER_PORT_KEYS}
    path = data_dir / "run" / "ports.json"
    try:
        previous = {k: int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        previous = {}
    chosen = {key: portlib.pick_port(previous.get(key, 0), name=key) for key in SERVER_PORT_KEYS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(chosen))
    return chosen


class Stack:
    """PostgreSQL, NATS and Redis (embedded, or external from the environment), supervised."""

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: Mapping[str, int] | None = None,
        environ: Mapping[str, str] | None = None,
        durable: bool = True,
        database: str = DEFAULT_DATABASE,
        on_event: EventHandler | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.environ = dict(os.environ if environ is None else environ)
        self.database = database
        self.supervisor = Supervisor(on_event=on_event)
        server_ports = _sticky_ports(self.data_dir, ports)
        self.servers: dict[str, AnyServer] = build_servers(
            self.data_dir,
            ports=server_ports,
            environ=self.environ,
            durable=durable,
            database=database,
        )
        for server in self.embedded:
            self.supervisor.add(server)
        self._ports = list(server_ports.values())
        self._database_url = ""

    @property
    def embedded(self) -> list[Server]:
        """Return the servers this stack runs itself."""
        return [s for s in self.servers.values() if isinstance(s, Server)]

    def start(self, *, timeout: float = 60.0, on_progress: ProgressHandler = _noop) -> None:
        """Start the embedded servers, wait until all answer, create the platform database."""
        self.supervisor.start()
        for server in self.servers.values():
            on_progress(server.name, "external" if server.external else "starting")
        try:
            self.supervisor.start_children(self.embedded)
            for server in self.servers.values():
                if server.external:
                    server.start(wait=True, timeout=timeout)
                    on_progress(server.name, "ready (external)")
            wait_ready(
                self.embedded, timeout=timeout, on_ready=lambda c: on_progress(c.name, "ready")
            )
            postgres = self.postgres
            if isinstance(postgres, ExternalServer):
                self._database_url = postgres.url  # the operator chose the database
            else:
                self._database_url = create_database(
                    postgres.dsn("postgres"), self.database, replace=False
                )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every embedded server (and anything else on this stack's supervisor)."""
        self.supervisor.close()
        portlib.release_ports(self._ports)

    @property
    def postgres(self) -> PostgresServer | ExternalServer:
        """Return the PostgreSQL server (embedded or external)."""
        server = self.servers["postgres"]
        assert isinstance(server, PostgresServer | ExternalServer)
        return server

    @property
    def database_url(self) -> str:
        """Return the platform database URL (DATABASE_URL when external)."""
        return self._database_url or self.servers["postgres"].url

    @property
    def nats_url(self) -> str:
        """Return the NATS URL."""
        return self.servers["nats"].url

    @property
    def redis_url(self) -> str:
        """Return the Redis URL."""
        return self.servers["redis"].url

    def create_database(self, name: str) -> str:
        """Create a fresh (dropped if present) database and return its URL."""
        postgres = self.postgres
        admin = postgres.url if isinstance(postgres, ExternalServer) else postgres.dsn("postgres")
        return create_database(admin, safe_database_name(name), replace=True)

    def stop_server(self, name: str, timeout: float | None = None) -> None:
        """Stop a server for good (the supervisor does not restart it) keeping port and data."""
        self.servers[name].stop(timeout)

    def start_server(self, name: str, timeout: float = 30.0) -> None:
        """Start a stopped server again on the same port with the same data; wait until ready."""
        self.servers[name].start(wait=True, timeout=timeout)

    def log_tail(self, name: str, lines: int = 40) -> str:
        """Return the last lines of a server's log."""
        return self.servers[name].log_tail(lines)


class Platform:
    """Migrations plus every platform process, on a Stack's supervisor and servers."""

    def __init__(
        self,
        stack: Stack,
        *,
        data_dir: Path | None = None,
        database_url: str | None = None,
        ports: Mapping[str, int] | None = None,
        strict_ports: Collection[str] = ("gateway",),
        processes: Sequence[ProcessSpec] = PROCESSES,
        knowrithm_env: str = "development",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.environ = dict(stack.environ if environ is None else environ)
        self.data_dir = Path(data_dir).resolve() if data_dir else stack.data_dir
        self.specs = list(processes)
        self._database_url = database_url
        self.log_dir = self.data_dir / "logs"
        # The dev mail outbox: auth writes verification and reset mails here as .eml files.
        self.mail_dir = self.data_dir / "mail"
        # Uploaded documents (the ingestion blob store's local directory).
        self.blob_dir = self.data_dir / "blobs"
        # Ports first: a taken gateway port must fail before anything starts.
        wanted = {spec.name: spec.port for spec in self.specs} if ports is None else ports
        self.ports = {
            spec.name: portlib.pick_port(
                wanted.get(spec.name, 0), name=spec.name, strict=spec.name in strict_ports
            )
            for spec in self.specs
        }
        secrets_dir = self.data_dir / "secrets"
        self.secrets = {
            **key_env(secrets_dir, self.environ),
            **super_admin_env(secrets_dir, self.environ),
            **encryption_env(secrets_dir, self.environ),
        }
        self.knowrithm_env = knowrithm_env
        self.processes: dict[str, ServiceProcess] = {}
        self.env: dict[str, str] = {}

    def _compose_env(self) -> dict[str, str]:
        upstreams = {
            spec.upstream_env: f"http://{portlib.HOST}:{self.ports[spec.name]}"
            for spec in self.specs
            if not spec.public
        }
        urls = {
            "DATABASE_URL": self._database_url or self.stack.database_url,
            "NATS_URL": self.stack.nats_url,
            "REDIS_URL": self.stack.redis_url,
        }
        defaults = {"AUTH_MAIL_OUTBOX_DIR": str(self.mail_dir), "INGESTION_BLOB_DIR": str(self.blob_dir)}
        if any(spec.public for spec in self.specs):
            defaults["BASE_URL"] = self.gateway_url  # where links in mails point
            defaults["CONSOLE_API_URL"] = self.gateway_url  # the console calls the API through it
        return platform_env(
            {**defaults, **self.environ, **self._console_proxy_env()},
            urls=urls,
            upstreams=upstreams,
            secrets=self.secrets,
            knowrithm_env=self.knowrithm_env,
        )

    def _console_proxy_env(self) -> dict[str, str]:
        """The console calls the gateway from an address of its own, the one proxy the gateway trusts.

        Every embedded process listens on 127.0.0.1, so trusting that address would let any local
        caller write its own X-Forwarded-For. The console binds its calls to CONSOLE_SOURCE_ADDRESS
        instead (any 127/8 address is loopback on Linux); only from there does the gateway take
        the browser's address from X-Forwarded-For, so sign-ins count against each person's IP.
        """
        if not any(spec.name == "console" for spec in self.specs):
            return {}
        trusted = [p for p in self.environ.get("GATEWAY_TRUSTED_PROXIES", "").split(",") if p.strip()]
        return {
            "CONSOLE_API_LOCAL_ADDRESS": CONSOLE_SOURCE_ADDRESS,
            "GATEWAY_TRUSTED_PROXIES": ",".join([*trusted, f"{CONSOLE_SOURCE_ADDRESS}/32"]),
        }

    def start(self, *, timeout: float = 90.0, on_progress: ProgressHandler = _noop) -> None:
        """Run migrations in order, start every process, wait until all are ready."""
        self.env = self._compose_env()
        run_migrations(self.specs, env=self.env, log_dir=self.log_dir, on_event=on_progress)
        supervisor = self.stack.supervisor
        for spec in self.specs:
            process = ServiceProcess(
                spec, port=self.ports[spec.name], env=self.env, log_dir=self.log_dir
            )
            self.processes[spec.name] = process
            supervisor.add(process)
        try:
            for process in self.processes.values():
                on_progress(process.name, "starting")
            supervisor.start_children(self.processes.values())
            wait_ready(
                self.processes.values(),
                timeout=timeout,
                on_ready=lambda c: on_progress(c.name, "ready"),
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process (servers keep running) and forget them."""
        supervisor = self.stack.supervisor
        supervisor.stop_children(list(self.processes.values()))
        for name in self.processes:
            if name in supervisor:
                supervisor.remove(name)
        portlib.release_ports(list(self.ports.values()))

    # -- handles for tests and the CLI ------------------------------------------------------
    def child(self, name: str) -> Child | AnyServer:
        """Return a process or server by name."""
        return self.processes.get(name) or self.stack.servers[name]

    @property
    def gateway_url(self) -> str:
        """Return the gateway's base URL."""
        public = next(spec for spec in self.specs if spec.public)
        return f"http://{portlib.HOST}:{self.ports[public.name]}"

    def url(self, name: str) -> str:
        """Return a process's (or server's) base URL."""
        return self.child(name).url

    def pid(self, name: str) -> int | None:
        """Return a process's (or embedded server's) current pid."""
        return self.child(name).pid

    def _own(self, name: str) -> Child:
        child = self.child(name)
        if isinstance(child, ExternalServer):
            raise RuntimeError(f"{name} is external; this stack does not run it")
        return child

    def kill(self, name: str) -> None:
        """SIGKILL a process (or embedded server) as a crash would; the supervisor restarts it."""
        self._own(name).kill()

    def wait_ready(self, name: str, timeout: float = 30.0) -> None:
        """Block until a process (or server) is ready."""
        child = self.child(name)
        if isinstance(child, ExternalServer):
            child.start(wait=True, timeout=timeout)
        else:
            child.wait_ready(timeout)

    def wait_restarted(self, name: str, old_pid: int | None, timeout: float = 30.0) -> int:
        """Block until name runs with a pid other than old_pid and is ready; return the pid."""
        deadline = time.monotonic() + timeout
        process = self._own(name)
        while process.pid in (None, old_pid):
            if time.monotonic() > deadline:
                raise StartupError(f"{name} was not restarted within {timeout:.0f}s")
            time.sleep(0.1)
        process.wait_ready(max(1.0, deadline - time.monotonic()))
        return process.pid or 0

    def stop_server(self, name: str, timeout: float | None = None) -> None:
        """Stop a server (not restarted by the supervisor); its port and data are kept."""
        self.stack.stop_server(name, timeout)

    def start_server(self, name: str, timeout: float = 30.0) -> None:
        """Start a stopped server again on the same port and data; wait until ready."""
        self.stack.start_server(name, timeout)

    def log_tail(self, name: str, lines: int = 40) -> str:
        """Return the last lines of a process's or server's log."""
        return self.child(name).log_tail(lines)
