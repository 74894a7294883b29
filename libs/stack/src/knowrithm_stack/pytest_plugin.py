"""pytest fixtures `stack` (PostgreSQL, NATS, Redis), `platform` (every process), `mariadb`.

Loaded for the whole workspace by `-p knowrithm_stack.pytest_plugin`, so importing it is
cheap and starts nothing: servers start only when a test requests a fixture. Both fixtures
are session-scoped and synchronous; the supervisor runs on its own threads, independent of
pytest-asyncio's event loop. Under pytest-xdist each worker gets its own servers.

`stack`: `.database_url`, `.nats_url`, `.redis_url`, `.servers` (name -> server with
`start()` / `stop()`, same port and data after a restart), `.create_database(name) -> url`
(fresh database), `.stop_server(name)`, `.start_server(name)`.
`platform`: `.gateway_url`, `.url(name)`, `.env`, `.pid(name)`, `.kill(name)` (SIGKILL; the
supervisor restarts it), `.wait_ready(name)`, `.wait_restarted(name, old_pid)`,
`.stop_server(name)`, `.start_server(name)`, `.log_tail(name)`.
`mariadb`: a MariaDB of its own (Debian's binaries, `make mariadb`) on `mariadb_port`: `.url`
(`mysql://root:<password>@127.0.0.1:<port>/`), `.host`, `.port`, `.user`, `.password`,
`.dsn(database)`, `.create_database(name) -> url` (fresh database),
`.create_user(name, *, database, privileges=("SELECT",)) -> url` (a user of its own).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from knowrithm_stack.launcher import Platform, Stack
    from knowrithm_stack.mariadb import MariaDBServer

SERVER_START_TIMEOUT = 60.0
# Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`), every test that uses the whole
# platform runs on one worker, so only one worker starts it; every other module is one unit of
# work, so its module-scoped app starts once. The largest group (the platform's) goes first.
PLATFORM_GROUP = "platform"
PLATFORM_START_TIMEOUT = 240.0  # generous: a loaded 2-core machine starts 7 processes slowly


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for xdist's `loadgroup`: the platform's tests together, else by module."""
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if "platform" in getattr(item, "fixturenames", ()):
            group = PLATFORM_GROUP
        else:
            group = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start PostgreSQL, NATS and Redis once per run (or use DATABASE_URL/NATS_URL/REDIS_URL)."""
    from knowrithm_stack.launcher import Stack

    data_dir = tmp_path_factory.mktemp("knowrithm-stack")
    ports = dict.fromkeys(("postgres", "nats", "nats-monitor", "redis"), 0)
    started = Stack(data_dir, ports=ports, durable=False)
    started.start(timeout=SERVER_START_TIMEOUT)  # stops what it started if it fails
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def mariadb_port() -> int:
    """The port the `mariadb` fixture's server listens on, chosen before either fixture starts: the
    platform lets its ingestion reach exactly this port on 127.0.0.1 (see `platform`)."""
    from knowrithm_stack.ports import free_port

    return free_port()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory, mariadb_port: int) -> Iterator[MariaDBServer]:
    """Start a MariaDB on a random port with its own data dir, once per run (per xdist worker)."""
    from knowrithm_stack.mariadb import MariaDBMissingError, MariaDBServer
    from knowrithm_stack.ports import release_ports

    try:
        data_dir = tmp_path_factory.mktemp("knowrithm-mariadb")
        server = MariaDBServer(data_dir=data_dir, port=mariadb_port, durable=False)
    except MariaDBMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        server.start(wait=True, timeout=SERVER_START_TIMEOUT)  # the error carries the log tail
        yield server
    finally:
        server.stop()
        release_ports([server.port])


# Every end-to-end request comes from 127.0.0.1: the per-IP, per-user and per-company limits
# would throttle the suite itself. Per-key limits stay as each test's keys declare them.
E2E_ENV = {
    "GATEWAY_RATE_LIMIT_AUTH_PER_MINUTE": "100000",
    "GATEWAY_RATE_LIMIT_ANONYMOUS_PER_MINUTE": "100000",
    "GATEWAY_RATE_LIMIT_USER_PER_MINUTE": "100000",
    "GATEWAY_RATE_LIMIT_COMPANY_PER_MINUTE": "100000",
    # The e2e test web site listens on 127.0.0.5 (a loopback address): allowed as if public,
    # while 127.0.0.1 and every other private address stay refused.
    "INGESTION_FETCH_ALLOWLIST": "127.0.0.5/32",
    # Webhook receivers of the e2e tests listen there too; a failing one is retried quickly.
    "ANALYTICS_WEBHOOK_ALLOWLIST": "127.0.0.5/32",
    "ANALYTICS_WEBHOOK_BACKOFF_SECONDS": "0.5,1",
    "ANALYTICS_WEBHOOK_MAX_ATTEMPTS": "3",
    # Exports above three rows run as a task with a download, so the e2e tests take that path.
    "ANALYTICS_EXPORT_INLINE_ROWS": "3",
    # A killed worker's job comes back after this long (the crash test waits for it).
    "INGESTION_JOB_ACK_WAIT_SECONDS": "6",
    # Small enough that the oversized-upload test stays quick.
    "MAX_FILE_SIZE": str(8 * 1024 * 1024),
    # INGESTION_DATABASE_ALLOWLIST: added by `platform` (`database_allowlist`), its ports are the run's.
}


def database_allowlist(stack: Stack, mariadb_port: int) -> str:
    """INGESTION_DATABASE_ALLOWLIST of the e2e platform: the companies' databases of the e2e tests
    (tests/e2e/test_databases.py: Chinook in a database of the stack's PostgreSQL, with a role of its
    own, and in the `mariadb` fixture's server) listen on loopback, which the egress guard refuses.
    host:port entries let ingestion reach exactly these two servers; every other port and loopback
    address, and names such as `localhost`, stay refused (the tests check that too)."""
    postgres = urlsplit(stack.database_url)
    return f"{postgres.hostname}:{postgres.port or 5432},127.0.0.1:{mariadb_port}"


@pytest.fixture(scope="session")
def platform(stack: Stack, mariadb_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """Run migrations and start every process on random ports, on a database of its own."""
    from knowrithm_stack.launcher import Platform
    from knowrithm_stack.processes import PROCESSES

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    database_url = stack.create_database(f"knowrithm_platform_{worker}")
    running = Platform(
        stack,
        data_dir=tmp_path_factory.mktemp("knowrithm-platform"),
        database_url=database_url,
        ports=dict.fromkeys((spec.name for spec in PROCESSES), 0),
        strict_ports=(),
        environ={
            **stack.environ,
            **E2E_ENV,
            "INGESTION_DATABASE_ALLOWLIST": database_allowlist(stack, mariadb_port),
        },
    )
    running.start(timeout=PLATFORM_START_TIMEOUT)  # the error carries the failing log tail
    try:
        yield running
    finally:
        running.stop()
