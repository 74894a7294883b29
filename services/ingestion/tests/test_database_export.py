"""Exporting database tables into documents, end to end: the API queues the job, the worker reads
Chinook's tables from the embedded PostgreSQL through the guard and the engine, writes one document
per table, and the normal pipeline chunks, embeds and indexes them; search finds a customer's city.

The tables' metadata (which other lanes' analysis writes) is inserted directly for a connection
created through the API. The app and the worker run with an ENCRYPTION_KEY and the allow-list
127.0.0.1/32 (the embedded servers listen there).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select

from knowrithm_common.crypto import generate_key
from knowrithm_common.testing import environment, service_client
from knowrithm_ingestion.databases.export.render import render_table, select_all, source_key
from knowrithm_ingestion.databases.guard import check_sql
from knowrithm_ingestion.models import Chunk, DatabaseTable, Document, shared
from knowrithm_stack.chinook import CHINOOK_ROW_COUNTS, load_mysql, load_postgres, load_sqlite

from .support import add_agent, admin, member, wait_for

BASE = "/api/v1/database-connection"
EXPORT = f"{BASE}/export"


@pytest.fixture(scope="session")
def export_env(ingestion_env) -> dict[str, str]:
    return {**ingestion_env, "ENCRYPTION_KEY": generate_key(), "INGESTION_DATABASE_ALLOWLIST": "127.0.0.1/32"}


client = service_client("knowrithm_ingestion.main:create_app", env="export_env", agents_owner=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def worker(export_env) -> AsyncIterator[object]:
    """The worker with this module's environment (it decrypts the connections' URLs)."""
    from knowrithm_ingestion.worker import create_app

    with environment(export_env):
        app = create_app()
    async with app.router.lifespan_context(app):
        await app.state.job_worker.wait_subscribed()
        yield app


@pytest.fixture(scope="module")
def chinook_url(stack) -> str:
    url = stack.create_database("export_chinook")
    load_postgres(url)
    return url


async def connect(client, call, url: str | None, tables=("customer", "invoice"), *, database_type="postgresql",
                  schema="public", sqlite: bytes | None = None):
    """A company, its agent, a connection made through the API (to `url`, or an uploaded SQLite file),
    and its tables' metadata as an analysis would leave it."""
    company_id, agent_id = await add_agent(client.app)
    boss = admin(company_id)
    form = {"name": f"chinook {uuid.uuid4().hex[:6]}", "database_type": database_type, "agent_id": str(agent_id)}
    if sqlite is None:
        r = await call("POST", BASE, boss, json={**form, "url": url})
    else:
        r = await call("POST", BASE, boss, data=form, files={"file": ("chinook.sqlite", sqlite)})
    assert r.status_code == 201, r.text
    connection_id = uuid.UUID(r.json()["connection"]["id"])
    async with client.app.state.db.sessions() as session, session.begin():
        for name in tables:
            session.add(DatabaseTable(
                id=uuid.uuid4(), company_id=company_id, agent_id=agent_id, connection_id=connection_id,
                name=name, schema_name=schema, columns=[{"name": f"{name}_id", "type": "integer"}],
                primary_key=[f"{name}_id"], foreign_keys=[], row_estimate=CHINOOK_ROW_COUNTS.get(name),
            ))
    return company_id, agent_id, boss, connection_id


async def city_chunks(client, document_id) -> list[str]:
    async with client.app.state.db.sessions() as session:
        chunks = (await session.scalars(select(Chunk).where(Chunk.document_id == document_id))).all()
    return [c.content for c in chunks if "São José dos Campos" in c.content]


async def exported_events(client, connection_id) -> list[dict]:
    table = shared.outbox
    async with client.app.state.db.sessions() as session:
        stmt = select(table.c.envelope).where(table.c.subject == "events.ingestion.database_connection.exported.v1")
        rows = (await session.execute(stmt)).scalars()
        return [e["data"] for e in rows if e["data"]["database_connection_id"] == str(connection_id)]


async def finished(call, principal, task_id) -> dict:
    async def done():
        r = await call("GET", f"/api/v1/tasks/{task_id}/status", principal)
        assert r.status_code == 200, r.text
        body = r.json()
        return body if body["status"] in ("completed", "failed") else None

    return await wait_for(done, timeout=60)


async def exported_documents(client, connection_id, *, deleted: bool | None = False) -> list[Document]:
    prefix = f"database:{connection_id}:"
    async with client.app.state.db.sessions() as session:
        stmt = select(Document).where(Document.source_url.startswith(prefix))
        if deleted is not None:
            stmt = stmt.where(Document.deleted_at.is_not(None) if deleted else Document.deleted_at.is_(None))
        return list((await session.scalars(stmt.order_by(Document.source_url))).all())


async def processed(client, connection_id, count: int) -> list[Document]:
    async def ready():
        docs = await exported_documents(client, connection_id)
        return docs if len(docs) == count and all(d.status in ("processed", "failed") for d in docs) else None

    docs = await wait_for(ready, timeout=120)
    assert {d.status for d in docs} == {"processed"}, [d.processing_error for d in docs]
    return docs


async def export(call, principal, connection_id, **fields):
    r = await call("POST", EXPORT, principal, json={"connection_id": str(connection_id), **fields})
    assert r.status_code == 202, r.text
    return r.json()


# --- rendering and the query -------------------------------------------------------------------


def test_the_query_quotes_identifiers_and_passes_the_guard():
    sql = select_all("postgresql", "public", 'odd"name', ["id"])
    assert sql == 'SELECT * FROM "public"."odd""name" ORDER BY "id"'
    guarded = check_sql(sql, dialect="postgresql", tables=['public.odd"name'], limit=10)
    assert guarded.sql.endswith("LIMIT 10")
    assert select_all("mysql", None, "invoice") == "SELECT * FROM `invoice`"


def test_rows_are_rendered_with_their_column_names_one_paragraph_each():
    rendered = render_table(
        connection_name="Shop", schema="public", table="customer", columns=["customer_id", "city", "note"],
        rows=[[1, "São José dos Campos", None], [2, "Lisbon", "line one\n\n# not a heading"]],
        primary_key=["customer_id"], max_chars=10_000,
    )
    text = rendered.data.decode()
    assert text.startswith("# Table public.customer (database Shop)\n\n")
    assert "customer 1: customer_id: 1; city: São José dos Campos\n" in text
    assert "customer 2: customer_id: 2; city: Lisbon; note: line one # not a heading" in text
    assert (rendered.rows, rendered.truncated) == (2, False)
    cut = render_table(connection_name="Shop", schema=None, table="t", columns=["v"], rows=[["x" * 50]] * 10,
                       max_chars=200)
    assert cut.truncated and 0 < cut.rows < 10
    assert source_key("c", "public", "customer") == "database:c:public.customer"


# --- the whole path ------------------------------------------------------------------------------


async def test_export_makes_one_processed_document_per_table_that_search_finds(
    client, call, worker, chinook_url
):
    company_id, agent_id, boss, connection_id = await connect(client, call, chinook_url)
    accepted = await export(call, boss, connection_id)
    assert accepted["status"] == "accepted" and sorted(accepted["tables"]) == ["public.customer", "public.invoice"]
    status = await finished(call, boss, accepted["task_id"])
    assert status["status"] == "completed", status
    result = status["result"]
    assert (result["tables_exported"], result["tables_failed"], result["documents_created"]) == (2, 0, 2)
    rows = {t["table"]: t["rows"] for t in result["tables"]}
    assert rows == {"public.customer": CHINOOK_ROW_COUNTS["customer"], "public.invoice": CHINOOK_ROW_COUNTS["invoice"]}

    docs = await processed(client, connection_id, 2)
    assert [d.source_url for d in docs] == [source_key(connection_id, "public", "customer"),
                                            source_key(connection_id, "public", "invoice")]
    assert all(d.source == "database" and d.agent_id == agent_id and d.chunk_count for d in docs)
    city = await city_chunks(client, docs[0].id)
    assert city and "first_name: Luís" in city[0] and "# Table" not in city[0]  # heading kept apart
    assert city[0].startswith("Table public.customer")  # every chunk starts with the table's heading

    found = await call("POST", "/api/v1/search/document", member(company_id),
                       json={"query": "Which city does Luís Gonçalves live in?", "agent_id": str(agent_id)})
    assert found.status_code == 200, found.text
    assert any("São José dos Campos" in hit["content"] for hit in found.json()["results"]), found.text

    [event] = await exported_events(client, connection_id)
    assert (event["tables_exported"], event["documents_created"], event["rows_exported"]) == (
        2, 2, CHINOOK_ROW_COUNTS["customer"] + CHINOOK_ROW_COUNTS["invoice"])

    # a re-export of unchanged tables replaces nothing and adds nothing
    again = await finished(call, boss, (await export(call, boss, connection_id))["task_id"])
    assert again["result"]["documents_unchanged"] == 2
    assert [d.id for d in await exported_documents(client, connection_id, deleted=None)] == [d.id for d in docs]


async def test_a_changed_table_replaces_its_document_and_limit_per_table_holds(
    client, call, worker, chinook_url
):
    _, _, boss, connection_id = await connect(client, call, chinook_url)
    first = await finished(call, boss, (await export(call, boss, connection_id, table_names=["customer"]))["task_id"])
    assert first["status"] == "completed" and first["result"]["documents_created"] == 1
    [before] = await processed(client, connection_id, 1)
    second = await finished(call, boss, (await export(call, boss, connection_id, table_names=["customer"],
                                                       limit_per_table=5))["task_id"])
    assert second["result"]["documents_replaced"] == 1 and second["result"]["tables"][0]["rows"] == 5
    assert second["result"]["tables"][0]["truncated"] is True
    [after] = await processed(client, connection_id, 1)
    assert after.id == before.id and after.sha256 != before.sha256 and after.chunk_count < before.chunk_count


async def test_deleting_the_connection_deletes_its_documents_and_restoring_brings_them_back(
    client, call, worker, chinook_url
):
    company_id, agent_id, boss, connection_id = await connect(client, call, chinook_url)
    await finished(call, boss, (await export(call, boss, connection_id))["task_id"])
    docs = await processed(client, connection_id, 2)
    query = {"query": "São José dos Campos", "agent_id": str(agent_id)}

    r = await call("DELETE", f"{BASE}/{connection_id}", boss)
    assert r.status_code == 200, r.text
    assert await exported_documents(client, connection_id) == []
    assert len(await exported_documents(client, connection_id, deleted=True)) == 2
    found = await call("POST", "/api/v1/search/document", member(company_id), json=query)
    assert not any("São José" in hit["content"] for hit in found.json()["results"])
    assert (await call("POST", EXPORT, boss, json={"connection_id": str(connection_id)})).status_code == 404

    r = await call("PATCH", f"{BASE}/{connection_id}/restore", boss)
    assert r.status_code == 200, r.text
    assert [d.id for d in await exported_documents(client, connection_id)] == [d.id for d in docs]
    async with client.app.state.db.sessions() as session:
        live = (await session.scalars(select(Chunk).where(Chunk.document_id == docs[0].id,
                                                          Chunk.deleted_at.is_(None)))).all()
    assert len(live) == docs[0].chunk_count
    found = await call("POST", "/api/v1/search/document", member(company_id), json=query)
    assert any("São José dos Campos" in hit["content"] for hit in found.json()["results"])


async def test_other_companies_members_and_unknown_tables(client, call, chinook_url):
    _, _, boss, connection_id = await connect(client, call, chinook_url)
    other_company, _ = await add_agent(client.app)
    r = await call("POST", EXPORT, admin(other_company), json={"connection_id": str(connection_id)})
    assert r.status_code == 404 and r.json()["error"] == "database_connection_not_found"
    r = await call("POST", EXPORT, boss, json={"connection_id": str(uuid.uuid4())})
    assert r.status_code == 404
    company_id = boss.company_id
    assert (await call("POST", EXPORT, member(company_id), json={"connection_id": str(connection_id)})
            ).status_code == 403
    r = await call("POST", EXPORT, boss, json={"connection_id": str(connection_id), "table_names": ["track"]})
    assert r.status_code == 404 and r.json()["error"] == "database_table_not_found"
    r = await call("POST", EXPORT, boss, json={"connection_id": str(connection_id), "limit_per_table": 0})
    assert r.status_code == 422
    _, _, boss2, bare = await connect(client, call, chinook_url, tables=())
    r = await call("POST", EXPORT, boss2, json={"connection_id": str(bare)})
    assert r.status_code == 409 and r.json()["error"] == "database_not_analyzed"


async def test_an_uploaded_sqlite_file_is_exported_and_a_table_that_cannot_be_read_is_reported(
    client, call, worker, tmp_path
):
    path = tmp_path / "chinook.sqlite"
    load_sqlite(path)
    _, _, boss, connection_id = await connect(client, call, None, ("customer", "ghost"), database_type="sqlite",
                                              schema="", sqlite=path.read_bytes())
    status = await finished(call, boss, (await export(call, boss, connection_id))["task_id"])
    assert status["status"] == "completed", status
    result = status["result"]
    assert (result["tables_exported"], result["tables_failed"]) == (1, 1)
    assert result["failures"][0]["table"] == "ghost" and "ghost" in result["failures"][0]["error"]
    [doc] = await processed(client, connection_id, 1)
    assert doc.source_url == source_key(connection_id, "", "customer")
    assert await city_chunks(client, doc.id)


async def test_mariadb_tables_are_exported_with_a_read_only_user(client, call, worker, mariadb):
    load_mysql(mariadb.create_database("export_chinook"))
    reader = mariadb.create_user("export_reader", database="export_chinook")
    _, _, boss, connection_id = await connect(client, call, reader, ("customer",), database_type="mariadb",
                                              schema="")
    status = await finished(call, boss, (await export(call, boss, connection_id))["task_id"])
    assert status["status"] == "completed" and status["result"]["tables_exported"] == 1, status
    [doc] = await processed(client, connection_id, 1)
    assert await city_chunks(client, doc.id)
