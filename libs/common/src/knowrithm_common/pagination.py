"""Pagination as the reference API does it: page, per_page, total, pages, has_next, has_prev."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PER_PAGE = 100


class PageParams(BaseModel):
    page: int = 1
    per_page: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_params(
    page: int = Query(1, ge=1, description="Page number, from 1"),
    per_page: int = Query(20, ge=1, le=MAX_PER_PAGE, description="Items per page"),
) -> PageParams:
    """FastAPI dependency reading `page` and `per_page` from the query string."""
    return PageParams(page=page, per_page=per_page)


class Pagination(BaseModel):
    page: int
    per_page: int
    total: int
    pages: int
    has_next: bool
    has_prev: bool

    @classmethod
    def of(cls, params: PageParams, total: int) -> Pagination:
        pages = math.ceil(total / params.per_page) if total else 0
        return cls(
            page=params.page,
            per_page=params.per_page,
            total=total,
            pages=pages,
            has_next=params.page < pages,
            has_prev=params.page > 1,
        )


async def paginate(
    session: AsyncSession, stmt: Select[Any], params: PageParams
) -> tuple[Sequence[Any], Pagination]:
    """Run `stmt` for one page and count the whole result."""
    total = (
        await session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ).scalar_one()
    rows = (await session.execute(stmt.limit(params.per_page).offset(params.offset))).scalars().all()
    return rows, Pagination.of(params, total)
