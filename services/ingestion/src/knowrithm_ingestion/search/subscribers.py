"""What search answers: `rpc.ingestion.search.v1`, the retrieval conversations asks for (queue
group `ingestion`, answered by any API replica)."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import INGESTION_SEARCH_SUBJECT, SearchReply, SearchRequest
from knowrithm_common.service import Background
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.search.service import search


def subscribers(app: FastAPI) -> list[Background]:
    """The search responder."""

    async def answer(request: SearchRequest) -> SearchReply:
        deps: Deps = app.state.deps
        async with deps.db.sessions() as session:
            return await search(session, deps, request)

    responder: RpcResponder[SearchRequest, SearchReply] = RpcResponder(
        nats=app.state.nats, subject=INGESTION_SEARCH_SUBJECT, queue="ingestion", request=SearchRequest,
        handler=answer,
    )
    return [responder]
