"""Chinook loads into the embedded PostgreSQL, the test MariaDB and a SQLite file, identically."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa

from knowrithm_stack.chinook import (
    CHINOOK_COLUMNS,
    CHINOOK_FOREIGN_KEYS,
    CHINOOK_PRIMARY_KEYS,
    CHINOOK_ROW_COUNTS,
    CHINOOK_TABLES,
    CHINOOK_TOTAL_ROWS,
    load_mysql,
    load_postgres,
    load_sqlite,
)
from knowrithm_stack.launcher import Stack
from knowrithm_stack.mariadb import MariaDBServer


def _engine_url(kind: str, url: str) -> str:
    _, _, rest = url.partition("://")
    return f"{kind}://{rest}"


@pytest.fixture(scope="module", params=["postgresql", "mysql", "sqlite"])
def chinook_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[sa.Engine, float]]:
    """Load Chinook into one engine; yield a SQLAlchemy engine on it and the load's seconds."""
    started = time.monotonic()
    if request.param == "postgresql":
        stack: Stack = request.getfixturevalue("stack")
        url = stack.create_database("chinook_load")
        load_postgres(url)
        engine_url = _engine_url("postgresql+psycopg", url)
    elif request.param == "mysql":
        mariadb: MariaDBServer = request.getfixturevalue("mariadb")
        url = mariadb.create_database("chinook_load")
        load_mysql(url)
        engine_url = _engine_url("mysql+pymysql", url) + "?charset=utf8mb4"
    else:
        path = tmp_path_factory.mktemp("chinook") / "chinook.sqlite"
        load_sqlite(path)
        engine_url = f"sqlite:///{path}"
    seconds = time.monotonic() - started
    engine = sa.create_engine(engine_url)
    try:
        yield engine, seconds
    finally:
        engine.dispose()


def test_chinook_has_its_tables_keys_and_rows(chinook_engine: tuple[sa.Engine, float]) -> None:
    engine, seconds = chinook_engine
    inspector = sa.inspect(engine)
    assert sorted(inspector.get_table_names()) == sorted(CHINOOK_TABLES)
    foreign_keys = set()
    for table in CHINOOK_TABLES:
        assert [c["name"] for c in inspector.get_columns(table)] == list(CHINOOK_COLUMNS[table])
        assert tuple(inspector.get_pk_constraint(table)["constrained_columns"]) == CHINOOK_PRIMARY_KEYS[table]
        for fk in inspector.get_foreign_keys(table):
            foreign_keys.add(
                (table, tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            )
    assert foreign_keys == set(CHINOOK_FOREIGN_KEYS)
    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one() for t in CHINOOK_TABLES}
    assert counts == CHINOOK_ROW_COUNTS
    assert sum(counts.values()) == CHINOOK_TOTAL_ROWS == 15607
    assert seconds < 30


def test_chinook_rows_join_and_keep_their_text(chinook_engine: tuple[sa.Engine, float]) -> None:
    engine, _ = chinook_engine
    with engine.connect() as conn:
        city = conn.execute(sa.text("select city from customer where customer_id = 1")).scalar_one()
        manager = conn.execute(
            sa.text(
                "select m.first_name from employee e join employee m on m.employee_id = e.reports_to"
                " where e.employee_id = 2"
            )
        ).scalar_one()
        total = conn.execute(sa.text("select total from invoice where invoice_id = 1")).scalar_one()
        artist_tracks = conn.execute(
            sa.text(
                "select count(*) from track t join album a on a.album_id = t.album_id"
                " join artist r on r.artist_id = a.artist_id where r.name = 'AC/DC'"
            )
        ).scalar_one()
        invoiced = conn.execute(
            sa.text("select sum(unit_price * quantity) from invoice_line where invoice_id = 1")
        ).scalar_one()
    assert city == "São José dos Campos"
    assert manager == "Andrew"
    assert Decimal(str(total)) == Decimal("1.98") == Decimal(str(invoiced))
    assert artist_tracks == 18


def test_chinook_foreign_keys_are_enforced(chinook_engine: tuple[sa.Engine, float]) -> None:
    engine, _ = chinook_engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("pragma foreign_keys = on"))
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("insert into album (album_id, title, artist_id) values (9999, 'x', 9999)"))
        conn.rollback()
