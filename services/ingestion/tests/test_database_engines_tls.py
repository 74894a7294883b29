"""TLS modes of the PostgreSQL and MySQL/MariaDB engines against real servers: a PostgreSQL and a
MariaDB started here with a certificate for 127.0.0.1 (signed by a CA made here), and the suite's
embedded PostgreSQL and MariaDB, which offer no TLS. What the session really used is read from the
server (`pg_stat_ssl`, `Ssl_cipher`).
"""

from __future__ import annotations

import datetime as dt
import glob
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from knowrithm_ingestion.databases.engines import ConnectionParams, ConnectionSpec, get_engine
from knowrithm_stack import osuser
from knowrithm_stack.mariadb import MariaDBServer
from knowrithm_stack.ports import free_port, release_ports
from knowrithm_stack.servers import PostgresServer

LOCAL = ["127.0.0.1/32"]  # every server here listens on 127.0.0.1


@dataclass(frozen=True)
class Certificates:
    ca_pem: str  # the CA a connection's `ssl_ca` names
    cert_pem: bytes  # the server's, for 127.0.0.1, signed by the CA
    key_pem: bytes


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


@pytest.fixture(scope="module")
def certificates() -> Certificates:
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(_name("Knowrithm test CA")).issuer_name(_name("Knowrithm test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    server = (
        x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return Certificates(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
        cert_pem=server.public_bytes(serialization.Encoding.PEM),
        key_pem=key_pem,
    )


def _write_tls_files(home: Path, certificates: Certificates, run_as: str | None) -> tuple[Path, Path]:
    """The server's certificate and key in its data dir, readable by the server's user only."""
    cert, key = home / "server.crt", home / "server.key"
    cert.write_bytes(certificates.cert_pem)
    key.write_bytes(certificates.key_pem)
    for path in (cert, key):
        path.chmod(0o600)
        if run_as is not None:
            entry = osuser.ensure_user(run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return cert, key


class TlsPostgres(PostgresServer):
    """This machine's PostgreSQL (the embedded build has no TLS) with `ssl=on`; non-TLS sessions are
    still accepted (trust on 127.0.0.1)."""

    certificates: Certificates

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        found = shutil.which("postgres") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))), None)
        if found is None:
            pytest.fail("PostgreSQL's server (Debian's postgresql, with OpenSSL) is not installed: `make postgresql`")
        self.bin_dir = Path(found).resolve().parent

    def _initdb(self) -> None:
        argv = [str(self.bin_dir / "initdb"), "-D", str(self.home), "--auth=trust", "-U", "postgres",
                "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]  # fmt: skip
        kwargs: dict[str, Any] = {}
        if self.run_as() is not None:
            entry = osuser.ensure_user(self.run_as())
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        subprocess.run(argv, cwd=self.home, capture_output=True, check=True, **kwargs)

    def prepare(self) -> None:
        super().prepare()
        self.tls_files = _write_tls_files(self.home, self.certificates, self.run_as())

    def command(self) -> list[str]:
        cert, key = self.tls_files
        return [*super().command(), "-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]


class TlsMariaDB(MariaDBServer):
    """A MariaDB offering TLS (clients may still connect without it)."""

    certificates: Certificates

    def prepare(self) -> None:
        super().prepare()
        self.tls_files = _write_tls_files(self.home, self.certificates, self.run_as())

    def command(self) -> list[str]:
        cert, key = self.tls_files
        return [*super().command(), f"--ssl-cert={cert}", f"--ssl-key={key}"]


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory, certificates) -> Iterator[str]:
    """A URL of the TLS PostgreSQL's `postgres` database (user postgres, no password)."""
    TlsPostgres.certificates = certificates
    server = TlsPostgres(data_dir=tmp_path_factory.mktemp("tls-postgres"), port=free_port(), durable=False)
    try:
        server.start(wait=True, timeout=60)
        yield server.dsn("postgres")
    finally:
        server.stop()
        release_ports([server.port])


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory, certificates) -> Iterator[str]:
    """A URL of the TLS MariaDB as root."""
    TlsMariaDB.certificates = certificates
    server = TlsMariaDB(data_dir=tmp_path_factory.mktemp("tls-mariadb"), port=free_port(), durable=False)
    try:
        server.start(wait=True, timeout=60)
        yield server.dsn("mysql")
    finally:
        server.stop()
        release_ports([server.port])


def spec(engine: str, url: str, **params) -> ConnectionSpec:
    return ConnectionSpec(engine=engine, url=url, params=ConnectionParams(connect_timeout=5, **params))  # type: ignore[arg-type]


async def postgres_tls(url: str, **params) -> bool:
    """Whether the engine's session to `url` runs over TLS, as the server sees it."""
    query = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    result = await get_engine("postgresql").execute(spec("postgresql", url, **params), LOCAL, query, limit=1, timeout_s=5)
    return bool(result.rows[0][0])


async def mysql_cipher(url: str, **params) -> str:
    """The TLS cipher of the engine's session to `url` ("" without TLS), as the server sees it."""
    result = await get_engine("mysql").execute(
        spec("mysql", url, **params), LOCAL, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", limit=1, timeout_s=5
    )
    return str(result.rows[0][1])


async def test_postgres_prefer_uses_tls_when_offered_allow_only_when_required(tls_postgres, certificates):
    assert await postgres_tls(tls_postgres, sslmode="prefer") is True
    assert await postgres_tls(tls_postgres) is True  # no mode: libpq's default, prefer
    assert await postgres_tls(tls_postgres, sslmode="allow") is False  # the server accepts plain sessions
    assert await postgres_tls(tls_postgres, sslmode="disable") is False
    assert await postgres_tls(tls_postgres, sslmode="verify-full", ssl_ca=certificates.ca_pem) is True


async def test_postgres_allow_and_prefer_connect_to_a_server_without_tls_require_does_not(stack):
    url = stack.create_database("engines_tls_plain")
    for mode in ("allow", "prefer"):
        assert await postgres_tls(url, sslmode=mode) is False
        assert (await get_engine("postgresql").probe(spec("postgresql", url, sslmode=mode), LOCAL)).reachable
    probe = await get_engine("postgresql").probe(spec("postgresql", url, sslmode="require"), LOCAL)
    assert not probe.reachable and "SSL" in (probe.error or "")


async def test_postgres_without_a_mode_ignores_pgsslmode_of_this_machine(tls_postgres, monkeypatch):
    monkeypatch.setenv("PGSSLMODE", "disable")
    assert await postgres_tls(tls_postgres) is True


async def test_mysql_prefer_and_allow_use_tls_when_the_server_offers_it(tls_mariadb, certificates):
    assert await mysql_cipher(tls_mariadb, sslmode="prefer") != ""
    assert await mysql_cipher(tls_mariadb, sslmode="allow") != ""
    assert await mysql_cipher(tls_mariadb, sslmode="verify-full", ssl_ca=certificates.ca_pem) != ""
    assert await mysql_cipher(tls_mariadb) == ""  # no mode: no TLS
    # verify-full without the private CA: the certificate is not trusted
    probe = await get_engine("mysql").probe(spec("mysql", tls_mariadb, sslmode="verify-full"), LOCAL)
    assert not probe.reachable and "certificate" in (probe.error or "").lower()


async def test_mysql_require_refuses_a_server_without_tls(mariadb):
    """The suite's MariaDB offers no TLS: `prefer` connects in clear, `require` (which aiomysql alone
    would let through in clear) is refused, the password unsent and unquoted."""
    url = mariadb.dsn("mysql")
    assert await mysql_cipher(url, sslmode="prefer") == ""
    for mode in ("require", "verify-ca", "verify-full"):
        probe = await get_engine("mysql").probe(spec("mysql", url, sslmode=mode), LOCAL)
        assert not probe.reachable and "offers no TLS" in (probe.error or ""), probe
        assert mariadb.password not in (probe.error or "")


async def test_the_urls_tls_mode_applies_when_connection_params_name_none(tls_postgres, tls_mariadb, certificates):
    """`?sslmode=` (PostgreSQL, MySQL) and MySQL's `?ssl_mode=` are applied, not ignored;
    `connection_params.sslmode` wins over them."""
    assert await postgres_tls(f"{tls_postgres}?sslmode=disable") is False
    assert await postgres_tls(f"{tls_postgres}?sslmode=disable", sslmode="prefer") is True
    probe = await get_engine("postgresql").probe(spec("postgresql", f"{tls_postgres}?sslmode=verify-full"), LOCAL)
    assert not probe.reachable  # verify-full without the private CA: refused, not downgraded
    assert await postgres_tls(f"{tls_postgres}?sslmode=verify-full", ssl_ca=certificates.ca_pem) is True
    assert await mysql_cipher(f"{tls_mariadb}?ssl_mode=REQUIRED") != ""
    assert await mysql_cipher(f"{tls_mariadb}?sslmode=prefer") != ""
    assert await mysql_cipher(f"{tls_mariadb}?ssl_mode=PREFERRED", sslmode="disable") == ""
