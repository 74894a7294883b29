import uuid

import pytest
from sqlalchemy import select

from knowrithm_common.errors import NotFound
from knowrithm_common.identity import Principal, Role
from knowrithm_common.pagination import PageParams, Pagination, paginate
from knowrithm_common.tasks import (
    DEFAULT_POLL_AFTER_MS,
    TaskStatus,
    create_task,
    get_task,
    report_progress,
    update_task,
    with_poll_hint,
)


async def test_task_progress_is_visible_to_its_company_only(db, tables):
    company, other = uuid.uuid4(), uuid.uuid4()
    async with db.sessions() as s, s.begin():
        task_id = await create_task(s, tables.tasks, company_id=company, kind="document.process")
    await report_progress(db, tables.tasks, task_id, status=TaskStatus.RUNNING, progress=40, stage="embedding")
    owner = Principal(kind="user", company_id=company, role=Role.ADMIN)
    async with db.sessions() as s:
        view = await get_task(s, tables.tasks, task_id, owner)
        assert (view.status, view.progress, view.stage) == (TaskStatus.RUNNING, 40, "embedding")
        with pytest.raises(NotFound):
            await get_task(s, tables.tasks, task_id, Principal(kind="user", company_id=other, role=Role.ADMIN))
        admin = await get_task(s, tables.tasks, task_id, Principal(kind="user", role=Role.SUPER_ADMIN))
        assert admin.task_id == task_id


async def test_unfinished_tasks_tell_pollers_their_kinds_wait_and_final_ones_none(db, tables):
    company = uuid.uuid4()
    owner = Principal(kind="user", company_id=company, role=Role.ADMIN)
    hints = {"chat": 250}
    async with db.sessions() as s, s.begin():
        quick = await create_task(s, tables.tasks, company_id=company, kind="chat")
        slow = await create_task(s, tables.tasks, company_id=company, kind="document.process")
    async with db.sessions() as s:
        assert with_poll_hint(await get_task(s, tables.tasks, quick, owner), hints).poll_after_ms == 250
        slow_view = with_poll_hint(await get_task(s, tables.tasks, slow, owner), hints)
        assert slow_view.poll_after_ms == DEFAULT_POLL_AFTER_MS
    async with db.sessions() as s, s.begin():  # the outcome written with the work it reports on
        await update_task(s, tables.tasks, quick, status=TaskStatus.COMPLETED, progress=100, result={"ok": True})
    async with db.sessions() as s:
        done = with_poll_hint(await get_task(s, tables.tasks, quick, owner), hints)
    assert (done.status, done.progress, done.result, done.poll_after_ms) == (TaskStatus.COMPLETED, 100, {"ok": True}, None)


def test_pagination_fields_match_the_reference_api():
    p = Pagination.of(PageParams(page=2, per_page=10), total=25)
    assert p.model_dump() == {"page": 2, "per_page": 10, "total": 25, "pages": 3, "has_next": True, "has_prev": True}
    assert Pagination.of(PageParams(page=1, per_page=10), total=0).pages == 0


async def test_paginate_counts_all_and_returns_one_page(db, tables):
    company = uuid.uuid4()
    async with db.sessions() as s, s.begin():
        for _ in range(7):
            await create_task(s, tables.tasks, company_id=company, kind="k")
    t = tables.tasks
    stmt = select(t.c.id).where(t.c.company_id == company).order_by(t.c.id)
    async with db.sessions() as s:
        rows, page = await paginate(s, stmt, PageParams(page=2, per_page=5))
    assert len(rows) == 2 and page.total == 7 and page.has_prev and not page.has_next


async def test_page_past_the_end_is_empty_with_true_totals_and_huge_pages_are_refused(db, tables):
    import httpx
    from fastapi import FastAPI

    from knowrithm_common.errors import install_error_handlers
    from knowrithm_common.pagination import Page

    company = uuid.uuid4()
    async with db.sessions() as s, s.begin():
        for _ in range(3):
            await create_task(s, tables.tasks, company_id=company, kind="k")
    t = tables.tasks
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/tasks")
    async def tasks(page: Page) -> dict:
        async with db.sessions() as s:
            rows, pagination = await paginate(
                s, select(t.c.id).where(t.c.company_id == company).order_by(t.c.id), page
            )
        return {"rows": len(rows), **pagination.model_dump()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        past = await c.get("/tasks", params={"page": 1000, "per_page": 2})
        huge = await c.get("/tasks", params={"page": 10**20})
        wide = await c.get("/tasks", params={"per_page": 10**6})
    assert past.status_code == 200
    assert past.json() == {"rows": 0, "page": 1000, "per_page": 2, "total": 3, "pages": 2,
                           "has_next": False, "has_prev": True}
    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["query", "page"]
    assert wide.status_code == 422 and wide.json()["detail"][0]["loc"] == ["query", "per_page"]
