"""`rpc.ingestion.search.v1`: the search conversations call for retrieval (queue group
`ingestion`, answered by any API replica)."""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import INGESTION_SEARCH_SUBJECT, SearchReply, SearchRequest
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.search.service import search


def search_responder(app: FastAPI) -> RpcResponder[SearchRequest, SearchReply]:
    async def answer(request: SearchRequest) -> SearchReply:
        deps: Deps = app.state.deps
        async with deps.db.sessions() as session:
            return await search(session, deps, request)

    return RpcResponder(nats=app.state.nats, subject=INGESTION_SEARCH_SUBJECT, queue="ingestion",
                        request=SearchRequest, handler=answer)
