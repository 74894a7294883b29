"""Pagination as the reference API does it: page, per_page, total, pages, has_next, has_prev.

Both numbers are bounded on every list route (`Page`, `pages(...)`): an unbounded `page` once
overflowed PostgreSQL's OFFSET (`?page=10**20` was a 500). A page past the end is an empty
page with the true totals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

MAX_PER_PAGE = 100
# With MAX_PER_PAGE this reaches 100 million rows, far past any list a person pages through.
MAX_PAGE = 1_000_000


class PageParams(BaseModel):
    page: int = 1
    per_page: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def pages(*, default: int = 20, maximum: int = MAX_PER_PAGE, items: str = "Items") -> Any:
    """The page parameters of one list route, declared beside it as a type alias (which type
    checkers accept): `MessagePage = Annotated[PageParams, pages(default=50, items="Messages")]`.

    `page` is 1 to MAX_PAGE; `per_page` is 1 to `maximum` (at most MAX_PER_PAGE), `default`
    when not given. Out of range: 422 in the shared error shape.
    """
    if not 1 <= default <= maximum <= MAX_PER_PAGE:
        raise ValueError(f"per_page default {default} must lie in 1..{maximum} (max {MAX_PER_PAGE})")

    def dependency(
        page: int = Query(1, ge=1, le=MAX_PAGE, description="Page number, from 1"),
        per_page: int = Query(default, ge=1, le=maximum, description=f"{items} per page"),
    ) -> PageParams:
        return PageParams(page=page, per_page=per_page)

    return Depends(dependency)


# The usual 20 items per page, up to 100.
Page = Annotated[PageParams, pages()]


class Pagination(BaseModel):
    page: int
    per_page: int
    total: int
    pages: int
    has_next: bool
    has_prev: bool

    @classmethod
    def of(cls, params: PageParams, total: int) -> Pagination:
        """The block of `params`' rows; rows starting inside a page (an offset that is not a
        multiple of per_page) belong to the page of their first row."""
        pages = math.ceil(total / params.per_page) if total else 0
        return cls(
            page=params.offset // params.per_page + 1,
            per_page=params.per_page,
            total=total,
            pages=pages,
            has_next=params.offset + params.per_page < total,
            has_prev=params.offset > 0,
        )


async def paginate(
    session: AsyncSession, stmt: Select[Any], params: PageParams
) -> tuple[Sequence[Any], Pagination]:
    """Run `stmt` for one page and count the whole result."""
    total = (
        await session.execute(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ).scalar_one()
    if params.offset >= total:
        return [], Pagination.of(params, total)  # past the end: nothing to fetch
    rows = (await session.execute(stmt.limit(params.per_page).offset(params.offset))).scalars().all()
    return rows, Pagination.of(params, total)
