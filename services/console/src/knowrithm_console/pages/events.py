"""The live event inspector (admins only): the company's domain events as they happen.

`events.js` reads this console's stream (`/console/events/stream`), which opens the API's
`GET /api/v1/events/stream` with the admin's token and passes its bytes on (as the playground's
answer stream does); the script shows each event in a role=log list, newest first, capped, with
a filter by type and a pause. An event's webhook deliveries (if any webhook received it) are one
link away: `/console/events/{event_id}/deliveries` asks each of the company's webhooks' logs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse

from knowrithm_console.pages.webhooks import API, event_types
from knowrithm_console.web import PREFIX, Page, admin_page, page_of, render

router = APIRouter(prefix=f"{PREFIX}/events")
PageDep = Annotated[Page, Depends(page_of)]
STREAM_READ_SECONDS = 60.0  # the API sends a heartbeat every 15 s: a silent minute is a lost stream


@router.get("")
async def inspector(page: PageDep, types: Annotated[list[str], Query(max_length=100)] = []) -> Response:  # noqa: B006
    """The inspector: the filter by type, Pause, and the log the script fills."""
    if (gone := await admin_page(page)) is not None:
        return gone
    catalogue = await event_types(page)
    known = {e["type"] for e in catalogue}
    chosen = [t for t in types if t in known]
    return await render(page, "events.html", catalogue=catalogue, chosen=chosen,
                        stream_url=f"{PREFIX}/events/stream?types={','.join(chosen)}")


@router.get("/stream")
async def stream(page: PageDep, types: Annotated[str, Query(max_length=4000)] = "") -> Response:
    """The company's events as server-sent events, read from the API with the admin's token."""
    if page.session is None or not page.session.signed_in:
        return Response(status_code=401)
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    body = await page.api.stream(page.session, "/api/v1/events/stream", client=page.client,
                                 params={"types": types} if types else None, read_timeout=STREAM_READ_SECONDS)
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/{event_id}/deliveries")
async def deliveries(page: PageDep, event_id: Annotated[str, Path(max_length=36)]) -> Response:
    """The deliveries of one event to the company's webhooks, each linked to its detail."""
    if (gone := await admin_page(page)) is not None:
        return gone
    assert page.session is not None
    hooks = await page.api.call(page.session, "GET", API, client=page.client)
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for webhook in hooks.get("webhooks") or []:
        log = await page.api.call(page.session, "GET", f"{API}/{webhook['id']}/deliveries",
                                  client=page.client, params={"event_id": event_id})
        found.extend((webhook, d) for d in log.get("deliveries") or [])
    return await render(page, "event_deliveries.html", event_id=event_id, found=found)
