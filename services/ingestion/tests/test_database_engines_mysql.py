"""The MySQL/MariaDB engine against a real MariaDB (the `mariadb` fixture of knowrithm_stack:
its own mariadbd on a random port and data dir, `root` with a password)."""

from __future__ import annotations

import pymysql
import pytest

from knowrithm_ingestion.databases.engines import ConnectionParams, ConnectionSpec, get_engine, parse_url
from knowrithm_ingestion.databases.engines.errors import (
    DatabaseQueryFailed,
    DatabaseRefused,
    DatabaseUnreachable,
)

LOCAL = ["127.0.0.1/32"]  # the test MariaDB listens on 127.0.0.1
SCHEMA = [
    "CREATE TABLE artist (artist_id INT PRIMARY KEY, name VARCHAR(120) NOT NULL COMMENT 'Name on the cover')"
    " COMMENT 'People and bands'",
    "CREATE TABLE album (album_id INT PRIMARY KEY, title VARCHAR(160), artist_id INT NOT NULL,"
    " CONSTRAINT fk_album_artist FOREIGN KEY (artist_id) REFERENCES artist (artist_id))",
    "INSERT INTO artist VALUES (1, 'AC/DC'), (2, 'Accept'), (3, 'Aerosmith')",
    "INSERT INTO album VALUES (1, 'For Those About To Rock', 1), (2, 'Balls to the Wall', 2), (3, 'Restless', 2)",
]


def connect(url: str) -> pymysql.connections.Connection:
    parsed = parse_url("mysql", url)
    return pymysql.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.user,
        password=parsed.password or "",
        database=parsed.database,
        autocommit=True,
    )


@pytest.fixture(scope="module")
def music(mariadb) -> dict[str, str]:
    url = mariadb.create_database("engines_music")
    conn = connect(url)
    try:
        with conn.cursor() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement)
    finally:
        conn.close()
    return {
        "root": url,
        "reader": mariadb.create_user("engines_reader", database="engines_music"),
        "filer": mariadb.create_user(
            "engines_filer", database="engines_music", privileges=("SELECT", "FILE")
        ),
    }


def my(url: str, **params) -> ConnectionSpec:
    return ConnectionSpec(engine="mysql", url=url, params=ConnectionParams(**params))


def album_count(url: str) -> int:
    conn = connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM album")
            return cursor.fetchone()[0]
    finally:
        conn.close()


async def test_probe_warns_for_write_and_file_grants_not_for_select_only(music):
    engine = get_engine("mysql")
    root, reader, filer = [await engine.probe(my(music[k]), LOCAL) for k in ("root", "reader", "filer")]
    assert root.reachable and "mariadb" in (root.server_version or "").lower()
    assert root.warnings and "ALL PRIVILEGES" in root.warnings[0]
    assert reader.reachable and reader.warnings == []
    assert filer.warnings and "FILE" in filer.warnings[0]


async def test_reflect_reads_columns_keys_and_comments(music):
    tables = {t.name: t for t in await get_engine("mysql").reflect(my(music["reader"]), LOCAL)}
    assert set(tables) == {"artist", "album"}
    artist, album = tables["artist"], tables["album"]
    assert artist.primary_key == ["artist_id"] and artist.comment == "People and bands"
    name = next(c for c in artist.columns if c.name == "name")
    assert (name.type, name.nullable, name.comment) == ("varchar(120)", False, "Name on the cover")
    assert [(f.columns, f.ref_table, f.ref_columns) for f in album.foreign_keys] == [
        (["artist_id"], "artist", ["artist_id"])
    ]


async def test_stacked_statements_and_writes_do_not_run_even_as_root(music):
    engine = get_engine("mysql")
    for attack in (
        "SELECT 1; DELETE FROM album",
        "DELETE FROM album",
        "UPDATE album SET title = 'x'",
        "INSERT INTO artist VALUES (9, 'x')",
        "CREATE TABLE escaped (x INT)",
    ):
        with pytest.raises(DatabaseQueryFailed):
            await engine.execute(my(music["root"]), LOCAL, attack, limit=10, timeout_s=5)
    assert album_count(music["root"]) == 3
    tables = await get_engine("mysql").reflect(my(music["root"]), LOCAL)
    assert "escaped" not in {t.name for t in tables}


async def test_loopback_is_refused_without_the_allow_list(music):
    with pytest.raises(DatabaseRefused):
        await get_engine("mysql").probe(my(music["reader"]), [])


async def test_a_wrong_password_is_unreachable_without_the_password(music):
    parsed = parse_url("mysql", music["reader"])
    url = f"mysql://{parsed.user}:hunter2-wrong@127.0.0.1:{parsed.port}/engines_music"
    probe = await get_engine("mysql").probe(my(url), LOCAL)
    assert not probe.reachable and probe.error and "hunter2" not in probe.error
    with pytest.raises(DatabaseUnreachable) as failed:
        await get_engine("mysql").execute(my(url), LOCAL, "SELECT 1", limit=1, timeout_s=5)
    assert "hunter2" not in str(failed.value)
