"""`POST /api/v1/database-connection/export`: queue the export of a connection's tables into
documents (admins; API keys need write). 202 with a task (`/api/v1/tasks/{id}/status`) whose
progress names the table being read ("table i of N") and whose result lists each table's document.
Another company's connection answers 404; a connection without analyzed tables answers 409."""

from __future__ import annotations

from fastapi import APIRouter

from knowrithm_common.db import RequestSession as Session
from knowrithm_common.openapi import errors
from knowrithm_common.tasks import accepted
from knowrithm_common.tenancy import CompanyWrite
from knowrithm_ingestion.databases.export import service
from knowrithm_ingestion.databases.export.render import qualified
from knowrithm_ingestion.databases.export.schemas import ExportAccepted, ExportRequest

router = APIRouter()


@router.post(
    "/api/v1/database-connection/export",
    status_code=202,
    response_model=ExportAccepted,
    tags=["Database Connections"],
    responses=errors(404, 409),
)
async def export_tables(body: ExportRequest, session: Session, subject: CompanyWrite) -> ExportAccepted:
    """Export database tables as documents for processing: one document per table, replaced on a re-export."""
    connection, tables, task_id = await service.request_export(
        session,
        company_id=subject.company_id,
        connection_id=body.connection_id,
        table_ids=body.table_ids,
        table_names=body.table_names,
        limit_per_table=body.limit_per_table,
        actor=subject.actor,
    )
    message = f"Exporting {len(tables)} table(s) of {connection.name} into documents."
    return ExportAccepted(
        **accepted(task_id, message),
        connection_id=connection.id,
        tables=[qualified(t.schema_name or None, t.name) for t in tables],
    )
