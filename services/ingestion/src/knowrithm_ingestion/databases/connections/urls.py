"""What a connection URL may say: the engine's schemes, the query parameters allowed, hosts that
are not private, and its masked form. Every refusal is a 422 naming the field.

The URL is parsed by hand (not SQLAlchemy's `make_url`): MongoDB URLs list several hosts. Query
parameters in the URL obey an allow-list as `connection_params` do, so a driver flag cannot come
in through the URL either (`?local_infile=1`, `?options=-c …`). Only literal addresses and
`localhost` are refused here; names are resolved and checked when the engines connect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from knowrithm_common.errors import ValidationFailed
from knowrithm_common.safehttp import BLOCKED_NAMES, Allowlist, is_public, literal_ip
from knowrithm_ingestion.databases.engines.spec import MYSQL_SSL_MODES

MASK = "***"


class Engine(StrEnum):
    POSTGRESQL = "postgresql"
    COCKROACHDB = "cockroachdb"
    MYSQL = "mysql"
    SQLITE = "sqlite"
    MONGODB = "mongodb"
    MSSQL = "mssql"


# What callers may call an engine (the official SDK sends `postgres`; MariaDB speaks MySQL's protocol).
ALIASES = {
    "postgres": Engine.POSTGRESQL,
    "mariadb": Engine.MYSQL,
    "cockroach": Engine.COCKROACHDB,
    "sqlserver": Engine.MSSQL,
    "mongo": Engine.MONGODB,
}

# The URL schemes of each engine, before an optional `+driver` (CockroachDB speaks PostgreSQL's protocol).
SCHEMES: dict[Engine, frozenset[str]] = {
    Engine.POSTGRESQL: frozenset({"postgresql", "postgres"}),
    Engine.COCKROACHDB: frozenset({"cockroachdb", "postgresql", "postgres"}),
    Engine.MYSQL: frozenset({"mysql", "mariadb"}),
    Engine.MONGODB: frozenset({"mongodb", "mongodb+srv"}),
    Engine.MSSQL: frozenset({"mssql", "sqlserver"}),
}
DEFAULT_PORTS = {
    Engine.POSTGRESQL: 5432,
    Engine.COCKROACHDB: 26257,
    Engine.MYSQL: 3306,
    Engine.MONGODB: 27017,
    Engine.MSSQL: 1433,
}

# URL query parameters each engine may carry; everything else is a driver flag we do not pass.
URL_QUERY: dict[Engine, frozenset[str]] = {
    Engine.POSTGRESQL: frozenset({"sslmode", "connect_timeout", "application_name"}),
    Engine.COCKROACHDB: frozenset({"sslmode", "connect_timeout", "application_name"}),
    Engine.MYSQL: frozenset({"ssl_mode", "sslmode", "connect_timeout", "charset"}),
    Engine.MSSQL: frozenset({"encrypt", "trustservercertificate", "connect_timeout", "login_timeout"}),
    Engine.MONGODB: frozenset(
        {
            "authsource",
            "authmechanism",
            "replicaset",
            "tls",
            "ssl",
            "retrywrites",
            "retryreads",
            "readpreference",
            "appname",
            "directconnection",
            "connecttimeoutms",
            "serverselectiontimeoutms",
            "w",
        }
    ),
}

SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
PARAMS = ("sslmode", "ssl_ca", "connect_timeout", "schemas", "tables")
_NAME = re.compile(r"^[A-Za-z0-9_$.\- ]{1,128}$")
_DRIVER = re.compile(r"^[a-z0-9_]{1,30}$")
MAX_URL = 4096
MAX_HOSTS, MAX_PART = 1024, 255  # the columns keeping them in clear
MAX_CA = 64 * 1024
MAX_NAMES = 500


class InvalidConnection(ValidationFailed):
    """A connection field the platform refuses (422); `detail.field` names it."""

    code = "invalid_connection"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}", detail={"field": field_name})


class HostNotAllowed(InvalidConnection):
    code = "database_host_not_allowed"


class ParamNotAllowed(InvalidConnection):
    code = "connection_param_not_allowed"


def engine_of(value: str, field_name: str = "database_type") -> Engine:
    """The engine a `database_type` names (aliases accepted: postgres, mariadb, …)."""
    key = value.strip().lower()
    if key in ALIASES:
        return ALIASES[key]
    try:
        return Engine(key)
    except ValueError:
        names = ", ".join(e.value for e in Engine)
        raise InvalidConnection(field_name, f"unknown database type {value[:40]!r}; one of {names}") from None


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """A connection URL's parts; `password` is the only secret."""

    scheme: str
    hosts: tuple[tuple[str, int | None], ...]
    username: str | None
    password: str | None
    database: str | None
    query: tuple[tuple[str, str], ...] = field(default=())

    @property
    def host(self) -> str:
        return ",".join(h for h, _ in self.hosts)

    @property
    def port(self) -> int | None:
        return self.hosts[0][1] if len(self.hosts) == 1 else None

    def masked(self) -> str:
        """The URL with its password replaced by `***`."""
        auth = ""
        if self.username is not None:
            auth = quote(self.username, safe="")
            if self.password is not None:
                auth += ":" + MASK
            auth += "@"
        hosts = ",".join(_netloc_host(h) + (f":{p}" if p is not None else "") for h, p in self.hosts)
        path = "/" + quote(self.database, safe="") if self.database else ""
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in self.query)
        return f"{self.scheme}://{auth}{hosts}{path}" + (f"?{query}" if query else "")


def _netloc_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_url(engine: Engine, url: str, *, field_name: str = "url") -> ParsedUrl:
    """The parts of `url` for `engine`; 422 naming `field_name` for anything refused."""
    if engine is Engine.SQLITE:
        raise InvalidConnection(
            field_name,
            "a sqlite connection takes an uploaded SQLite file (multipart `file`), "
            "never a URL or a path on the server",
        )
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise InvalidConnection(field_name, f"give the database URL (at most {MAX_URL} characters)")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidConnection(field_name, f"not a URL; expected e.g. {_example(engine)}")
    scheme = scheme.lower()
    _check_scheme(engine, scheme, field_name)
    netloc, path, query = _split(rest, field_name)
    userinfo, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = unquote(user), (unquote(secret) if colon else None)
    hosts = tuple(_host_port(part, field_name) for part in hostlist.split(","))
    if len(hosts) > 1 and engine is not Engine.MONGODB:
        raise InvalidConnection(field_name, "only MongoDB URLs may list several hosts")
    database = unquote(path.lstrip("/")) or None
    if len(",".join(h for h, _ in hosts)) > MAX_HOSTS or any(
        len(part or "") > MAX_PART for part in (username, database)
    ):
        raise InvalidConnection(
            field_name, f"hosts may take {MAX_HOSTS} characters, user and database {MAX_PART}"
        )
    return ParsedUrl(
        scheme=scheme,
        hosts=hosts,
        username=username,
        password=password,
        database=database,
        query=_query(engine, query, field_name),
    )


def _example(engine: Engine) -> str:
    scheme = sorted(SCHEMES[engine])[0] if engine in SCHEMES else engine.value
    return f"{scheme}://user:password@host:{DEFAULT_PORTS.get(engine, 0)}/database"


def _check_scheme(engine: Engine, scheme: str, field_name: str) -> None:
    base, plus, driver = scheme.partition("+")
    if scheme in SCHEMES[engine] or (base in SCHEMES[engine] and plus and _DRIVER.match(driver)):
        return
    allowed = ", ".join(f"{s}://" for s in sorted(SCHEMES[engine]))
    raise InvalidConnection(
        field_name, f"a {engine.value} connection takes {allowed} URLs, not {scheme[:30]}://"
    )


def _split(rest: str, field_name: str) -> tuple[str, str, str]:
    try:
        parts = urlsplit("x://" + rest)
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        raise InvalidConnection(field_name, "the URL's host part cannot be read") from None
    if parts.fragment:
        raise InvalidConnection(field_name, "the URL may not have a #fragment")
    return parts.netloc, parts.path, parts.query


def _host_port(part: str, field_name: str) -> tuple[str, int | None]:
    host, port = part, None
    if part.startswith("["):
        host, _, tail = part[1:].partition("]")
        port = _port(tail[1:], field_name) if tail.startswith(":") else None
    elif part.count(":") == 1:
        host, raw = part.split(":")
        port = _port(raw, field_name)
    host = host.strip().lower().rstrip(".")
    if not host or not re.fullmatch(r"[a-z0-9._:\-%]+", host):
        raise InvalidConnection(field_name, "the URL names no valid host")
    return host, port


def _port(raw: str, field_name: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise InvalidConnection(field_name, "the port must be a number from 1 to 65535")
    return int(raw)


def _query(engine: Engine, query: str, field_name: str) -> tuple[tuple[str, str], ...]:
    pairs = tuple(parse_qsl(query, keep_blank_values=True))
    for key, value in pairs:
        if key.lower() not in URL_QUERY[engine]:
            raise ParamNotAllowed(
                field_name,
                f"the URL parameter {key[:60]!r} is not allowed; TLS and timeouts "
                f"go in connection_params ({', '.join(PARAMS)})",
            )
        _url_tls_mode(key, value, field_name)
    if engine == Engine.MONGODB:
        _mongo_tls(pairs, field_name)
    return pairs


# The TLS modes a URL may name (they apply when connection_params name none): libpq's for `sslmode`,
# MySQL's own for MySQL's `ssl_mode`.
_URL_TLS_MODES = {"sslmode": SSL_MODES, "ssl_mode": frozenset(MYSQL_SSL_MODES)}


def _url_tls_mode(key: str, value: str, field_name: str) -> None:
    """Refuse a TLS mode the engines would not know: a URL's mode is applied, never ignored."""
    modes = _URL_TLS_MODES.get(key.lower())
    if modes is not None and value.strip().lower() not in modes:
        raise InvalidConnection(field_name, f"the URL's {key} is one of {', '.join(sorted(modes))}")


def _mongo_tls(pairs: tuple[tuple[str, str], ...], field_name: str) -> None:
    """MongoDB's `tls`/`ssl` are true or false, and agree: the URL's TLS is applied, never guessed."""
    flags = {value.strip().lower() for key, value in pairs if key.lower() in ("tls", "ssl")}
    if flags - {"true", "false"}:
        raise InvalidConnection(field_name, "the URL's tls (or ssl) is true or false")
    if len(flags) > 1:
        raise InvalidConnection(field_name, "the URL's tls and ssl disagree; give one of them")


def check_hosts(parsed: ParsedUrl, allowlist: Allowlist, *, field_name: str = "url") -> None:
    """Refuse `localhost` and literal private, loopback or link-local addresses, unless allow-listed."""
    for host, port in parsed.hosts:
        if allowlist.names(host, port or 0):
            continue
        ip = literal_ip(host)
        if ip is not None:
            if not is_public(ip) and not allowlist.covers(ip):
                raise HostNotAllowed(
                    field_name,
                    f"{host} is a private or local address; the platform connects only "
                    "to public hosts unless INGESTION_DATABASE_ALLOWLIST names it",
                )
        elif host in BLOCKED_NAMES or host.endswith((".localhost", ".local", ".internal")):
            raise HostNotAllowed(field_name, f"{host} is a local name; give the database's public host name")


def clean_params(params: dict[str, Any] | None, engine: Engine) -> dict[str, Any]:
    """`connection_params` with only the allowed keys, each checked (422 naming the key otherwise)."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        name = f"connection_params.{key}"[:100]
        if key not in PARAMS:
            raise ParamNotAllowed(name, f"not allowed; connection_params take only {', '.join(PARAMS)}")
        out[key] = _PARAM_CHECKS[key](name, value, engine)
    return out


def _sslmode(name: str, value: Any, engine: Engine) -> str:
    if not isinstance(value, str) or value.lower() not in SSL_MODES:
        raise InvalidConnection(name, f"one of {', '.join(sorted(SSL_MODES))}")
    if engine == Engine.MSSQL and value.lower() in ("verify-ca", "verify-full"):
        # pymssql's FreeTDS cannot be given a CA or host name per connection (engines/mssql.py)
        raise InvalidConnection(
            name, "SQL Server connections take disable or require: the certificate cannot be verified"
        )
    if engine == Engine.MONGODB and value.lower() in ("allow", "prefer"):
        raise InvalidConnection(
            name,
            f"{value.lower()} (TLS only if the server offers it) is PostgreSQL's and MySQL's; a "
            "MongoDB connection is either TLS or not: give require, verify-ca or verify-full (TLS), "
            "or disable",
        )
    return value.lower()


def _ssl_ca(name: str, value: Any, engine: Engine) -> str:
    if not isinstance(value, str) or "-----BEGIN CERTIFICATE-----" not in value or len(value) > MAX_CA:
        raise InvalidConnection(
            name,
            "the CA certificate itself, in PEM (-----BEGIN CERTIFICATE-----), never a path on the server",
        )
    return value


def _timeout(name: str, value: Any, engine: Engine) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 30:
        raise InvalidConnection(name, "a whole number of seconds from 1 to 30")
    return value


def _names(name: str, value: Any, engine: Engine) -> list[str]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_NAMES
        or not all(isinstance(v, str) and _NAME.match(v) for v in value)
    ):
        raise InvalidConnection(
            name, f"a list of at most {MAX_NAMES} names (letters, digits, _ $ . - and spaces)"
        )
    return list(dict.fromkeys(value))


_PARAM_CHECKS = {
    "sslmode": _sslmode,
    "ssl_ca": _ssl_ca,
    "connect_timeout": _timeout,
    "schemas": _names,
    "tables": _names,
}
