"""The dashboard's `database_analytics` and `core_metrics.connection_count`, from ingestion's real
database events (tests/feed.py, DB1..DB4) published through NATS to the running app.

`main`'s numbers are checked exactly; `other` has the same history and must not leak into them.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import (
    DatabaseConnectionAnalyzedV1,
    DatabaseConnectionCreatedV1,
    DatabaseConnectionDeletedV1,
    DatabaseConnectionTestedV1,
    DatabaseTableRestoredV1,
)
from knowrithm_common.identity import Principal, Role

from .conftest import caught_up, publish
from .feed import Feed, company_feed, publish_feeds

DASHBOARD = "/api/v1/analytic/dashboard"


@pytest.fixture(scope="module")
async def feeds(client):
    main, other = company_feed("Databases Inc"), company_feed("Databases Noise")
    await publish_feeds(client.app, [main, other])
    return main, other


def member(feed: Feed, who: str = "admin") -> Principal:
    role = Role.ADMIN if who == "admin" else Role.USER
    return Principal(kind="user", company_id=feed.company_id, user_id=feed[who], role=role)


async def dashboard(call, principal: Principal, **params) -> dict:
    r = await call("GET", DASHBOARD, principal, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def expected_tests(feed: Feed) -> list[dict]:
    """The live connections' last tests, newest first: DB1 (noon 2), DB2 (noon 3), DB4 (noon 4)."""
    admin = feed.usernames["admin"]
    return [
        {"connection_name": "Shop", "database_type": "postgresql",
         "last_tested": feed.at["DB1_tested"].isoformat(), "test_result": "ok", "username": admin},
        {"connection_name": "Legacy CRM", "database_type": "mysql",
         "last_tested": feed.at["DB2_tested"].isoformat(), "test_result": "failed", "username": None},
        {"connection_name": "Reports", "database_type": "mongodb",
         "last_tested": feed.at["DB4_tested"].isoformat(), "test_result": "ok", "username": admin},
    ]  # fmt: skip


async def test_admin_dashboard_counts_the_companys_connections_tests_and_tables(call, feeds):
    main, _ = feeds
    body = await dashboard(call, member(main))
    # DB3 is deleted; DB4 was deleted and restored
    assert body["core_metrics"]["connection_count"] == 3
    assert body["database_analytics"] == {
        "connection_status": {"active": 3, "inactive": 1},
        "connection_types": {"postgresql": 1, "mysql": 1, "mongodb": 1},
        # DB2 was tested with an API key (no username); DB3's test is of a deleted connection
        "recent_tests": expected_tests(main),
        # DB1 after its table's deletion (the late, older analysis changed nothing) and DB2;
        # DB3 is deleted and DB4 never analysed. The feed's analyses carry no sizes: null, not 0.
        "table_analytics": {"total_tables": 13, "total_rows": 15_300, "total_size_bytes": None},
    }


async def test_a_user_sees_only_connections_they_created(call, feeds):
    """Personal scope: connections are created by admins, so a member's dashboard counts none."""
    main, _ = feeds
    body = await dashboard(call, member(main, "uma"))
    assert body["core_metrics"]["scope"] == "personal"
    assert body["core_metrics"]["connection_count"] == 0
    assert body["database_analytics"] == {
        "connection_status": {"active": 0, "inactive": 0},
        "connection_types": {},
        "recent_tests": [],
        "table_analytics": {"total_tables": 0, "total_rows": 0, "total_size_bytes": None},
    }


async def test_super_admin_sees_one_company_as_its_admin_does(call, feeds):
    main, _ = feeds
    root = Principal(kind="user", role=Role.SUPER_ADMIN, user_id=uuid.uuid4())
    one = await dashboard(call, root, company_id=str(main.company_id))
    assert one["database_analytics"] == (await dashboard(call, member(main)))["database_analytics"]


async def test_redelivered_and_out_of_order_events_change_no_number(client, call, feeds):
    """Every database event of `main` again (new message ids: the consumer cannot tell), newest
    first: the projection keeps each state by its own event time."""
    main, _ = feeds
    before = await dashboard(call, member(main))
    database_events = [e for e in main.events if e.type.startswith("ingestion.database")]
    for event in sorted(database_events, key=lambda e: e.time, reverse=True):
        await publish(client.app, event)
    await caught_up(client.app)
    after = await dashboard(call, member(main))
    assert after["database_analytics"] == before["database_analytics"]
    assert after["core_metrics"] == before["core_metrics"]


async def test_a_new_company_follows_its_connections_lifecycle(client, call):
    """A connection's events one by one, the numbers after each (a table event before any
    analysis, and an event arriving before the connection's `created`, included)."""
    feed = company_feed("Databases Step by Step")
    await publish_feeds(client.app, [feed])
    admin = Actor(kind="user", id=feed["admin"])
    connection = {"database_connection_id": uuid.uuid4(), "agent_id": feed["X"]}
    start = feed.now - dt.timedelta(minutes=20)

    async def send(data, minutes: int) -> dict:
        event = feed.emit(data, source="ingestion", at=start + dt.timedelta(minutes=minutes), actor=admin)
        await publish(client.app, event)
        await caught_up(client.app)
        return (await dashboard(call, member(feed)))["database_analytics"]

    before = await dashboard(call, member(feed))
    base_tables = before["database_analytics"]["table_analytics"]
    # The test arrives before the connection's creation: counted once `created` names it.
    tested = await send(DatabaseConnectionTestedV1(**connection, is_valid=True), minutes=2)
    assert tested["connection_status"]["active"] == before["database_analytics"]["connection_status"]["active"] + 1
    created = await send(
        DatabaseConnectionCreatedV1(**connection, name="Warehouse", database_type="cockroachdb", host="db.example.com"),
        minutes=1,
    )
    assert created["connection_types"]["cockroachdb"] == 1
    assert created["recent_tests"][0] == {
        "connection_name": "Warehouse",
        "database_type": "cockroachdb",
        "last_tested": (start + dt.timedelta(minutes=2)).isoformat(),
        "test_result": "ok",
        "username": feed.usernames["admin"],
    }
    analysed = await send(DatabaseConnectionAnalyzedV1(**connection, table_count=4, total_rows=1_000), minutes=3)
    assert analysed["table_analytics"] == {
        "total_tables": base_tables["total_tables"] + 4,
        "total_rows": base_tables["total_rows"] + 1_000,
        "total_size_bytes": None,
    }
    # A restoration from before the totals (no table_count) cannot say what the connection holds.
    old_style = await send(DatabaseTableRestoredV1(**connection, table_id=uuid.uuid4()), minutes=4)
    assert old_style["table_analytics"] == analysed["table_analytics"]
    restored = await send(
        DatabaseTableRestoredV1(**connection, table_id=uuid.uuid4(), table_count=5, total_rows=1_200), minutes=5
    )
    assert restored["table_analytics"]["total_tables"] == base_tables["total_tables"] + 5
    assert restored["table_analytics"]["total_rows"] == base_tables["total_rows"] + 1_200
    deleted = await send(DatabaseConnectionDeletedV1(**connection, tables_deleted=5), minutes=6)
    assert deleted["table_analytics"] == base_tables
    assert deleted["connection_status"] == {
        "active": before["database_analytics"]["connection_status"]["active"],
        "inactive": before["database_analytics"]["connection_status"]["inactive"] + 1,
    }
    assert "cockroachdb" not in deleted["connection_types"]
    assert [t["connection_name"] for t in deleted["recent_tests"]] == [
        t["connection_name"] for t in before["database_analytics"]["recent_tests"]
    ]


async def test_table_sizes_are_the_live_connections_latest_totals(client, call):
    """`total_size_bytes` from the analysed and table events: each connection's latest total, summed
    over the live connections; a connection whose engine tells no size adds nothing, and with no
    size known at all the total is null (never a made-up 0)."""
    from knowrithm_common.events.ingestion import DatabaseConnectionRestoredV1, DatabaseTablesDeletedV1

    feed = company_feed("Databases Sizes")
    await publish_feeds(client.app, [feed])
    admin = Actor(kind="user", id=feed["admin"])
    shop = {"database_connection_id": uuid.uuid4(), "agent_id": feed["X"]}
    files = {"database_connection_id": uuid.uuid4(), "agent_id": feed["X"]}
    start = feed.now - dt.timedelta(minutes=30)

    async def send(data, minutes: int) -> dict:
        event = feed.emit(data, source="ingestion", at=start + dt.timedelta(minutes=minutes), actor=admin)
        await publish(client.app, event)
        await caught_up(client.app)
        return (await dashboard(call, member(feed)))["database_analytics"]["table_analytics"]

    await send(DatabaseConnectionCreatedV1(**shop, name="Shop", database_type="postgresql", host="db.example.com"), 1)
    await send(DatabaseConnectionCreatedV1(**files, name="Files", database_type="sqlite"), 1)
    unsized = await send(DatabaseConnectionAnalyzedV1(**files, table_count=2, total_rows=10), 2)
    assert unsized["total_size_bytes"] is None and unsized["total_tables"] >= 2
    shop_sized = await send(
        DatabaseConnectionAnalyzedV1(**shop, table_count=3, total_rows=100, total_size_bytes=81_920), 3
    )
    assert shop_sized["total_size_bytes"] == 81_920
    shrunk = await send(
        DatabaseTablesDeletedV1(**shop, table_ids=[uuid.uuid4()], table_count=2, total_rows=60,
                                total_size_bytes=65_536), 4
    )
    assert shrunk["total_size_bytes"] == 65_536
    both = await send(DatabaseConnectionAnalyzedV1(**files, table_count=2, total_rows=10, total_size_bytes=8_192), 5)
    assert both["total_size_bytes"] == 65_536 + 8_192
    late = await send(
        DatabaseConnectionAnalyzedV1(**shop, table_count=3, total_rows=100, total_size_bytes=81_920), 3
    )  # redelivered, older than the deletion: changes nothing
    assert late == both
    shop_gone = await send(DatabaseConnectionDeletedV1(**shop, tables_deleted=2), 6)
    assert shop_gone["total_size_bytes"] == 8_192
    back = await send(DatabaseConnectionRestoredV1(**shop), 7)
    assert back["total_size_bytes"] == 65_536 + 8_192
