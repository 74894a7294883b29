"""Tables every service keeps in its own schema: outbox, processed events, tasks."""

from __future__ import annotations

from alembic import op
from sqlalchemy import MetaData, Table

from knowrithm_common.db.base import NAMING_CONVENTION
from knowrithm_common.messaging.consumer import processed_events_table
from knowrithm_common.messaging.outbox import outbox_table
from knowrithm_common.tasks import tasks_table


class SharedTables:
    """The shared tables bound to one service's metadata."""

    def __init__(self, metadata: MetaData) -> None:
        self.outbox: Table = outbox_table(metadata)
        self.processed: Table = processed_events_table(metadata)
        self.tasks: Table = tasks_table(metadata)


def create_shared_tables() -> None:
    """Migration step: create the shared tables in the schema being migrated."""
    schema = op.get_context().version_table_schema
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    SharedTables(metadata)
    metadata.create_all(op.get_bind())


def drop_shared_tables() -> None:
    """Migration step: drop the shared tables (downgrade of the first revision)."""
    schema = op.get_context().version_table_schema
    for name in ("tasks", "processed_events", "outbox"):
        op.drop_table(name, schema=schema)
