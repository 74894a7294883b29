"""The embedded servers are real, answer, and survive stop/start with port and data."""

from __future__ import annotations

import asyncio
import time

import nats
import psycopg
import pytest
import redis

from knowrithm_stack.launcher import Stack
from knowrithm_stack.servers import ExternalServer, build_servers


def test_postgres_answers_with_pgvector(stack: Stack) -> None:
    url = stack.create_database("stack_pgvector")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        conn.execute("create extension vector")
        assert conn.execute("select '[1,2,3]'::vector <-> '[1,2,4]'::vector").fetchone() == (1.0,)
        version = conn.execute("show server_version_num").fetchone()[0]
    assert int(version) >= 180000


def test_platform_database_exists(stack: Stack) -> None:
    assert stack.database_url.endswith("/knowrithm")
    with psycopg.connect(stack.database_url) as conn:
        assert conn.execute("select current_database()").fetchone() == ("knowrithm",)


def test_create_database_is_fresh(stack: Stack) -> None:
    url = stack.create_database("Stack Fresh/Test")
    assert url.endswith("/stack_fresh_test")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table leftover (id int)")
    assert stack.create_database("Stack Fresh/Test") == url
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('leftover')").fetchone() == (None,)


async def test_nats_jetstream_answers(stack: Stack) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
    finally:
        await nc.close()


def test_redis_answers(stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


async def test_nats_stop_start_keeps_port_and_stream(stack: Stack) -> None:
    server = stack.servers["nats"]
    port, pid = server.port, server.pid
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    await js.add_stream(name="STACK_RESTART", subjects=["stack.restart.>"])
    ack = await js.publish("stack.restart.one", b"kept")
    assert ack.seq == 1
    await nc.close()

    stack.stop_server("nats")
    assert not server.is_ready()
    await asyncio.sleep(
        0.6
    )  # longer than the supervisor's backoff: it must not restart a stopped server
    assert server.pid is None

    stack.start_server("nats")
    assert server.port == port and server.url == f"nats://127.0.0.1:{port}"
    assert server.pid not in (None, pid)
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("STACK_RESTART")
        assert info.state.messages == 1
        msg = await js.get_msg("STACK_RESTART", 1)
        assert msg.data == b"kept"
    finally:
        await nc.close()


def test_postgres_stop_start_keeps_data(stack: Stack) -> None:
    url = stack.create_database("stack_pg_restart")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table kept (v text)")
        conn.execute("insert into kept values ('yes')")
    port = stack.servers["postgres"].port
    stack.stop_server("postgres")
    stack.start_server("postgres")
    assert stack.servers["postgres"].port == port
    with psycopg.connect(url) as conn:
        assert conn.execute("select v from kept").fetchone() == ("yes",)


def test_crashed_server_is_restarted(stack: Stack) -> None:
    server = stack.servers["redis"]
    pid = server.pid
    server.kill()
    deadline = time.monotonic() + 15
    while server.pid in (None, pid) or not server.is_ready():
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.1)
    assert redis.Redis.from_url(stack.redis_url).ping() is True


def test_env_urls_replace_embedded_servers(tmp_path) -> None:
    servers = build_servers(
        tmp_path,
        ports={"postgres": 1, "nats": 2, "nats-monitor": 3, "redis": 4},
        environ={"DATABASE_URL": "postgresql://u@db.example:5432/app"},
    )
    assert isinstance(servers["postgres"], ExternalServer)
    assert servers["postgres"].url == "postgresql://u@db.example:5432/app"
    assert not isinstance(servers["nats"], ExternalServer)
    with pytest.raises(RuntimeError, match="external"):
        servers["postgres"].stop()


def test_stack_with_external_urls_starts_nothing(stack: Stack, tmp_path) -> None:
    environ = {
        "DATABASE_URL": stack.database_url,
        "NATS_URL": stack.nats_url,
        "REDIS_URL": stack.redis_url,
    }
    other = Stack(tmp_path, ports={}, environ=environ)
    other.start(timeout=10)
    try:
        assert other.embedded == []
        assert other.database_url == stack.database_url
        assert other.nats_url == stack.nats_url
        assert not (tmp_path / "postgres").exists()
        assert other.create_database("stack_external_db").endswith("/stack_external_db")
    finally:
        other.stop()
