"""Every query of documents and chunks; scoped by company (None: a super admin, every company)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.pagination import PageParams, Pagination, paginate
from knowrithm_ingestion.models import Chunk, Document


def scoped(stmt: Select[Any], model: Any, company_id: uuid.UUID | None) -> Select[Any]:
    return stmt if company_id is None else stmt.where(model.company_id == company_id)


async def get_document(
    session: AsyncSession, document_id: uuid.UUID, company_id: uuid.UUID | None, *,
    deleted: bool | None = False, lock: bool = False,
) -> Document | None:
    """A document of the company: live (default), soft-deleted (`deleted=True`) or either (None)."""
    stmt = scoped(select(Document).where(Document.id == document_id), Document, company_id)
    if deleted is not None:
        stmt = stmt.where(Document.only_deleted() if deleted else Document.not_deleted())
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def list_documents(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams, *,
    agent_id: uuid.UUID | None = None, status: str | None = None, document_type: str | None = None,
    search: str | None = None, deleted: bool = False,
) -> tuple[Sequence[Document], Pagination]:
    """One page of the company's documents, live or soft-deleted, with filters, newest first."""
    stmt = scoped(select(Document), Document, company_id)
    stmt = stmt.where(Document.only_deleted() if deleted else Document.not_deleted())
    if agent_id is not None:
        stmt = stmt.where(Document.agent_id == agent_id)
    if status:
        stmt = stmt.where(Document.status == status)
    if document_type:
        stmt = stmt.where(Document.document_type == document_type)
    if search:
        stmt = stmt.where(Document.original_filename.ilike(f"%{_escape(search)}%", escape="\\"))
    return await paginate(session, stmt.order_by(Document.created_at.desc(), Document.id), page)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_chunks(
    session: AsyncSession, company_id: uuid.UUID | None, page: PageParams, *,
    document_id: uuid.UUID | None = None, deleted: bool = False,
) -> tuple[Sequence[Chunk], Pagination]:
    """One page of the company's live or soft-deleted chunks (of one document), in document order."""
    stmt = scoped(select(Chunk), Chunk, company_id)
    stmt = stmt.where(Chunk.only_deleted() if deleted else Chunk.not_deleted())
    if document_id is not None:
        stmt = stmt.where(Chunk.document_id == document_id)
    return await paginate(session, stmt.order_by(Chunk.document_id, Chunk.chunk_index), page)


async def get_chunk(
    session: AsyncSession, chunk_id: uuid.UUID, company_id: uuid.UUID | None, *, deleted: bool | None
) -> Chunk | None:
    """A chunk of the company: live, soft-deleted (`deleted=True`) or either (None)."""
    stmt = scoped(select(Chunk).where(Chunk.id == chunk_id), Chunk, company_id)
    if deleted is not None:
        stmt = stmt.where(Chunk.only_deleted() if deleted else Chunk.not_deleted())
    return await session.scalar(stmt)


async def soft_delete_chunks(
    session: AsyncSession, document_ids: Sequence[uuid.UUID], at: dt.datetime
) -> list[uuid.UUID]:
    """Soft-delete the live chunks of these documents at `at`; their ids."""
    result = await session.execute(
        update(Chunk)
        .where(Chunk.document_id.in_(document_ids), Chunk.not_deleted())
        .values(deleted_at=at)
        .returning(Chunk.id)
    )
    return list(result.scalars())


async def restore_chunks(
    session: AsyncSession, document_id: uuid.UUID, *, deleted_at: dt.datetime | None = None
) -> list[Chunk]:
    """Restore a document's soft-deleted chunks (only those deleted at `deleted_at` when given)."""
    stmt = update(Chunk).where(Chunk.document_id == document_id, Chunk.only_deleted())
    if deleted_at is not None:
        stmt = stmt.where(Chunk.deleted_at == deleted_at)
    result = await session.execute(stmt.values(deleted_at=None).returning(Chunk.id))
    ids = list(result.scalars())
    if not ids:
        return []
    return list(await session.scalars(select(Chunk).where(Chunk.id.in_(ids)).order_by(Chunk.chunk_index)))
