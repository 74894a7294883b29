"""The Weaviate store: one multi-tenant collection per vector dimension, one tenant per company.

Collections are named `<prefix><dimension>` (`KnowrithmChunk384`, ...) because a vector index
has one dimension; the dimension to search follows from the query vector. We bring our own
vectors (no vectorizer). Tenants are created on first insert (auto tenant creation); a company
without a tenant yet simply has nothing to find, count or delete. Deleting a company removes
its tenant from every collection. Object uuids are the chunk ids, so an upsert replaces.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from knowrithm_ingestion.vectorstore.base import SearchHit, SearchQuery, VectorRecord, VectorStore

DEFAULT_GRPC_PORT = 50051
VECTOR_NAME = "default"
INSERT_BATCH = 500
DELETE_ROUNDS = 100  # delete_many removes up to the server's query limit per call


class WeaviateStore(VectorStore):
    """Chunks in Weaviate; the async client is created in `setup()` and closed in `close()`."""

    name = "weaviate"

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        grpc_port: int | None = None,
        collection_prefix: str = "KnowrithmChunk",
    ) -> None:
        if not re.fullmatch(r"[A-Z][A-Za-z0-9_]*", collection_prefix):
            raise ValueError("the collection prefix must start with a capital letter (Weaviate's rule)")
        self._url, self._api_key, self._grpc_port = url, api_key, grpc_port
        self._prefix = collection_prefix
        self._client: Any = None
        self._known: set[int] = set()  # dimensions whose collection exists
        self._lock = asyncio.Lock()

    async def setup(self) -> None:
        """Connect and learn which dimension collections already exist."""
        import weaviate
        from weaviate.classes.init import Auth

        parts = urlsplit(self._url)
        secure = parts.scheme == "https"
        client = weaviate.use_async_with_custom(
            http_host=parts.hostname or "localhost",
            http_port=parts.port or (443 if secure else 80),
            http_secure=secure,
            grpc_host=parts.hostname or "localhost",
            grpc_port=self._grpc_port or DEFAULT_GRPC_PORT,
            grpc_secure=secure,
            auth_credentials=Auth.api_key(self._api_key) if self._api_key else None,
        )
        await client.connect()
        self._client = client
        self._known = await self._existing_dimensions()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def upsert(self, company_id: uuid.UUID, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id (object uuid = chunk id) in the company's tenant."""
        from weaviate.classes.data import DataObject

        by_dim: dict[int, list[VectorRecord]] = defaultdict(list)
        for record in records:
            if record.company_id != company_id:
                raise ValueError("every record must belong to the company it is upserted for")
            by_dim[len(record.vector)].append(record)
        for dim, group in by_dim.items():
            collection = (await self._collection(dim, create=True)).with_tenant(str(company_id))
            for start in range(0, len(group), INSERT_BATCH):
                objects = [_data_object(DataObject, r) for r in group[start : start + INSERT_BATCH]]
                result = await collection.data.insert_many(objects)
                if result.has_errors:
                    first = next(iter(result.errors.values()))
                    raise RuntimeError(f"Weaviate refused {len(result.errors)} objects: {first.message}")

    async def delete_ids(self, company_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        from weaviate.classes.query import Filter

        if ids:
            await self._delete_where(company_id, Filter.by_id().contains_any(list(ids)))

    async def delete_documents(self, company_id: uuid.UUID, document_ids: Sequence[uuid.UUID]) -> None:
        from weaviate.classes.query import Filter

        if document_ids:
            where = Filter.by_property("document_id").contains_any(list(document_ids))
            await self._delete_where(company_id, where)

    async def delete_agent(self, company_id: uuid.UUID, agent_id: uuid.UUID) -> None:
        from weaviate.classes.query import Filter

        await self._delete_where(company_id, Filter.by_property("agent_id").equal(agent_id))

    async def delete_company(self, company_id: uuid.UUID) -> None:
        """Remove the company's tenant from every dimension collection."""
        for collection in await self._tenant_collections(company_id):
            await collection.tenants.remove([str(company_id)])

    async def count_where(self, company_id: uuid.UUID, equal: Mapping[str, uuid.UUID]) -> int:
        from weaviate.classes.query import Filter

        conditions = [Filter.by_property(name).equal(value) for name, value in equal.items()]
        where = Filter.all_of(conditions) if conditions else None
        total = 0
        for collection in await self._tenant_collections(company_id):
            result = await collection.with_tenant(str(company_id)).aggregate.over_all(
                total_count=True, filters=where
            )
            total += int(result.total_count or 0)
        return total

    async def search(self, company_id: uuid.UUID, query: SearchQuery) -> list[SearchHit]:
        """Weaviate's hybrid search (BM25 on content + vector) with `query.alpha`, best first."""
        from weaviate.classes.query import MetadataQuery

        dim = len(query.vector)
        if dim == 0 or query.limit <= 0 or _empty(query.agent_ids) or _empty(query.document_ids):
            return []
        collection = await self._collection(dim, create=False)
        if collection is None or not await collection.tenants.exists(str(company_id)):
            return []
        result = await collection.with_tenant(str(company_id)).query.hybrid(
            query=query.text or None,
            vector=list(query.vector),
            target_vector=VECTOR_NAME,
            alpha=min(max(query.alpha, 0.0), 1.0),
            query_properties=["content"],
            limit=query.limit,
            filters=_search_filter(query),
            return_metadata=MetadataQuery(score=True),
        )
        return [_hit(obj) for obj in result.objects]

    # -- collections ----------------------------------------------------------------------
    def _name(self, dim: int) -> str:
        return f"{self._prefix}{int(dim)}"

    async def _existing_dimensions(self) -> set[int]:
        names = await self._client.collections.list_all(simple=True)
        pattern = re.compile(re.escape(self._prefix) + r"(\d+)")
        return {int(m.group(1)) for name in names if (m := pattern.fullmatch(name))}

    async def _collection(self, dim: int, *, create: bool) -> Any:
        if dim not in self._known:
            async with self._lock:
                if await self._client.collections.exists(self._name(dim)):
                    self._known.add(dim)
                elif create:
                    await self._create_collection(dim)
                    self._known.add(dim)
                else:
                    return None
        return self._client.collections.use(self._name(dim))

    async def _create_collection(self, dim: int) -> None:
        from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
        from weaviate.exceptions import UnexpectedStatusCodeError

        properties = [
            Property(name="agent_id", data_type=DataType.UUID),
            Property(name="document_id", data_type=DataType.UUID),
            Property(name="chunk_index", data_type=DataType.INT),
            Property(name="page", data_type=DataType.INT),
            Property(name="content", data_type=DataType.TEXT),
            # Exact match only (FIELD), and kept out of BM25.
            Property(
                name="model", data_type=DataType.TEXT, tokenization=Tokenization.FIELD, index_searchable=False
            ),
        ]
        try:
            await self._client.collections.create(
                self._name(dim),
                properties=properties,
                vector_config=Configure.Vectors.self_provided(
                    name=VECTOR_NAME,
                    vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE),
                ),
                multi_tenancy_config=Configure.multi_tenancy(
                    enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
                ),
            )
        except UnexpectedStatusCodeError:
            # Another replica created it first; anything else is still an error.
            if not await self._client.collections.exists(self._name(dim)):
                raise

    async def _tenant_collections(self, company_id: uuid.UUID) -> list[Any]:
        """The dimension collections in which the company has a tenant."""
        self._known |= await self._existing_dimensions()
        found = []
        for dim in sorted(self._known):
            collection = self._client.collections.use(self._name(dim))
            if await collection.tenants.exists(str(company_id)):
                found.append(collection)
        return found

    async def _delete_where(self, company_id: uuid.UUID, where: Any) -> None:
        for collection in await self._tenant_collections(company_id):
            tenant = collection.with_tenant(str(company_id))
            for _ in range(DELETE_ROUNDS):
                result = await tenant.data.delete_many(where=where)
                if result.successful == 0 or result.successful >= result.matches:
                    break


def _empty(ids: Sequence[uuid.UUID] | None) -> bool:
    return ids is not None and len(ids) == 0


def _data_object(factory: Any, record: VectorRecord) -> Any:
    return factory(properties=record.properties(), uuid=record.id, vector={VECTOR_NAME: list(record.vector)})


def _search_filter(query: SearchQuery) -> Any:
    from weaviate.classes.query import Filter

    conditions = [Filter.by_property("model").equal(query.model)]
    if query.agent_ids is not None:
        conditions.append(Filter.by_property("agent_id").contains_any(list(query.agent_ids)))
    if query.document_ids is not None:
        conditions.append(Filter.by_property("document_id").contains_any(list(query.document_ids)))
    return Filter.all_of(conditions) if len(conditions) > 1 else conditions[0]


def _hit(obj: Any) -> SearchHit:
    props = obj.properties
    return SearchHit(
        id=uuid.UUID(str(obj.uuid)),
        agent_id=uuid.UUID(str(props["agent_id"])),
        document_id=uuid.UUID(str(props["document_id"])),
        chunk_index=int(props["chunk_index"]),
        page=None if props.get("page") is None else int(props["page"]),
        content=str(props["content"]),
        score=float(obj.metadata.score or 0.0),
    )
