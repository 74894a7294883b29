"""What the API and the workers share: built once per process in the lifespan, kept on
`app.state.deps`."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from knowrithm_common.db.session import Database
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.rpc import RpcFailed, RpcUnavailable
from knowrithm_common.queries import AgentsOwner, agent_credentials, agents_fallback
from knowrithm_common.sysconfig import MAX_FILE_SIZE, SystemConfigWatcher
from knowrithm_ingestion.agents.projection import PROJECTION, apply_state, embedding_spec
from knowrithm_ingestion.blobs import BlobStore, LocalBlobStore
from knowrithm_ingestion.config import IngestionSettings
from knowrithm_ingestion.embeddings.base import Embedder, EmbeddingError
from knowrithm_ingestion.embeddings.factory import create_embedder
from knowrithm_ingestion.models import AgentView
from knowrithm_ingestion.vectorstore.base import VectorStore
from knowrithm_ingestion.vectorstore.factory import create_vector_store
from knowrithm_ingestion.websites.fetch import SafeFetcher

# Providers that run in this process need no key from the agents service.
LOCAL_PROVIDERS = frozenset({"offline", "sentence-transformers"})


@dataclass
class Deps:
    db: Database
    nats: NatsConnection
    settings: IngestionSettings
    blobs: BlobStore
    store: VectorStore
    fetcher: SafeFetcher
    agents: AgentsOwner  # read-your-writes of the agents projection (requests only)
    # The API process follows the system configuration's `max_file_size` (watch_config).
    config: SystemConfigWatcher | None = None

    @property
    def max_file_size(self) -> int:
        """The largest file an upload accepts now: the configuration entry's, else MAX_FILE_SIZE."""
        if self.config is None:
            return self.settings.max_file_size
        return self.config.get(MAX_FILE_SIZE, self.settings.max_file_size)

    async def embedder_for(self, agent: AgentView) -> Embedder:
        """The embedder of an agent's current model, with its key fetched from the agents service."""
        spec = embedding_spec(agent)  # an agent without embedding settings is refused before any key is asked
        if spec.provider not in LOCAL_PROVIDERS:
            api_key = await self.embedding_key(company_id=agent.company_id, agent_id=agent.agent_id)
            spec = dataclasses.replace(spec, api_key=api_key)
        s = self.settings
        return create_embedder(
            spec,
            timeout=s.embed_timeout_seconds,
            batch_size=s.embed_batch_size,
            max_retries=s.embed_max_retries,
        )

    async def embedding_key(self, *, company_id: uuid.UUID, agent_id: uuid.UUID) -> str | None:
        try:
            reply = await agent_credentials(self.nats, company_id=company_id, agent_id=agent_id)
        except RpcUnavailable as exc:
            raise EmbeddingError(
                "The agents service did not answer for the embedding key; retrying later", retryable=True,
                code="embedding_unavailable",
            ) from exc
        except RpcFailed as exc:
            raise EmbeddingError(f"The agent's embedding settings are unavailable ({exc.message})") from exc
        return reply.embedding_api_key


async def build_deps(app: FastAPI) -> None:
    """Lifespan hook: the blob store, vector store and fetcher of this process."""
    settings: IngestionSettings = app.state.settings
    store = create_vector_store(
        backend=settings.backend,
        engine=app.state.db.engine,
        weaviate_url=settings.weaviate_url or None,
        weaviate_api_key=settings.weaviate_api_key.get_secret_value() or None,
    )
    await store.setup()
    fetcher = SafeFetcher(
        allowlist=settings.allowlist(),
        timeout=settings.fetch_timeout_seconds,
        max_redirects=settings.fetch_max_redirects,
        max_bytes=settings.max_file_size,
        user_agent=settings.user_agent,
    )
    app.state.deps = Deps(
        db=app.state.db,
        nats=app.state.nats,
        settings=settings,
        blobs=LocalBlobStore(settings.blob_dir),
        store=store,
        fetcher=fetcher,
        agents=agents_fallback(projection=PROJECTION, db=app.state.db, nats=app.state.nats, apply=apply_state,
                               timeout=settings.agents_lookup_timeout_seconds),
    )


async def watch_config(app: FastAPI) -> None:
    """Lifespan hook of the API: uploads and URL downloads follow the `max_file_size` entry live."""
    deps: Deps = app.state.deps
    watcher = SystemConfigWatcher(app.state.redis, interval=deps.settings.system_config_refresh_seconds)

    def changed(_: object) -> None:
        deps.fetcher.max_bytes = deps.max_file_size

    watcher.on_change(changed)
    deps.config = watcher
    await watcher.start()


async def close_deps(app: FastAPI) -> None:
    deps: Deps = app.state.deps
    if deps.config is not None:
        await deps.config.stop()
    await deps.fetcher.aclose()
    await deps.store.close()
    await deps.agents.close()


def get_deps(request: Request) -> Deps:
    return request.app.state.deps


# This process's dependencies as an endpoint parameter type: `deps: Dependencies`.
Dependencies = Annotated[Deps, Depends(get_deps)]
