"""A MariaDB server for tests, from Debian's `mariadb-server` binaries (`make mariadb`).

Only the binaries are used: the machine's own MariaDB service (port 3306, /run/mysqld) is
never touched. `--no-defaults` keeps /etc/mysql's config (its port and socket) out; the
server gets a data dir of its own, a port of its own on 127.0.0.1, and its Unix socket
inside its data dir. Accounts are real: `root` has a random password, set by an init file
on every start (the password lives only in this object), and no account is passwordless.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from . import osuser
from .child import StartupError
from .ports import HOST
from .servers import Server, safe_database_name

MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = Path("/usr/bin/mariadb-install-db")
#: When we are root, mariadbd runs as this unprivileged user (like the embedded PostgreSQL).
MARIADB_SYSTEM_USER = "embedded_mariadb"
ADMIN_USER = "root"
#: Privileges create_user may grant; the global-only ones are granted ON *.*.
DATABASE_PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX", "CREATE VIEW",
     "SHOW VIEW", "EXECUTE", "LOCK TABLES", "CREATE TEMPORARY TABLES", "ALL PRIVILEGES"}
)
GLOBAL_PRIVILEGES = frozenset({"FILE", "PROCESS", "SUPER", "RELOAD", "SHUTDOWN"})
# A Unix socket path is limited to 108 bytes (sun_path) including the terminating NUL.
_MAX_SOCKET_PATH = 100


class MariaDBMissingError(StartupError):
    """Debian's mariadb-server is not installed."""


def mariadb_binaries() -> tuple[Path, Path]:
    """Return (mariadbd, mariadb-install-db), or raise MariaDBMissingError naming `make mariadb`."""
    install_db = INSTALL_DB if INSTALL_DB.exists() else Path(shutil.which("mariadb-install-db") or INSTALL_DB)
    missing = [str(path) for path in (MARIADBD, install_db) if not path.exists()]
    if missing:
        raise MariaDBMissingError(
            f"MariaDB is not installed ({', '.join(missing)} missing): run `make mariadb` "
            "(installs Debian's mariadb-server; its service is not started)"
        )
    return MARIADBD, install_db


def mysql_url(*, user: str, password: str, host: str, port: int, database: str = "") -> str:
    """Return `mysql://user:password@host:port/database` with user and password quoted."""
    return f"mysql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}"


def mysql_connect_args(url: str) -> dict[str, Any]:
    """Return pymysql.connect keyword arguments for a mysql:// (or mysql+driver://) URL."""
    parts = urlsplit(url)
    if parts.scheme.split("+", 1)[0] not in ("mysql", "mariadb"):
        raise ValueError(f"not a MySQL URL: {parts.scheme}://…")
    args: dict[str, Any] = {
        "host": parts.hostname or HOST,
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "charset": "utf8mb4",
    }
    database = parts.path.lstrip("/")
    if database:
        args["database"] = unquote(database)
    return args


def mysql_ok(url: str, timeout: float = 2.0) -> bool:
    """Return True when `select 1` succeeds on url (a mysql:// URL)."""
    import pymysql

    try:
        conn = pymysql.connect(**mysql_connect_args(url), connect_timeout=max(1, int(timeout)))
    except pymysql.Error:
        return False
    try:
        with conn.cursor() as cursor:
            cursor.execute("select 1")
        return True
    except pymysql.Error:
        return False
    finally:
        conn.close()


class MariaDBServer(Server):
    """mariadbd on 127.0.0.1:<port>, data under `<data_dir>/mariadb`, root with a password."""

    kind = "mariadb"
    stop_timeout = 30.0  # SIGTERM = normal shutdown

    def __init__(self, *, data_dir: Path, port: int, durable: bool = True) -> None:
        super().__init__("mariadb", data_dir=data_dir, port=port)
        self.mariadbd, self.install_db = mariadb_binaries()
        self.durable = durable
        self.host = HOST
        self.user = ADMIN_USER
        self.password = secrets.token_urlsafe(18)
        self._run_user = MARIADB_SYSTEM_USER if osuser.needs_other_user() else None
        self.init_file = self.home / "knowrithm-init.sql"
        self.socket_path = self.home / "mariadb.sock"

    @property
    def url(self) -> str:
        """Return `mysql://root:<password>@127.0.0.1:<port>/` (no database selected)."""
        return self.dsn("")

    def dsn(self, database: str) -> str:
        """Return the URL of database on this server, as root."""
        return mysql_url(
            user=self.user, password=self.password, host=self.host, port=self.port, database=database
        )

    def run_as(self) -> str | None:
        """Return the unprivileged user mariadbd runs as when we are root."""
        return self._run_user

    def workdir(self) -> Path | None:
        """Run inside the data dir: the server's user may not be able to enter our cwd."""
        return self.home

    def prepare(self) -> None:
        """Create the data dir, install the system tables once, write the init file."""
        self._reap_leftover()
        entry = osuser.ensure_user(self._run_user) if self._run_user else None
        if entry is not None:
            osuser.own_dir(self.home, entry)
        else:
            self.home.mkdir(parents=True, exist_ok=True)
            self.home.chmod(0o700)
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            # Deep tmp dirs: the socket goes to a short private dir of its own instead.
            short = Path(tempfile.mkdtemp(prefix="knowrithm-mariadb-"))
            if entry is not None:
                osuser.own_dir(short, entry)
            self.socket_path = short / "mariadb.sock"
        if not (self.home / "mysql").is_dir():
            self._install_db()
        self._write_init_file(entry)

    def _install_db(self) -> None:
        argv = [
            str(self.install_db),
            "--no-defaults",
            f"--datadir={self.home}",
            # root with mysql_native_password (set on every start by the init file), not
            # unix_socket: clients reach this server over TCP only.
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--innodb-log-file-size=16M",
        ]
        if self._run_user is not None:
            argv.append(f"--user={self._run_user}")
        result = subprocess.run(  # noqa: S603 - argv built here
            argv, cwd=self.home, capture_output=True, text=True, check=False
        )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise StartupError(
                f"mariadb-install-db failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _write_init_file(self, entry: pwd.struct_passwd | None) -> None:
        # Runs before the server accepts connections, on every start: idempotent statements.
        # mariadb-install-db made root@localhost, root@127.0.0.1, root@::1 and root@<hostname>
        # without a password; all get ours, the hostname one (unused over TCP) goes.
        password = self.password.replace("\\", "\\\\").replace("'", "\\'")
        lines = [
            f"ALTER USER IF EXISTS 'root'@'{host}' IDENTIFIED BY '{password}';"
            for host in ("localhost", "127.0.0.1", "::1")
        ]
        hostname = socket.gethostname().replace("\\", "\\\\").replace("'", "\\'")
        if hostname not in ("localhost", "127.0.0.1", "::1"):
            lines.append(f"DROP USER IF EXISTS 'root'@'{hostname}';")
        self.init_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.init_file.chmod(0o600)
        if entry is not None:
            os.chown(self.init_file, entry.pw_uid, entry.pw_gid)

    def command(self) -> list[str]:
        """Return the mariadbd argv (TCP on 127.0.0.1, socket inside the data dir)."""
        argv = [
            str(self.mariadbd),
            "--no-defaults",  # must come first: never read /etc/mysql (port 3306, its socket)
            f"--datadir={self.home}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--socket={self.socket_path}",
            f"--pid-file={self.home / 'mariadbd.pid'}",
            f"--init-file={self.init_file}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=200",
        ]
        if not self.durable:
            # Throwaway test data: durability costs time and buys nothing.
            argv += ["--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"]
        return argv

    def is_ready(self) -> bool:
        """Return True when root can log in with its password and `select 1` works."""
        return self.running() and mysql_ok(self.url)

    def create_database(self, name: str) -> str:
        """Create a fresh (dropped if present) utf8mb4 database; return its URL."""
        import pymysql

        database = safe_database_name(name)
        conn = pymysql.connect(**mysql_connect_args(self.url), autocommit=True, connect_timeout=10)
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
                cursor.execute(
                    f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
        finally:
            conn.close()
        return self.dsn(database)

    def create_user(
        self, name: str, *, database: str, privileges: Sequence[str] = ("SELECT",)
    ) -> str:
        """Create (or replace) name@127.0.0.1 with a random password and privileges; return its URL.

        Privileges are granted on database, except the global-only ones (FILE, PROCESS, …)
        which are granted on *.*: `create_user("reader", database="shop")` is a read-only user.
        """
        import pymysql

        user = safe_database_name(name)[:80]
        wanted = [privilege.upper() for privilege in privileges]
        unknown = set(wanted) - DATABASE_PRIVILEGES - GLOBAL_PRIVILEGES
        if unknown:
            raise ValueError(f"unknown privileges: {sorted(unknown)}")
        password = secrets.token_urlsafe(18)  # URL-safe: no quoting needed in SQL
        database = safe_database_name(database)
        on_database = [p for p in wanted if p in DATABASE_PRIVILEGES]
        on_server = [p for p in wanted if p in GLOBAL_PRIVILEGES]
        statements = [f"CREATE OR REPLACE USER '{user}'@'{self.host}' IDENTIFIED BY '{password}'"]
        if on_database:
            statements.append(f"GRANT {', '.join(on_database)} ON `{database}`.* TO '{user}'@'{self.host}'")
        if on_server:
            statements.append(f"GRANT {', '.join(on_server)} ON *.* TO '{user}'@'{self.host}'")
        conn = pymysql.connect(**mysql_connect_args(self.url), autocommit=True, connect_timeout=10)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()
        return mysql_url(user=user, password=password, host=self.host, port=self.port, database=database)
