"""What an engine is given: the engine, the decrypted URL and the allow-listed parameters.

`ConnectionParams` is the whole set of options a company may set; driver flags (`local_infile`,
`init_command`, `options`, …) have no field, and unknown keys are refused. Options written into
the URL's query string are ignored, except MongoDB's `authSource` and the TLS mode of PostgreSQL
(`sslmode`), MySQL (`ssl_mode` in MySQL's names, or `sslmode`) and MongoDB (`tls`/`ssl`), which
applies when `connection_params` name none (`with_url_tls`): engines build the driver's arguments from
`ParsedUrl` and `ConnectionParams` only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, cast, get_args
from urllib.parse import parse_qs, unquote

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidConnectionUrl

Engine = Literal["postgresql", "cockroachdb", "mysql", "sqlite", "mongodb", "mssql"]
# `allow`/`prefer`: TLS when the server offers it, unverified (libpq's; MySQL/MariaDB take both as
# "prefer"); MongoDB has no such mode and refuses them at create (connections/urls.py).
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

SCHEMES: dict[str, frozenset[str]] = {
    "postgresql": frozenset(
        {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg"}
    ),
    "cockroachdb": frozenset(
        {
            "postgres",
            "postgresql",
            "postgresql+psycopg",
            "cockroachdb",
            "cockroachdb+psycopg",
            "cockroachdb+asyncpg",
        }
    ),
    "mysql": frozenset(
        {
            "mysql",
            "mariadb",
            "mysql+aiomysql",
            "mysql+pymysql",
            "mysql+asyncmy",
            "mariadb+aiomysql",
            "mariadb+pymysql",
        }
    ),
    "mongodb": frozenset({"mongodb", "mongodb+srv"}),
    "mssql": frozenset({"mssql", "sqlserver", "mssql+pyodbc", "mssql+pymssql", "mssql+aioodbc"}),
}
DEFAULT_PORTS = {"postgresql": 5432, "cockroachdb": 26257, "mysql": 3306, "mongodb": 27017, "mssql": 1433}


class ConnectionParams(BaseModel):
    """The connection parameters a company may set (nothing else is accepted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sslmode: SslMode | None = None  # None: PostgreSQL "prefer" (libpq's default), others no TLS
    ssl_ca: str | None = Field(default=None, max_length=64_000)  # PEM text of a private CA
    connect_timeout: int = Field(default=10, ge=1, le=30)  # seconds
    schemas: list[str] | None = None  # only these schemas (PostgreSQL) / databases (MySQL)
    tables: list[str] | None = None  # only these tables (or collections)


@dataclass(frozen=True)
class ConnectionSpec:
    """One connection as an engine sees it; `url` is secret (show `masked(url)`)."""

    engine: Engine
    url: str  # decrypted; for sqlite the local path of the company's uploaded file
    params: ConnectionParams = field(default_factory=ConnectionParams)

    def __repr__(self) -> str:  # never the password, even in a traceback's locals
        return f"ConnectionSpec(engine={self.engine!r}, url={masked(self.url)!r}, params={self.params!r})"


@dataclass(frozen=True)
class ParsedUrl:
    host: str
    port: int
    database: str | None
    user: str | None
    password: str | None = field(repr=False)
    hosts: tuple[tuple[str, int], ...] = ()  # every host (MongoDB seed lists); the first is host/port
    srv: bool = False  # mongodb+srv: `host` is the SRV name, not a server
    auth_source: str | None = None  # MongoDB's authSource
    sslmode: SslMode | None = None  # the URL's TLS mode (PostgreSQL, MySQL, MongoDB), in libpq's names

    def __repr__(self) -> str:
        return (
            f"ParsedUrl(host={self.host!r}, port={self.port}, database={self.database!r}, "
            f"user={self.user!r}, password={'***' if self.password else None})"
        )


def parse_url(engine: Engine, url: str) -> ParsedUrl:
    """Read a connection URL of `engine`; InvalidConnectionUrl (never quoting the password) if it can't."""
    if engine == "sqlite":
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
        return ParsedUrl(host="", port=0, database=path, user=None, password=None)
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in SCHEMES[engine]:
        allowed = ", ".join(f"{s}://" for s in sorted(SCHEMES[engine]))
        raise InvalidConnectionUrl(f"A {engine} connection URL starts with one of {allowed}")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        userinfo, hostpart = "", rest
    netloc, _, tail = _split_netloc(hostpart)
    path, _, query = tail.partition("?")
    user, _, password = userinfo.partition(":")
    hosts = tuple(_host_port(h, DEFAULT_PORTS[engine], url) for h in netloc.split(",") if h)
    srv = scheme.lower() == "mongodb+srv"
    if not hosts:
        raise InvalidConnectionUrl(f"{masked(url)} has no host")
    if len(hosts) > 1 and engine != "mongodb":
        raise InvalidConnectionUrl(f"{masked(url)} names several hosts; give one")
    if srv and (len(hosts) > 1 or ":" in netloc.rsplit("]", 1)[-1]):
        raise InvalidConnectionUrl("A mongodb+srv:// URL names one host and no port")
    options = parse_qs(query)
    return ParsedUrl(
        host=hosts[0][0],
        port=hosts[0][1],
        database=unquote(path.strip("/")) or None,
        user=unquote(user) or None,
        password=unquote(password) if userinfo and ":" in userinfo else None,
        hosts=hosts,
        srv=srv,
        auth_source=next(iter(options.get("authSource", [])), None),
        sslmode=url_sslmode(engine, options),
    )


# MySQL's own names of its TLS modes (the `ssl_mode` URL parameter), as libpq's.
MYSQL_SSL_MODES: dict[str, SslMode] = {
    "disabled": "disable",
    "preferred": "prefer",
    "required": "require",
    "verify_ca": "verify-ca",
    "verify_identity": "verify-full",
}
SSL_MODES: frozenset[str] = frozenset(get_args(SslMode))


def url_sslmode(engine: Engine, options: dict[str, list[str]]) -> SslMode | None:
    """The TLS mode a PostgreSQL or MySQL URL names (None: none, or one not known); for MongoDB,
    `tls`/`ssl` `true` is `verify-full` (the driver's own meaning) and `false` is `disable`."""
    if engine == "mongodb":
        flags = {v[-1].strip().lower() for k, v in options.items() if k.lower() in ("tls", "ssl") and v}
        if flags == {"true"}:
            return "verify-full"
        return "disable" if flags == {"false"} else None
    if engine not in ("postgresql", "cockroachdb", "mysql"):
        return None
    for key, value in options.items():
        mode = value[-1].strip().lower() if value else ""
        if key.lower() == "sslmode" and mode in SSL_MODES:
            return cast(SslMode, mode)
        if engine == "mysql" and key.lower() == "ssl_mode" and mode in MYSQL_SSL_MODES:
            return MYSQL_SSL_MODES[mode]
    return None


def with_url_tls(params: ConnectionParams, parsed: ParsedUrl) -> ConnectionParams:
    """`params`, with the URL's TLS mode when they name none (`connection_params` win)."""
    if params.sslmode is None and parsed.sslmode is not None:
        return params.model_copy(update={"sslmode": parsed.sslmode})
    return params


def _split_netloc(hostpart: str) -> tuple[str, str, str]:
    cut = min((i for i in (hostpart.find("/"), hostpart.find("?")) if i >= 0), default=len(hostpart))
    return hostpart[:cut], "", hostpart[cut:]


def _host_port(text: str, default: int, url: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host or (port and not port.isdigit()) or (port and not 0 < int(port) < 65536):
        raise InvalidConnectionUrl(f"{masked(url)} has an invalid host or port")
    return unquote(host).lower().rstrip("."), int(port) if port else default


_QUERY_SECRET = re.compile(r"(?i)((?:password|pwd|secret|sslpassword)=)[^&]*")


def masked(url: str) -> str:
    """The URL with its password (in the user info or the query) replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    if sep:
        userinfo, at, hostpart = rest.rpartition("@")
        if at and ":" in userinfo:
            rest = f"{userinfo.partition(':')[0]}:***@{hostpart}"
        url = f"{scheme}://{rest}"
    return _QUERY_SECRET.sub(r"\1***", url)


def scrub(text: str, password: str | None) -> str:
    """`text` (a driver's message) with the password, raw or percent-encoded, replaced by `***`."""
    if password:
        from urllib.parse import quote

        for form in {password, quote(password, safe=""), quote(password)}:
            text = text.replace(form, "***")
    return text
