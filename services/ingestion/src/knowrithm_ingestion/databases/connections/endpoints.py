"""HTTP API of database connections: create (JSON, or multipart with a SQLite file; and the SDK's
`/sdk/database` variants), list (company, agent, deleted), get, PUT/PATCH, soft delete, restore.

Members read their company's connections (API keys need `read`); admins create, change, delete and
restore them (keys need write / update / delete). Another company's ids answer 404
`database_connection_not_found`. Writes answer at once (201 for creation, 200 otherwise), not
with the reference API's 202 task: they are quick (docs/architecture.md). No response carries the
URL whole: host, port, database and user in clear, the URL with its password masked (`***`).
"""

from __future__ import annotations

import uuid
from enum import Enum

from fastapi import APIRouter, Request

from knowrithm_common.crypto import SecretBox
from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.pagination import Page
from knowrithm_common.safehttp import Allowlist
from knowrithm_common.tenancy import CompanyDelete, CompanyRead, CompanyUpdate, CompanyWrite
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.config import IngestionSettings
from knowrithm_ingestion.databases.connections import intake, service
from knowrithm_ingestion.databases.connections.schemas import (
    ConnectionCreated,
    ConnectionDeleted,
    ConnectionList,
    ConnectionOne,
    ConnectionOut,
    ConnectionRestored,
    ConnectionUpdate,
    ConnectionUpdated,
    DeletedConnections,
)
from knowrithm_ingestion.databases.connections.urls import InvalidConnection
from knowrithm_ingestion.databases.queries.probe import ConnectionTested, probe_connection
from knowrithm_ingestion.pipeline.deps import Dependencies

router = APIRouter()
TAGS: list[str | Enum] = ["Database Connections"]
PREFIX = "/api/v1/database-connection"
SDK = "/api/v1/sdk/database"
WRITE_ERRORS = errors(404, 409, 422, (503, "ENCRYPTION_KEY is not set on the ingestion service"))


def policy(settings: IngestionSettings) -> service.Policy:
    """The key box and the database allow-list of this process."""
    box: SecretBox | None = settings.secret_box()
    return service.Policy(box=box, allowlist=Allowlist(settings.database_allowed()))


@router.post(
    SDK,
    status_code=201,
    response_model=ConnectionCreated,
    tags=TAGS,
    openapi_extra=intake.OPENAPI_BODY,
    responses={**WRITE_ERRORS, **errors(413, 415)},
    summary="Sdk Create Connection",
    description="Create a database connection (SDK route; same as POST /database-connection).",
)
@router.post(
    PREFIX,
    status_code=201,
    response_model=ConnectionCreated,
    tags=TAGS,
    openapi_extra=intake.OPENAPI_BODY,
    responses={**WRITE_ERRORS, **errors(413, 415)},
)
async def create_connection(
    request: Request, session: Session, subject: CompanyWrite, deps: Dependencies
) -> ConnectionCreated:
    """Connect a database of the company to an agent: a URL (JSON), or a SQLite file (multipart `file`)."""
    parsed = await intake.read_create(request)
    body = parsed.body
    scope = subject.company_id if body.company_id is None else subject.named(body.company_id)
    async with deps.db.sessions() as lookup:  # ends before the file is stored: no transaction waits on it
        agent = await get_agent(lookup, company_id=scope, agent_id=body.agent_id, owner=deps.agents)
    sqlite = None
    if parsed.file is not None and body.database_type.strip().lower() == "sqlite":
        sqlite = await intake.store_sqlite(
            parsed.file, deps.blobs, agent.company_id, max_bytes=deps.max_file_size
        )
    elif parsed.file is not None:
        raise InvalidConnection("file", "only sqlite connections take a file; give the others a url")
    connection = await service.create_connection(
        session,
        policy(deps.settings),
        agent=agent,
        body=body,
        user_id=subject.principal.user_id,
        sqlite=sqlite,
        actor=subject.actor,
    )
    return ConnectionCreated(connection=ConnectionOut.of_connection(connection))


@router.get(PREFIX, response_model=ConnectionList, tags=TAGS)
async def list_connections(session: Session, subject: CompanyRead, page: Page) -> ConnectionList:
    """The company's database connections, newest first (URLs masked)."""
    rows, pagination = await service.list_connections(session, subject.company_id, page)
    return ConnectionList(connection=[ConnectionOut.of_connection(c) for c in rows], pagination=pagination)


@router.get(f"{PREFIX}/agent/{{agent_id}}", response_model=ConnectionList, tags=TAGS, responses=errors(404))
async def agent_connections(
    agent_id: uuid.UUID, session: Session, subject: CompanyRead, page: Page, deps: Dependencies
) -> ConnectionList:
    """One agent's database connections (404 for an agent of another company)."""
    rows, pagination = await service.agent_connections(
        session, deps.agents, page, company_id=subject.company_id, agent_id=agent_id
    )
    return ConnectionList(connection=[ConnectionOut.of_connection(c) for c in rows], pagination=pagination)


@router.get(f"{PREFIX}/deleted", response_model=DeletedConnections, tags=TAGS)
async def deleted_connections(session: Session, subject: CompanyRead, page: Page) -> DeletedConnections:
    """Soft-deleted database connections of the company (restorable)."""
    rows, pagination = await service.list_connections(session, subject.company_id, page, deleted=True)
    return DeletedConnections(
        deleted_connections=[ConnectionOut.of_connection(c) for c in rows], pagination=pagination
    )


@router.get(f"{PREFIX}/{{connection_id}}", response_model=ConnectionOne, tags=TAGS, responses=errors(404))
async def get_connection(connection_id: uuid.UUID, session: Session, subject: CompanyRead) -> ConnectionOne:
    """One database connection (URL masked)."""
    connection = await service.get_connection(session, subject.company_id, connection_id)
    return ConnectionOne(connection=ConnectionOut.of_connection(connection))


@router.put(
    SDK + "/{connection_id}",
    response_model=ConnectionUpdated,
    tags=TAGS,
    responses=WRITE_ERRORS,
    summary="Sdk Update Connection",
    description="Update a database connection (SDK route; same as PUT /database-connection/{id}).",
)
@router.put(
    f"{PREFIX}/{{connection_id}}", response_model=ConnectionUpdated, tags=TAGS, responses=WRITE_ERRORS
)
@router.patch(
    f"{PREFIX}/{{connection_id}}", response_model=ConnectionUpdated, tags=TAGS, responses=WRITE_ERRORS
)
async def update_connection(
    connection_id: uuid.UUID,
    body: ConnectionUpdate,
    session: Session,
    subject: CompanyUpdate,
    deps: Dependencies,
) -> ConnectionUpdated:
    """Change the fields given: name, database_type, url (or connection_string), connection_params, agent."""
    connection = await service.get_connection(session, subject.company_id, connection_id, lock=True)
    fields = await service.update_connection(
        session, policy(deps.settings), deps.agents, connection, body=body, actor=subject.actor
    )
    message = "Database connection updated successfully. Updated fields: " + (", ".join(fields) or "none")
    return ConnectionUpdated(message=message, data=ConnectionOut.of_connection(connection))


@router.delete(
    SDK + "/{connection_id}",
    response_model=ConnectionDeleted,
    tags=TAGS,
    responses=errors(404),
    summary="Sdk Delete Connection",
    description="Delete a database connection (SDK route; same as DELETE /database-connection/{id}).",
)
@router.delete(
    f"{PREFIX}/{{connection_id}}", response_model=ConnectionDeleted, tags=TAGS, responses=errors(404)
)
async def delete_connection(
    connection_id: uuid.UUID, session: Session, subject: CompanyDelete, deps: Dependencies
) -> ConnectionDeleted:
    """Soft-delete a database connection with its tables' metadata and the documents exported from
    it (their vectors leave the index); PATCH …/restore brings them back."""
    connection, tables = await service.delete_connection(
        session, company_id=subject.company_id, connection_id=connection_id, actor=subject.actor,
        store=deps.store,
    )
    return ConnectionDeleted(connection_id=connection.id, deleted_tables_count=tables)


@router.patch(
    f"{PREFIX}/{{connection_id}}/restore",
    response_model=ConnectionRestored,
    tags=TAGS,
    responses=errors(404, 409),
)
async def restore_connection(
    connection_id: uuid.UUID, session: Session, subject: CompanyUpdate, deps: Dependencies
) -> ConnectionRestored:
    """Restore a soft-deleted connection with the tables deleted with it (409 if its name is taken)."""
    connection, tables = await service.restore_connection(
        session, deps.agents, company_id=subject.company_id, connection_id=connection_id, actor=subject.actor,
        store=deps.store,
    )
    return ConnectionRestored(
        connection=ConnectionOut.of_connection(connection), restored_tables_count=tables
    )


@router.post(
    f"{PREFIX}/{{connection_id}}/test",
    response_model=ConnectionTested,
    tags=TAGS,
    responses=errors(404, 422, (503, "ENCRYPTION_KEY is not set on the ingestion service")),
)
async def test_connection(
    connection_id: uuid.UUID, session: Session, subject: CompanyWrite, deps: Dependencies
) -> ConnectionTested:
    """Test the connection now: is_valid, message, tested_at, server version, latency and warnings."""
    connection = await service.get_connection(session, subject.company_id, connection_id, lock=True)
    return await probe_connection(session, deps, connection, actor=subject.actor)
