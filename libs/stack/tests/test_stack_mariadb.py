"""The `mariadb` fixture: a real MariaDB of its own, with a real password, fresh databases."""

from __future__ import annotations

import time
from pathlib import Path

import pymysql
import pytest

from knowrithm_stack.mariadb import MariaDBServer, mysql_connect_args


def _connect(url: str) -> pymysql.connections.Connection:
    return pymysql.connect(**mysql_connect_args(url), autocommit=True)


def test_mariadb_answers_on_its_own_port_and_data_dir(mariadb: MariaDBServer) -> None:
    assert mariadb.host == "127.0.0.1"
    assert mariadb.port != 3306
    assert mariadb.url == f"mysql://root:{mariadb.password}@127.0.0.1:{mariadb.port}/"
    conn = _connect(mariadb.url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("select version(), @@port, @@datadir, @@socket, @@character_set_server")
            version, port, datadir, socket_path, charset = cursor.fetchone()
    finally:
        conn.close()
    assert "MariaDB" in version
    assert port == mariadb.port
    assert Path(datadir).resolve() == mariadb.home.resolve()
    assert socket_path != "/run/mysqld/mysqld.sock"
    assert charset == "utf8mb4"


def test_mariadb_refuses_missing_or_wrong_password(mariadb: MariaDBServer) -> None:
    for password in ("", "wrong"):
        with pytest.raises(pymysql.err.OperationalError) as refused:
            pymysql.connect(host=mariadb.host, port=mariadb.port, user="root", password=password)
        assert refused.value.args[0] == 1045  # access denied


def test_mariadb_create_database_is_fresh_and_usable(mariadb: MariaDBServer) -> None:
    url = mariadb.create_database("Maria Fresh/Test")
    assert url == f"mysql://root:{mariadb.password}@127.0.0.1:{mariadb.port}/maria_fresh_test"
    conn = _connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("create table city (id int primary key, name varchar(40))")
            cursor.execute("insert into city values (1, 'São Paulo')")
            cursor.execute("select name from city")
            assert cursor.fetchall() == (("São Paulo",),)
    finally:
        conn.close()
    assert mariadb.create_database("Maria Fresh/Test") == url
    conn = _connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("show tables")
            assert cursor.fetchall() == ()
    finally:
        conn.close()


def test_mariadb_restarts_with_same_port_and_data(tmp_path: Path) -> None:
    from knowrithm_stack.ports import free_port

    server = MariaDBServer(data_dir=tmp_path, port=free_port(), durable=False)
    started = time.monotonic()
    try:
        server.start(wait=True, timeout=60)
        first_start = time.monotonic() - started
        url = server.create_database("kept")
        conn = _connect(url)
        with conn.cursor() as cursor:
            cursor.execute("create table kept (id int primary key)")
            cursor.execute("insert into kept values (7)")
        conn.close()
        server.stop()
        assert not server.is_ready()
        server.start(wait=True, timeout=60)
        conn = _connect(url)
        with conn.cursor() as cursor:
            cursor.execute("select id from kept")
            assert cursor.fetchall() == ((7,),)
        conn.close()
    finally:
        server.stop()
    assert first_start < 30


def test_missing_mariadb_names_make_mariadb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from knowrithm_stack import mariadb as module

    monkeypatch.setattr(module, "MARIADBD", tmp_path / "no-mariadbd")
    with pytest.raises(module.MariaDBMissingError, match="make mariadb"):
        MariaDBServer(data_dir=tmp_path, port=1)


def test_mariadb_create_user_reads_only_what_it_was_granted(mariadb: MariaDBServer) -> None:
    url = mariadb.create_database("maria_grants")
    conn = _connect(url)
    with conn.cursor() as cursor:
        cursor.execute("create table note (id int primary key)")
        cursor.execute("insert into note values (1)")
    conn.close()

    reader = mariadb.create_user("reader", database="maria_grants")
    assert reader.startswith("mysql://reader:") and reader.endswith(f"@127.0.0.1:{mariadb.port}/maria_grants")
    conn = _connect(reader)
    try:
        with conn.cursor() as cursor:
            cursor.execute("select id from note")
            assert cursor.fetchall() == ((1,),)
            with pytest.raises(pymysql.err.OperationalError):  # 1142: INSERT command denied
                cursor.execute("insert into note values (2)")
            cursor.execute("show grants")
            grants = " ".join(row[0] for row in cursor.fetchall())
    finally:
        conn.close()
    assert "FILE" not in grants

    writer = mariadb.create_user("writer", database="maria_grants", privileges=["select", "insert", "file"])
    conn = _connect(writer)
    try:
        with conn.cursor() as cursor:
            cursor.execute("insert into note values (2)")
            cursor.execute("show grants")
            grants = " ".join(row[0] for row in cursor.fetchall())
    finally:
        conn.close()
    assert "GRANT FILE ON *.*" in grants
    with pytest.raises(ValueError, match="unknown privileges"):
        mariadb.create_user("bad", database="maria_grants", privileges=["SELECT; DROP"])
