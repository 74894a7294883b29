"""Rebuild every analytics projection from the EVENTS stream.

    python -m knowrithm_analytics.rebuild [--yes] [--accept-partial] [--batch-size N]

Reads DATABASE_URL and NATS_URL (and the rest of the analytics settings) from the
environment, like the service. Steps:

1. Refuse (exit 2) when the stream no longer holds its first event (its first sequence is
   above 1: events older than the stream's max age, 30 days, are gone and the rebuilt numbers
   would miss them), unless `--accept-partial`.
2. In one transaction, delete every projection row (companies, users, agents, conversations,
   messages, leads, feedback, documents, database connections, API keys, API requests, audit
   log) and the processed-events record of the projections consumer.
3. Replay the stream from its first event up to the last one present at the start, through
   the same HANDLERS as the live consumer, in batches of one transaction each. Each event is
   recorded as processed for the projections consumer, and applied only if it was not
   recorded already (a redelivered id, or one the live consumer applied meanwhile: the first
   occurrence wins, as for the live consumer). An event whose handler fails is reported and
   skipped, as the live consumer dead-letters it.

The live consumer may keep running meanwhile: every handler is idempotent on its own (facts
are inserted once, states replaced only by newer events), so an event applied by both, or
twice, lands once; events published after the start are the live consumer's. Until the
replay ends, readers see partial numbers. Webhooks, exports and system-metric samples are
not projections and are left alone. Exit status: 0 done (failed events are listed), 1 error,
2 refused.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.prompt import Confirm
from sqlalchemy import delete, func, select

from knowrithm_analytics.config import AnalyticsSettings
from knowrithm_analytics.models import PROJECTION_TABLES, SCHEMA, shared
from knowrithm_analytics.projections.handlers import HANDLERS
from knowrithm_analytics.projections.replay import apply_batch, retrying
from knowrithm_common.db.session import Database
from knowrithm_common.events import EventEnvelope
from knowrithm_common.messaging.streams import EVENTS_STREAM, ensure_streams

EXIT_OK, EXIT_REFUSED = 0, 2


class Refused(Exception):
    """The rebuild would lose data and was not told to accept that."""


@dataclass
class RebuildResult:
    first_seq: int = 0
    last_seq: int = 0
    events: int = 0
    applied: int = 0
    duplicates: int = 0  # an event id seen before (redelivered, or applied by the live consumer meanwhile)
    ignored: int = 0  # no handler (another catalogue version) or not an envelope
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (sequence, type, error)
    seconds: float = 0.0  # the whole rebuild
    replay_seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Events replayed per second."""
        return self.events / self.replay_seconds if self.replay_seconds > 0 else 0.0


class Reporter:
    """The progress bar: stage, percent, events and events/s."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>9} events/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID = self.progress.add_task("checking stream", total=None, rate="-")
        self.started, self._printed = time.perf_counter(), 0

    def stage(self, name: str, *, total: int | None = None) -> None:
        """A new stage; with `total`, a counted one (the bar restarts)."""
        if total is None:
            self.progress.update(self.task, description=name)
        else:
            self.progress.update(self.task, description=name, total=total, completed=0)
            self.started, self._printed = time.perf_counter(), 0
        if not self.console.is_terminal:  # no live bar (a log): one line per stage
            self.console.print(name + (f" ({total:,} events)" if total is not None else ""))

    def advance(self, done: int) -> None:
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        self.progress.update(self.task, completed=done, rate=f"{rate:,.0f}")
        total = self.progress.tasks[0].total or 0
        percent = int(done * 100 / total) if total else 100
        if not self.console.is_terminal and percent >= self._printed + 10:  # a log: every 10 %
            self._printed = percent - percent % 10
            self.console.print(f"  {percent:3d}%  {done:,}/{total:,} events  {rate:,.0f} events/s")


async def _stream_bounds(nc: nats.NATS, *, accept_partial: bool) -> tuple[int, int, int]:
    js = nc.jetstream()
    await ensure_streams(js)
    state = (await js.stream_info(EVENTS_STREAM)).state
    if state.first_seq > 1 and not accept_partial:
        raise Refused(
            f"the {EVENTS_STREAM} stream starts at sequence {state.first_seq:,}: events 1 to "
            f"{state.first_seq - 1:,} have aged out (max age 30 days), so a rebuild would lose what "
            "they recorded. Pass --accept-partial to rebuild from the events that remain."
        )
    return state.first_seq, state.last_seq, state.messages


async def _clear(db: Database, consumer: str) -> None:
    """Delete every projection row and the consumer's processed-events record (again after a
    deadlock with the live consumer)."""

    async def clear() -> None:
        async with db.sessions() as session, session.begin():
            for model in PROJECTION_TABLES:
                await session.execute(delete(model))
            processed = shared.processed
            await session.execute(delete(processed).where(processed.c.consumer == consumer))

    await retrying(clear)


async def _replay_batches(
    nc: nats.NATS, *, last_seq: int, batch_size: int
) -> AsyncIterator[list[tuple[int, bytes]]]:
    """(stream sequence, payload) batches from the first event up to `last_seq`."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=60.0
    )
    sub = await nc.jetstream().pull_subscribe("events.>", durable=None, stream=EVENTS_STREAM, config=config)
    try:
        while True:
            try:
                messages = await sub.fetch(batch_size, timeout=5)
            except TimeoutError:
                return  # nothing left (the last events were removed meanwhile)
            batch = [
                (m.metadata.sequence.stream, m.data)
                for m in messages
                if m.metadata.sequence.stream <= last_seq
            ]
            if batch:
                yield batch
            if messages[-1].metadata.sequence.stream >= last_seq or messages[-1].metadata.num_pending == 0:
                return
    finally:
        await sub.unsubscribe()


async def _apply(
    db: Database, consumer: str, batch: Sequence[tuple[int, bytes]], result: RebuildResult
) -> None:
    events: list[EventEnvelope] = []
    sequence: dict[str, int] = {}
    for seq, payload in batch:
        try:
            event = EventEnvelope.model_validate_json(payload)
        except ValidationError:
            result.ignored += 1
            continue
        if event.type not in HANDLERS:
            result.ignored += 1
            continue
        events.append(event)
        sequence[event.id] = seq
    outcome = await apply_batch(
        db, events, handlers=HANDLERS, processed=shared.processed, consumer=consumer
    )
    result.applied += outcome.applied
    result.duplicates += outcome.duplicates
    result.failed += [(sequence[e.id], e.type, error) for e, error in outcome.failed]
    result.events += len(batch)


async def _row_counts(db: Database) -> dict[str, int]:
    async with db.sessions() as session:
        return {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in PROJECTION_TABLES
        }


async def rebuild(
    settings: AnalyticsSettings,
    *,
    accept_partial: bool = False,
    batch_size: int = 500,
    reporter: Reporter | None = None,
) -> RebuildResult:
    """Clear every projection and replay the EVENTS stream into it (see the module's docstring)."""
    reporter = reporter or Reporter(Console(quiet=True))
    result = RebuildResult()
    nc = await nats.connect(settings.nats_url, name="knowrithm-analytics-rebuild", connect_timeout=5)
    db = Database(settings.database_url, schema=SCHEMA, pool_size=2)
    started = time.perf_counter()
    try:
        result.first_seq, result.last_seq, messages = await _stream_bounds(nc, accept_partial=accept_partial)
        reporter.stage("clearing projections")
        await _clear(db, settings.projections_consumer)
        reporter.stage("replaying events", total=messages)
        replay_started = time.perf_counter()
        if messages:
            async for batch in _replay_batches(nc, last_seq=result.last_seq, batch_size=batch_size):
                await _apply(db, settings.projections_consumer, batch, result)
                reporter.advance(result.events)
        result.replay_seconds = time.perf_counter() - replay_started
        reporter.stage("counting rows")
        result.rows = await _row_counts(db)
        reporter.stage("done")
    finally:
        result.seconds = time.perf_counter() - started
        await nc.close()
        await db.dispose()
    return result


def _print_totals(console: Console, result: RebuildResult) -> None:
    console.print(
        f"Replayed {result.events:,} events (sequences {result.first_seq:,} to {result.last_seq:,}) "
        f"in {result.seconds:.1f} s (replay {result.rate:,.0f} events/s): {result.applied:,} applied, "
        f"{result.duplicates:,} duplicates, {result.ignored:,} ignored (no handler), "
        f"{len(result.failed):,} failed.",
        soft_wrap=True,
    )
    rows = ", ".join(f"{name} {count:,}" for name, count in result.rows.items())
    console.print(f"Rows: {rows}", soft_wrap=True)
    if result.failed:
        console.print("[yellow]Failed events were skipped (the live consumer dead-letters the same):[/]")
    for seq, event_type, error in result.failed[:20]:
        console.print(f"  #{seq} {event_type}: {error}", soft_wrap=True, markup=False)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m knowrithm_analytics.rebuild", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--accept-partial",
        action="store_true",
        help="rebuild even though the stream's oldest events have aged out",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="events per transaction (default 500)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, console: Console | None = None) -> int:
    """Run the rebuild from the command line; returns the exit status."""
    args = parse_args(argv)
    console = console or Console()
    settings = AnalyticsSettings()
    if not args.yes:
        if not sys.stdin.isatty():
            console.print("Refusing to rebuild without --yes (no terminal to confirm on).")
            return EXIT_REFUSED
        question = "Delete every analytics projection row and rebuild it from the EVENTS stream?"
        if not Confirm.ask(question, console=console, default=False):
            return EXIT_REFUSED
    reporter = Reporter(console)
    try:
        with reporter.progress:
            result = asyncio.run(
                rebuild(
                    settings,
                    accept_partial=args.accept_partial,
                    batch_size=args.batch_size,
                    reporter=reporter,
                )
            )
    except Refused as exc:
        console.print(f"[red]Refused:[/] {exc}")
        return EXIT_REFUSED
    _print_totals(console, result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
