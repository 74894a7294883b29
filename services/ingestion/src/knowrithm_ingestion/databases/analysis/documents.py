"""Table summaries as documents, so the normal search finds them and chat cites them.

Each live table of an analysed connection has one document (source `database`, source key
`database-summary:<connection id>:<schema>.<table>`, named "<connection> · <table> (table
summary)"): its summary in use and its columns, created or replaced through the export's path
(`save_table_document`: blob, then the normal pipeline chunks, embeds and indexes it; unchanged
text of a processed document is left alone). A table that is gone or soft-deleted hides its
document (and its chunks) at the same instant; restoring the table restores it. The connection's
own delete and restore cover these documents with the exported ones (`export.service._exported`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.events import Actor
from knowrithm_common.events.ingestion import DocumentDeletedV1, DocumentRestoredV1
from knowrithm_ingestion.blobs import BlobStore
from knowrithm_ingestion.databases.export.render import qualified, summary_key, summary_prefix
from knowrithm_ingestion.databases.export.service import SOURCE, save_table_document
from knowrithm_ingestion.databases.semantics.shapes import table_key
from knowrithm_ingestion.documents import repository as docs
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable, Document, outbox


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def document_title(connection: DatabaseConnection, table: DatabaseTable) -> str:
    """`<connection name> · <schema.table> (table summary)`."""
    return f"{connection.name} · {qualified(table.schema_name or None, table.name)} (table summary)"


def render_summary(connection: DatabaseConnection, table: DatabaseTable, summary: str) -> bytes:
    """The Markdown text of a table's summary document."""
    name = qualified(table.schema_name or None, table.name)
    columns = [c for c in table.columns or [] if isinstance(c, dict) and c.get("name")]
    listed = ", ".join(f"{c['name']} ({c['type']})" if c.get("type") else str(c["name"]) for c in columns)
    parts = [f"# {_plain(document_title(connection, table))}", _plain(summary)]
    size = f" It holds about {table.row_estimate:,} rows." if table.row_estimate is not None else ""
    parts.append(_plain(f"The table {name} of the database {connection.name} has the columns: {listed}."))
    parts[-1] += size
    return ("\n\n".join(parts) + "\n").encode("utf-8")


async def sync_summary_documents(
    session: AsyncSession,
    blobs: BlobStore,
    connection: DatabaseConnection,
    texts: dict[str, str],
    *,
    actor: Actor | None = None,
) -> None:
    """Write each live table's summary document (`texts` by node id), and hide those of tables no longer
    live. The caller holds the connection's row lock."""
    live = list(await session.scalars(select(DatabaseTable).where(
        DatabaseTable.connection_id == connection.id, DatabaseTable.not_deleted())))
    keys = set()
    for table in live:
        text = texts.get(table_key(table.schema_name, table.name))
        if not text:
            continue
        key = summary_key(connection.id, table.schema_name, table.name)
        keys.add(key)
        await save_table_document(session, blobs, connection=connection, table=table, actor=actor, key=key,
                                  title=document_title(connection, table),
                                  data=render_summary(connection, table, text))
    stale = [d for d in await _documents(session, connection) if d.source_url not in keys]
    await _hide(session, stale, at=dt.datetime.now(dt.UTC), actor=actor)


async def _documents(
    session: AsyncSession, connection: DatabaseConnection, *, keys: Sequence[str] | None = None,
    deleted_at: dt.datetime | None = None,
) -> list[Document]:
    stmt = select(Document).where(
        Document.company_id == connection.company_id, Document.source == SOURCE,
        Document.source_url.startswith(summary_prefix(connection.id), autoescape=True),
    )
    if keys is not None:
        stmt = stmt.where(Document.source_url.in_(keys))
    stmt = stmt.where(Document.not_deleted() if deleted_at is None else Document.deleted_at == deleted_at)
    return list(await session.scalars(stmt.with_for_update()))


async def _hide(session: AsyncSession, documents: Sequence[Document], *, at: dt.datetime,
                actor: Actor | None) -> None:
    for document in documents:
        document.deleted_at = at
        deleted = DocumentDeletedV1(document_id=document.id, agent_id=document.agent_id)
        await outbox.add(session, deleted, company_id=document.company_id, actor=actor)
    if documents:
        await docs.soft_delete_chunks(session, [d.id for d in documents], at)


def _keys(connection: DatabaseConnection, tables: Sequence[DatabaseTable]) -> list[str]:
    return [summary_key(connection.id, t.schema_name, t.name) for t in tables]


async def hide_summary_documents(
    session: AsyncSession, connection: DatabaseConnection, tables: Sequence[DatabaseTable], at: dt.datetime,
    *, actor: Actor | None = None,
) -> None:
    """Soft-delete the summary documents of these tables (and their chunks) at `at`, the tables' deletion."""
    if tables:
        await _hide(session, await _documents(session, connection, keys=_keys(connection, tables)), at=at,
                    actor=actor)


async def restore_summary_documents(
    session: AsyncSession, connection: DatabaseConnection, tables: Sequence[DatabaseTable],
    deleted_at: dt.datetime, *, actor: Actor | None = None,
) -> None:
    """Restore the summary documents of these tables deleted with them (at `deleted_at`), and their chunks."""
    keys = _keys(connection, tables)
    for document in await _documents(session, connection, keys=keys, deleted_at=deleted_at):
        await docs.restore_chunks(session, document.id, deleted_at=deleted_at)
        document.deleted_at = None
        restored = DocumentRestoredV1(document_id=document.id, agent_id=document.agent_id)
        await outbox.add(session, restored, company_id=document.company_id, actor=actor)
