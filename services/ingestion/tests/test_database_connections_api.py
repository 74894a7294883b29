"""The database connections API through the real ingestion app (own database, embedded NATS):
create (JSON, multipart SQLite, the SDK's routes), list, get, PUT/PATCH, soft delete and restore.
No database server is needed: connections are only stored here (test and analysis come later).

The app runs with an ENCRYPTION_KEY and INGESTION_DATABASE_ALLOWLIST naming 10.20.0.0/16 and
`db.internal`, so the allow-list is tested beside the refusals of private hosts.
"""

from __future__ import annotations

import sqlite3
import uuid

import pytest
from sqlalchemy import select, text

from knowrithm_common.crypto import SecretBox, generate_key
from knowrithm_common.identity import Principal, Role
from knowrithm_common.testing import service_client
from knowrithm_ingestion.databases.connections.service import connection_spec
from knowrithm_ingestion.models import DatabaseConnection, DatabaseTable, shared

from .support import add_agent, admin, delete_agent, member

KEY = generate_key()
SECRET = "S3cr3t-pw-xyz"
BASE = "/api/v1/database-connection"
SUPER = Principal(kind="user", user_id=uuid.uuid4(), role=Role.SUPER_ADMIN)


@pytest.fixture(scope="session")
def connections_env(ingestion_env) -> dict[str, str]:
    return {**ingestion_env, "ENCRYPTION_KEY": KEY, "INGESTION_DATABASE_ALLOWLIST": "10.20.0.0/16,db.internal"}


client = service_client("knowrithm_ingestion.main:create_app", env="connections_env", agents_owner=True)


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


def pg_url(host: str = "db.example.com", password: str = SECRET) -> str:
    return f"postgresql://reader:{password}@{host}:5432/shop?sslmode=require"


async def create(call, principal, agent_id, *, path: str = BASE, **fields):
    body = {"name": f"db {uuid.uuid4().hex[:6]}", "database_type": "postgresql", "url": pg_url(),
            "agent_id": str(agent_id), **fields}
    return await call("POST", path, principal, json=body)


def sqlite_file(tmp_path) -> bytes:
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, city TEXT)")
        db.execute("INSERT INTO customers (city) VALUES ('Lisbon')")
    return path.read_bytes()


async def stored(client, connection_id) -> DatabaseConnection:
    async with client.app.state.db.sessions() as session:
        return (await session.scalars(select(DatabaseConnection).where(DatabaseConnection.id == connection_id))).one()


async def events(client, connection_id) -> list[str]:
    table = shared.outbox
    async with client.app.state.db.sessions() as session:
        stmt = select(table.c.envelope).where(table.c.subject.like("events.ingestion.database%"))
        rows = await session.execute(stmt.order_by(table.c.created_at, table.c.id))
        return [e["type"] for e in rows.scalars() if e["data"]["database_connection_id"] == str(connection_id)]


@pytest.mark.parametrize(("database_type", "url", "stored_type", "host", "port"), [
    ("postgresql", f"postgresql://reader:{SECRET}@db.example.com:5432/shop", "postgresql", "db.example.com", 5432),
    ("postgres", f"postgres://reader:{SECRET}@db.example.com/shop", "postgresql", "db.example.com", None),
    ("cockroachdb", f"cockroachdb://reader:{SECRET}@crdb.example.com:26257/shop", "cockroachdb",
     "crdb.example.com", 26257),
    ("mysql", f"mysql+aiomysql://reader:{SECRET}@8.8.8.8:3306/shop", "mysql", "8.8.8.8", 3306),
    ("mariadb", f"mariadb://reader:{SECRET}@maria.example.com:3307/shop", "mysql", "maria.example.com", 3307),
    ("mongodb", f"mongodb://reader:{SECRET}@m1.example.com:27017,m2.example.com:27018/shop?replicaSet=rs0",
     "mongodb", "m1.example.com,m2.example.com", None),
    ("mongodb", f"mongodb+srv://reader:{SECRET}@cluster0.example.net/shop", "mongodb", "cluster0.example.net", None),
    ("mssql", f"mssql+pyodbc://reader:{SECRET}@sql.example.com:1433/shop?encrypt=yes", "mssql",
     "sql.example.com", 1433),
])
async def test_create_each_engine_stores_the_url_encrypted_and_shows_it_masked(
    client, call, company, database_type, url, stored_type, host, port
):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, database_type=database_type, url=url)
    assert r.status_code == 201, r.text
    body = r.json()
    assert SECRET not in r.text
    out = body["connection"]
    assert (out["database_type"], out["host"], out["port"]) == (stored_type, host, port)
    assert (out["database"], out["username"], out["is_active"]) == ("shop", "reader", True)
    assert ":***@" in out["url"] and body["test_result"] is None
    row = await stored(client, out["id"])
    assert SECRET not in row.url_encrypted and SECRET not in (row.url_masked or "")
    spec = connection_spec(row, SecretBox(KEY))
    assert spec.url == url and spec.engine.value == stored_type
    assert await events(client, out["id"]) == ["ingestion.database_connection.created.v1"]


async def test_list_get_agent_list_and_sdk_create_never_show_the_password(client, call, company):
    company_id, agent_id, principal = company
    first = (await create(call, principal, agent_id)).json()["connection"]
    sdk = await create(call, principal, agent_id, path="/api/v1/sdk/database", database_type="postgres",
                       company_id=str(company_id), user_id=str(uuid.uuid4()))
    assert sdk.status_code == 201, sdk.text
    reader = member(company_id)
    listed = await call("GET", BASE, reader)
    assert listed.status_code == 200 and SECRET not in listed.text
    assert {c["id"] for c in listed.json()["connection"]} == {first["id"], sdk.json()["connection"]["id"]}
    assert listed.json()["pagination"]["total"] == 2
    paged = await call("GET", BASE, reader, params={"per_page": 1})
    assert len(paged.json()["connection"]) == 1 and paged.json()["pagination"]["has_next"] is True
    one = await call("GET", f"{BASE}/{first['id']}", reader)
    assert one.status_code == 200 and one.json()["connection"]["id"] == first["id"] and SECRET not in one.text
    of_agent = await call("GET", f"{BASE}/agent/{agent_id}", reader)
    assert of_agent.status_code == 200 and len(of_agent.json()["connection"]) == 2 and SECRET not in of_agent.text


async def test_update_takes_url_or_connection_string_and_other_fields(client, call, company):
    company_id, agent_id, principal = company
    created = (await create(call, principal, agent_id)).json()["connection"]
    path = f"{BASE}/{created['id']}"
    r = await call("PUT", f"/api/v1/sdk/database/{created['id']}", principal,
                   json={"url": pg_url("new.example.com", "n3w-Pass"), "name": "Renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True and "url" in r.json()["message"] and "n3w-Pass" not in r.text
    assert r.json()["data"]["host"] == "new.example.com" and r.json()["data"]["name"] == "Renamed"
    r = await call("PATCH", path, principal, json={"connection_string": pg_url("third.example.com", "th1rd")})
    assert r.status_code == 200 and r.json()["data"]["host"] == "third.example.com" and "th1rd" not in r.text
    r = await call("PUT", path, principal, json={"connection_params": {"sslmode": "verify-full", "connect_timeout": 5}})
    assert r.status_code == 200 and r.json()["data"]["connection_params"] == {"sslmode": "verify-full",
                                                                              "connect_timeout": 5}
    _, other_agent = await add_agent(client.app, company_id=company_id)
    r = await call("PATCH", path, principal, json={"agent_id": str(other_agent), "database_type": "cockroachdb"})
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["agent_id"], r.json()["data"]["database_type"]) == (str(other_agent), "cockroachdb")
    spec = connection_spec(await stored(client, created["id"]), SecretBox(KEY))
    assert spec.url == pg_url("third.example.com", "th1rd")
    assert await events(client, created["id"]) == ["ingestion.database_connection.created.v1"] + [
        "ingestion.database_connection.updated.v1"] * 4
    r = await call("PATCH", path, principal, json={"database_type": "mysql"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "database_type"


async def test_delete_cascades_to_tables_and_restore_brings_them_back(client, call, company):
    company_id, agent_id, principal = company
    created = (await create(call, principal, agent_id)).json()["connection"]
    async with client.app.state.db.sessions() as session, session.begin():
        for name in ("customers", "orders"):
            session.add(DatabaseTable(company_id=company_id, agent_id=agent_id, connection_id=uuid.UUID(created["id"]),
                                      name=name, schema_name="public", columns=[], primary_key=["id"],
                                      foreign_keys=[], sample_rows=[]))
    r = await call("DELETE", f"/api/v1/sdk/database/{created['id']}", principal)
    assert r.status_code == 200 and r.json()["deleted_tables_count"] == 2
    assert (await call("GET", f"{BASE}/{created['id']}", principal)).status_code == 404
    deleted = await call("GET", f"{BASE}/deleted", principal)
    assert [c["id"] for c in deleted.json()["deleted_connections"]] == [created["id"]]
    assert deleted.json()["deleted_connections"][0]["is_active"] is False and SECRET not in deleted.text
    again = await call("DELETE", f"{BASE}/{created['id']}", principal)
    assert again.status_code == 404 and again.json()["error"] == "database_connection_not_found"
    r = await call("PATCH", f"{BASE}/{created['id']}/restore", principal)
    assert r.status_code == 200 and r.json()["restored_tables_count"] == 2 and r.json()["connection"]["is_active"]
    async with client.app.state.db.sessions() as session:
        live = await session.scalar(text("SELECT count(*) FROM ingestion.database_tables "
                                         "WHERE connection_id = :c AND deleted_at IS NULL"), {"c": created["id"]})
    assert live == 2
    assert await events(client, created["id"]) == [
        "ingestion.database_connection.created.v1", "ingestion.database_connection.deleted.v1",
        "ingestion.database_connection.restored.v1"]
    r = await call("PATCH", f"{BASE}/{created['id']}", principal, json={"is_active": False})
    assert r.status_code == 200 and r.json()["data"]["is_active"] is False


async def test_restore_refused_while_a_live_connection_has_the_name(call, company):
    _, agent_id, principal = company
    created = (await create(call, principal, agent_id, name="Shop")).json()["connection"]
    taken = await create(call, principal, agent_id, name="shop")
    assert taken.status_code == 409 and taken.json()["error"] == "database_connection_name_taken"
    await call("DELETE", f"{BASE}/{created['id']}", principal)
    assert (await create(call, principal, agent_id, name="Shop")).status_code == 201
    r = await call("PATCH", f"{BASE}/{created['id']}/restore", principal)
    assert r.status_code == 409 and r.json()["error"] == "database_connection_name_taken"


async def test_sqlite_takes_an_uploaded_database_file_never_a_path(client, call, company, tmp_path):
    _, agent_id, principal = company
    data = sqlite_file(tmp_path)
    form = {"name": "Shop file", "database_type": "sqlite", "agent_id": str(agent_id)}
    r = await call("POST", BASE, principal, data=form, files={"file": ("shop.sqlite", data, "application/x-sqlite3")})
    assert r.status_code == 201, r.text
    out = r.json()["connection"]
    assert (out["database_type"], out["url"], out["sqlite_filename"], out["sqlite_size"]) == (
        "sqlite", None, "shop.sqlite", len(data))
    row = await stored(client, out["id"])
    assert await client.app.state.deps.blobs.get(row.sqlite_blob_key) == data
    assert connection_spec(row, SecretBox(KEY)).sqlite_blob_key == row.sqlite_blob_key
    for url in ("sqlite:////etc/passwd", "/var/lib/app/db.sqlite", "file:shop.db?mode=ro"):
        r = await create(call, principal, agent_id, database_type="sqlite", url=url)
        assert r.status_code == 422 and r.json()["detail"]["field"] == "url", r.text
    r = await call("POST", BASE, principal, data={**form, "url": "/tmp/x.db"},
                   files={"file": ("shop.sqlite", data, "application/x-sqlite3")})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "url"
    r = await call("POST", BASE, principal, data={**form, "name": "Fake"}, files={"file": ("x.sqlite", b"MZ" * 50)})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "file"
    r = await create(call, principal, agent_id, database_type="sqlite", url=None)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "file"
    r = await call("POST", BASE, principal, data={**form, "database_type": "postgresql", "name": "Mixed"},
                   files={"file": ("shop.sqlite", data)})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "file"
    r = await call("PATCH", f"{BASE}/{out['id']}", principal, json={"url": "/etc/passwd"})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "url"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.0.0.5", "192.168.1.1", "169.254.169.254", "[::1]",
                                  "0.0.0.0", "2130706433", "db.localhost"])
async def test_private_and_local_hosts_are_refused(call, company, host):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, url=pg_url(host))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "database_host_not_allowed" and r.json()["detail"]["field"] == "url"
    assert SECRET not in r.text


async def test_allowlisted_private_hosts_are_accepted_on_create_and_update(call, company):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, url=pg_url("10.20.3.4"))
    assert r.status_code == 201, r.text
    r2 = await call("PATCH", f"{BASE}/{r.json()['connection']['id']}", principal, json={"url": pg_url("db.internal")})
    assert r2.status_code == 200, r2.text
    r3 = await call("PATCH", f"{BASE}/{r.json()['connection']['id']}", principal, json={"url": pg_url("10.0.0.1")})
    assert r3.status_code == 422 and r3.json()["error"] == "database_host_not_allowed"


@pytest.mark.parametrize(("database_type", "url"), [
    ("postgresql", "mysql://u:p@db.example.com/x"),
    ("mysql", "postgresql://u:p@db.example.com/x"),
    ("mongodb", "http://db.example.com/x"),
    ("mssql", "mongodb://db.example.com/x"),
    ("postgresql", "db.example.com:5432"),
    ("postgresql", "postgresql://u:p@a.example.com,b.example.com/x"),
    ("oracle", "oracle://u:p@db.example.com/x"),
    ("postgresql", "postgresql://u:p@[abc/x"),
    ("postgresql", "postgresql://u:p@db.example.com:0/x"),
    ("postgresql", "postgresql://u:p@" + "a" * 1100 + ".example.com/x"),
    ("postgresql", "postgresql://u:p@db.example.com/x#frag"),
])
async def test_url_must_fit_the_engine(call, company, database_type, url):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, database_type=database_type, url=url)
    assert r.status_code == 422, r.text
    field = "database_type" if database_type == "oracle" else "url"
    assert r.json()["detail"]["field"] == field


async def test_a_blank_name_is_refused(call, company):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, name="   ")
    assert r.status_code == 422 and r.json()["detail"]["field"] == "name"


@pytest.mark.parametrize(("params", "field"), [
    ({"local_infile": 1}, "connection_params.local_infile"),
    ({"init_command": "SET GLOBAL x=1"}, "connection_params.init_command"),
    ({"options": "-c statement_timeout=0"}, "connection_params.options"),
    ({"connect_timeout": 31}, "connection_params.connect_timeout"),
    ({"connect_timeout": 0}, "connection_params.connect_timeout"),
    ({"sslmode": "sometimes"}, "connection_params.sslmode"),
    ({"ssl_ca": "/etc/ssl/ca.pem"}, "connection_params.ssl_ca"),
    ({"schemas": "public"}, "connection_params.schemas"),
])
async def test_connection_params_take_only_the_allow_list(call, company, params, field):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, connection_params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["field"] == field


@pytest.mark.parametrize("query", ["local_infile=1", "options=-c%20search_path%3Dx", "sslrootcert=/etc/passwd"])
async def test_driver_flags_in_the_url_are_refused(call, company, query):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, url=f"postgresql://u:{SECRET}@db.example.com/x?{query}")
    assert r.status_code == 422 and r.json()["error"] == "connection_param_not_allowed" and SECRET not in r.text


async def test_allowed_params_are_kept(call, company):
    _, agent_id, principal = company
    params = {"sslmode": "require", "connect_timeout": 10, "schemas": ["public", "sales"], "tables": ["customers"],
              "ssl_ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}
    r = await create(call, principal, agent_id, connection_params=params)
    assert r.status_code == 201 and r.json()["connection"]["connection_params"] == params


async def test_other_companies_get_404_on_every_id(client, call, company):
    _, agent_id, principal = company
    created = (await create(call, principal, agent_id)).json()["connection"]
    cid = created["id"]
    other_company, _ = await add_agent(client.app)
    stranger = admin(other_company)
    for method, path, body in [
        ("GET", f"{BASE}/{cid}", None), ("PUT", f"{BASE}/{cid}", {"name": "x"}),
        ("PATCH", f"{BASE}/{cid}", {"name": "x"}), ("PUT", f"/api/v1/sdk/database/{cid}", {"name": "x"}),
        ("DELETE", f"{BASE}/{cid}", None), ("DELETE", f"/api/v1/sdk/database/{cid}", None),
    ]:
        r = await call(method, path, stranger, json=body)
        assert r.status_code == 404 and r.json()["error"] == "database_connection_not_found", (method, path, r.text)
    r = await call("GET", f"{BASE}/agent/{agent_id}", stranger)
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"
    assert (await create(call, stranger, agent_id)).json()["error"] == "agent_not_found"
    assert (await call("GET", BASE, stranger)).json()["connection"] == []
    await call("DELETE", f"{BASE}/{cid}", principal)
    r = await call("PATCH", f"{BASE}/{cid}/restore", stranger)
    assert r.status_code == 404 and r.json()["error"] == "database_connection_not_found"
    assert (await call("GET", f"{BASE}/deleted", stranger)).json()["deleted_connections"] == []
    r = await call("PATCH", f"{BASE}/{cid}/restore", principal)
    assert r.status_code == 200
    r = await call("PATCH", f"{BASE}/{cid}", principal, json={"agent_id": str((await add_agent(client.app))[1])})
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"


async def test_an_agent_that_was_deleted_cannot_get_connections(client, call, company):
    company_id, agent_id, principal = company
    await delete_agent(client.app, company_id=company_id, agent_id=agent_id)
    r = await create(call, principal, agent_id)
    assert r.status_code == 404 and r.json()["error"] == "agent_not_found"


async def test_members_read_admins_write_and_keys_need_their_scope(client, call, company):
    company_id, agent_id, principal = company
    created = (await create(call, principal, agent_id)).json()["connection"]
    reader = member(company_id)
    assert (await call("GET", f"{BASE}/{created['id']}", reader)).status_code == 200
    assert (await create(call, reader, agent_id)).status_code == 403
    assert (await call("PATCH", f"{BASE}/{created['id']}", reader, json={"name": "x"})).status_code == 403
    assert (await call("DELETE", f"{BASE}/{created['id']}", reader)).status_code == 403
    read_key = Principal(kind="api_key", user_id=uuid.uuid4(), company_id=company_id, role=Role.ADMIN,
                         scopes=["read"], api_key_id=uuid.uuid4())
    assert (await call("GET", BASE, read_key)).status_code == 200
    assert (await create(call, read_key, agent_id)).status_code == 403
    assert (await call("DELETE", f"{BASE}/{created['id']}", read_key)).status_code == 403
    write_key = read_key.model_copy(update={"scopes": ["read", "write"]})
    assert (await create(call, write_key, agent_id)).status_code == 201
    update_key = read_key.model_copy(update={"scopes": ["update"]})
    assert (await call("PATCH", f"{BASE}/{created['id']}", update_key, json={"name": "k"})).status_code == 200
    assert (await call("DELETE", f"{BASE}/{created['id']}", update_key)).status_code == 403
    assert (await call("GET", BASE)).status_code == 401


async def test_super_admin_names_the_company(call, company):
    company_id, agent_id, _ = company
    r = await create(call, SUPER, agent_id, path=f"{BASE}?company_id={company_id}")
    assert r.status_code == 201 and r.json()["connection"]["company_id"] == str(company_id)
    r = await call("GET", BASE, SUPER, params={"company_id": str(company_id)})
    assert r.status_code == 200 and len(r.json()["connection"]) == 1


async def test_refused_requests_never_echo_the_password(call, company):
    _, agent_id, principal = company
    r = await create(call, principal, agent_id, url=f"postgresql://u:{SECRET}@db.example.com:99999/x")
    assert r.status_code == 422 and SECRET not in r.text
    r = await create(call, principal, agent_id, url=f"mysql://u:{SECRET}@db.example.com/x")
    assert r.status_code == 422 and SECRET not in r.text


# --- TLS modes allow/prefer (engine gaps): kept for PostgreSQL and MySQL, refused for MongoDB -------


@pytest.mark.parametrize(("database_type", "url"), [
    ("postgresql", pg_url()),
    ("cockroachdb", f"cockroachdb://reader:{SECRET}@crdb.example.com:26257/shop"),
    ("mysql", f"mysql://reader:{SECRET}@db.example.com/shop"),
])
@pytest.mark.parametrize("mode", ["allow", "prefer"])
async def test_allow_and_prefer_are_kept_and_reach_the_engine(client, call, company, database_type, url, mode):
    from knowrithm_ingestion.databases.connections.engine_spec import engine_params

    _, agent_id, principal = company
    r = await create(call, principal, agent_id, database_type=database_type, url=url,
                     connection_params={"sslmode": mode.upper()})
    assert r.status_code == 201, r.text
    assert r.json()["connection"]["connection_params"] == {"sslmode": mode}
    async with client.app.state.db.sessions() as session:
        stored = await session.get(DatabaseConnection, uuid.UUID(r.json()["connection"]["id"]))
    assert engine_params(stored).sslmode == mode


@pytest.mark.parametrize("mode", ["allow", "prefer"])
async def test_mongodb_refuses_allow_and_prefer_on_create_and_update(client, call, company, mode):
    _, agent_id, principal = company
    url = f"mongodb://reader:{SECRET}@mongo.example.com/shop"
    r = await create(call, principal, agent_id, database_type="mongodb", url=url, connection_params={"sslmode": mode})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "connection_params.sslmode"
    assert "either TLS or not" in r.json()["message"] and "require" in r.json()["message"] and SECRET not in r.text

    created = await create(call, principal, agent_id, database_type="mongodb", url=url,
                           connection_params={"sslmode": "verify-full"})
    assert created.status_code == 201, created.text
    path = f"{BASE}/{created.json()['connection']['id']}"
    r = await call("PATCH", path, principal, json={"connection_params": {"sslmode": mode}})
    assert r.status_code == 422 and r.json()["detail"]["field"] == "connection_params.sslmode"
    kept = (await call("GET", path, principal)).json()["connection"]["connection_params"]
    assert kept == {"sslmode": "verify-full"}


def test_a_mongodb_connection_stored_with_prefer_connects_as_without_a_mode():
    """Stored before `prefer` was refused for MongoDB: it connects as it did then (no mode)."""
    from knowrithm_ingestion.databases.connections.engine_spec import engine_params

    stored = DatabaseConnection(database_type="mongodb", connection_params={"sslmode": "prefer", "connect_timeout": 5})
    assert engine_params(stored).sslmode is None and engine_params(stored).connect_timeout == 5


@pytest.mark.parametrize(("database_type", "query"), [
    ("postgresql", "sslmode=sometimes"),
    ("mysql", "ssl_mode=SOMETIMES"),
    ("mysql", "ssl_mode=prefer"),  # libpq's name under MySQL's key
])
async def test_an_unknown_tls_mode_in_the_url_is_refused_not_ignored(call, company, database_type, query):
    _, agent_id, principal = company
    url = f"{database_type}://reader:{SECRET}@db.example.com/shop?{query}"
    r = await create(call, principal, agent_id, database_type=database_type, url=url)
    assert r.status_code == 422 and r.json()["detail"]["field"] == "url" and SECRET not in r.text
    r = await create(call, principal, agent_id, database_type=database_type,
                     url=url.replace("sometimes", "verify-full").replace("SOMETIMES", "VERIFY_IDENTITY")
                     .replace("=prefer", "=PREFERRED"))
    assert r.status_code == 201, r.text
