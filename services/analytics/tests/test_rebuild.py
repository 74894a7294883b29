"""The rebuild command: the projections rebuilt from the stream hold exactly what they held."""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid

import pytest
from nats import connect as nats_connect
from rich.console import Console
from sqlalchemy import select

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.models import PROJECTION_TABLES, LeadFact, MessageFact
from knowrithm_analytics.rebuild import main, rebuild
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.events import new_event
from knowrithm_common.events.conversations import LeadRegisteredV1
from knowrithm_common.messaging.streams import EVENTS_STREAM, ensure_streams
from knowrithm_common.testing import environment
from knowrithm_stack.ports import free_port
from knowrithm_stack.servers import NatsServer

from .conftest import caught_up, publish
from .feed import company_feed
from .test_projection_families import event, history


async def everything(app) -> dict[str, list[tuple]]:
    """The full contents of every projection table, sorted."""
    async with app.state.db.sessions() as session:
        return {
            model.__tablename__: sorted(
                (tuple(row) for row in await session.execute(select(model.__table__))), key=repr
            )
            for model in PROJECTION_TABLES
        }


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "knowrithm_analytics.rebuild", *args,
        env={**os.environ, **env, "COLUMNS": "120"}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


async def run_main(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """The command's main function in a thread of this process (it runs its own event loop)."""
    out = io.StringIO()

    def main_with_env() -> int:
        with environment(env):
            return main(list(args), console=Console(file=out, width=120))

    code = await asyncio.to_thread(main_with_env)
    return code, out.getvalue()


@pytest.fixture(scope="module")
async def fed(client):
    """A mix of every family for three companies, redelivered and out-of-order events included."""
    app = client.app
    feeds = [company_feed("Rebuild A"), company_feed("Rebuild B")]
    company = uuid.uuid4()
    ids, events = history(company)
    late = event(LeadRegisteredV1(lead_id=ids["lead"], channel="widget", status="new"), company, t=1)
    for e in [*feeds[0].events, *feeds[1].events, *events, events[3], late]:
        await publish(app, e)
    await caught_up(app)
    return [f.company_id for f in feeds] + [company]


async def test_rebuild_while_the_live_consumer_runs_gives_back_every_row(client, fed, analytics_env):
    app = client.app
    before = await everything(app)
    assert all(before[name] for name in before)  # every table holds something to lose

    with environment(analytics_env):
        result = await rebuild(AnalyticsSettings(), batch_size=200)
    await caught_up(app)

    assert await everything(app) == before
    assert result.failed == [] and result.first_seq == 1
    assert result.events == result.last_seq - result.first_seq + 1
    assert result.duplicates >= 1  # the redelivered event: applied once, as the live consumer did
    assert result.rows == {name: len(rows) for name, rows in before.items()}


async def test_rebuild_command_exits_0_prints_progress_and_changes_no_number(client, fed, analytics_env):
    app = client.app
    before = await everything(app)
    code, output = await run_cli("--yes", env=analytics_env)
    await caught_up(app)

    assert code == 0, output
    assert "replaying events" in output and "100%" in output and "events/s" in output
    assert "Replayed" in output and "0 failed" in output
    assert await everything(app) == before


async def test_rebuild_command_asks_first_and_refuses_a_stream_that_lost_its_oldest_events(
    stack, analytics_env, tmp_path
):
    url = stack.create_database(f"analytics_rebuild_partial_{uuid.uuid4().hex[:6]}")
    upgrade(package="knowrithm_analytics", schema="analytics", url=url)
    nats = NatsServer(data_dir=tmp_path, port=free_port(), monitor_port=free_port())
    nats.start(wait=True, timeout=30)
    try:
        nc = await nats_connect(nats.url)
        js = nc.jetstream()
        await ensure_streams(js)
        company = uuid.uuid4()
        for i in range(3):
            lead = new_event(LeadRegisteredV1(lead_id=uuid.uuid4(), channel="admin", source=f"s{i}", status="new"),
                             source="conversations", company_id=company)
            await js.publish(lead.subject, lead.model_dump_json().encode())
        await js.delete_msg(EVENTS_STREAM, 1)  # as if the first event had aged out
        await nc.close()
        env = {**analytics_env, "DATABASE_URL": url, "NATS_URL": nats.url}

        code, output = await run_main(env=env)  # no --yes, and no terminal to ask on
        assert code == 2 and "--yes" in output

        code, output = await run_main("--yes", env=env)
        assert code == 2 and "aged out" in output and "--accept-partial" in output

        code, output = await run_main("--yes", "--accept-partial", env=env)
        assert code == 0, output
        assert "Replayed 2 events (sequences 2 to 3)" in output
    finally:
        nats.stop()
    with environment(env):
        from knowrithm_common.db.session import Database

        db = Database(url, schema="analytics")
        async with db.sessions() as session:
            sources = set(await session.scalars(select(LeadFact.source).where(LeadFact.company_id == company)))
            assert sources == {"s1", "s2"}  # what remained of the stream
            assert await session.scalar(select(MessageFact.message_id)) is None
        await db.dispose()
