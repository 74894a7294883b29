"""Bulk import of providers and models (super admins): a JSON file or pasted JSON.

`POST /api/v1/providers/bulk-import` is all or nothing: one invalid row refuses the whole
import. The screen shows each refused row with the API's messages (from the refusal's `loc`:
`["body", "providers", <row>, ...]`) and offers to import the rows the API did not name, as a
second, explicit step: nothing is imported behind the person's back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.pages.platform_forms import located
from knowrithm_console.pages.providers import HOME, counts_notice
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render, super_admin_page

router = APIRouter(prefix=f"{PREFIX}/platform/providers")
PageDep = Annotated[Page, Depends(page_of)]
MAX_BYTES = 1024 * 1024  # the gateway's limit for JSON bodies


@dataclass(slots=True)
class Row:
    """One provider of the import, with the API's messages about it."""

    number: int  # 1-based, as a person counts
    entry: Any
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        if isinstance(self.entry, dict):
            return str(self.entry.get("label") or self.entry.get("value") or "")
        return ""


class Unreadable(Exception):
    """The catalogue given is not JSON of the import's shape."""


def read_catalogue(raw: str) -> list[Any]:
    """The providers of `{"providers": [...]}` or of a bare list, else Unreadable."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise Unreadable(_("This is not JSON: %(problem)s") % {"problem": exc}) from None
    rows = data.get("providers") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not rows:
        raise Unreadable(_("Give a list of providers, or an object with a “providers” list."))
    return rows


def rows_of(entries: list[Any], exc: ApiError) -> tuple[list[Row], list[str]]:
    """Each row with its problems, and the problems not about one row."""
    rows = [Row(i + 1, entry) for i, entry in enumerate(entries)]
    general: list[str] = []
    for loc, message in located(exc):
        where = [part for part in loc if part != "body"]
        if len(where) >= 2 and where[0] == "providers" and isinstance(where[1], int) and where[1] < len(rows):
            path = ".".join(f"[{p + 1}]" if isinstance(p, int) else str(p) for p in where[2:])
            path = path.replace(".[", "[")
            rows[where[1]].problems.append(f"{path}: {message}" if path else message)
        else:
            general.append(message)
    if not any(row.problems for row in rows) and not general:
        general.append(message_of(exc))
    return rows, general


async def _form_text(page: Page) -> str:
    form = await page.request.form()
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read(MAX_BYTES + 1)
        if len(content) > MAX_BYTES:
            raise Unreadable(_("The file is larger than 1 MB."))
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Unreadable(_("The file is not UTF-8 text.")) from None
    value = form.get("catalogue")
    return value if isinstance(value, str) else ""


@router.get("/import")
async def import_form(page: PageDep) -> Response:
    """The import form: a JSON file or the JSON pasted."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    return await render(page, "platform_import.html", raw="", error=None, rows=[], general=[], valid="")


@router.post("/import")
async def bulk_import(page: PageDep) -> Response:
    """`POST /providers/bulk-import`; a refusal shows each row's problems and offers the valid rows."""
    if (gone := await super_admin_page(page)) is not None:
        return gone
    assert page.session is not None
    raw = ""
    try:
        raw = await _form_text(page)
        entries = read_catalogue(raw)
    except Unreadable as bad:
        return await render(page, "platform_import.html", status=422, raw=raw[:MAX_BYTES], error=str(bad),
                            rows=[], general=[], valid="")
    try:
        counts = await page.api.call(page.session, "POST", "/api/v1/providers/bulk-import",
                                     client=page.client, json={"providers": entries})
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        rows, general = rows_of(entries, exc)
        good = [row.entry for row in rows if not row.problems]
        valid = json.dumps({"providers": good}, ensure_ascii=False, indent=2) if good and not general else ""
        return await render(page, "platform_import.html", status=exc.status, raw=raw, error=None,
                            rows=[row for row in rows if row.problems], general=general, valid=valid,
                            valid_count=len(good), total=len(rows))
    page.session.notice = counts_notice(_("Imported."), counts)
    await page.store.save(page.session)
    return redirect(page, f"{HOME}#providers")
