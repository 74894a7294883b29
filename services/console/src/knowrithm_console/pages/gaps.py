"""Knowledge gaps (admins only): the questions the company's agents could not answer, or whose
answers users rated not helpful, grouped as the API groups them
(`GET /api/v1/conversation/knowledge-gaps`), with filters by agent and period.

Each group shows its question, how often it was asked and why it counts (in words), its agents,
when it was last asked (in the user's time zone), links to its conversations' transcripts and an
"Add knowledge" link to the agent's Knowledge screen. The API's refusal of a filter (a period
that ends before it starts) is shown next to the filters, not as an error page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.pages.playground import agents_of
from knowrithm_console.web import PREFIX, Page, admin_page, page_of, render

router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]
PER_PAGE = 20


def _day(value: str) -> str:
    try:
        return dt.date.fromisoformat(value.strip()).isoformat() if value.strip() else ""
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class GapFilters:
    agent_id: str = ""
    since: str = ""  # YYYY-MM-DD, asked on or after that day
    until: str = ""  # YYYY-MM-DD, asked on or before that day
    page: int = 1

    @classmethod
    def of(cls, agent_id: str, since: str, until: str, page: int) -> GapFilters:
        try:
            agent = str(uuid.UUID(agent_id)) if agent_id else ""
        except ValueError:
            agent = ""
        return cls(agent, _day(since), _day(until), page)

    @property
    def on(self) -> bool:
        return bool(self.agent_id or self.since or self.until)

    def params(self) -> dict[str, Any]:
        found: dict[str, Any] = {"page": self.page, "per_page": PER_PAGE}
        for key, value in (("agent_id", self.agent_id), ("from", self.since), ("to", self.until)):
            if value:
                found[key] = value
        return found

    def query(self, page: int) -> str:
        return urlencode({**{k: v for k, v in self.params().items() if k != "per_page"}, "page": page})


@router.get("/knowledge-gaps")
async def knowledge_gaps(
    page: PageDep, agent_id: Annotated[str, Query(max_length=40)] = "",
    since: Annotated[str, Query(alias="from", max_length=20)] = "",
    until: Annotated[str, Query(alias="to", max_length=20)] = "",
    number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """The grouped questions without a good answer, largest groups first."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    filters = GapFilters.of(agent_id, since, until, number)
    agents = await agents_of(page)
    gaps: list[dict[str, Any]] = []
    pagination: dict[str, Any] = {}
    error = None
    try:
        body = await page.api.call(page.session, "GET", "/api/v1/conversation/knowledge-gaps",
                                   client=page.client, params=filters.params())
        gaps, pagination = list(body.get("knowledge_gaps") or []), body.get("pagination") or {}
    except ApiError as exc:
        if exc.status != 422:
            raise
        both = filters.since and filters.until
        error = _("The period must start before it ends.") if both else message_of(exc)
    return await render(page, "gaps.html", gaps=gaps, pagination=pagination, filters=filters, agents=agents,
                        error=error, status=422 if error else 200)
