"""What a connection's tables mean: the knowledge graph and the semantic snapshot.

The pure functions (`databases/semantics/graph.py`, `snapshot.py`) run on Chinook's structure as
an analysis stores it (`knowrithm_stack.chinook`: its columns with SQL types, primary and foreign
keys, row counts), with and without its declared foreign keys. The routes run through the real
ingestion app on a connection created through the API, with `DatabaseTable` rows inserted as the
analysis would store them (no database server is needed: nothing connects to it here).
"""

from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import select, update

from knowrithm_common.crypto import generate_key
from knowrithm_common.testing import service_client
from knowrithm_ingestion.databases.semantics.graph import (
    DECLARED,
    INFERRED,
    build_graph,
    inferred_edges,
    singular,
    stem_of,
)
from knowrithm_ingestion.databases.semantics.shapes import TableShape, type_family
from knowrithm_ingestion.databases.semantics.snapshot import build_snapshot
from knowrithm_ingestion.models import DatabaseTable
from knowrithm_stack.chinook import (
    CHINOOK_COLUMNS,
    CHINOOK_FOREIGN_KEYS,
    CHINOOK_PRIMARY_KEYS,
    CHINOOK_ROW_COUNTS,
    CHINOOK_TABLES,
    TABLES,
)

from .support import add_agent, admin, member

BASE = "/api/v1/database-connection"
SQL_TYPES = {"int": "INTEGER", "str": "VARCHAR(120)", "decimal": "NUMERIC(10, 2)", "datetime": "TIMESTAMP"}
TYPES = {t.name: {c.name: SQL_TYPES[c.type] for c in t.columns} for t in TABLES}
NULLABLE = {t.name: {c.name: c.nullable for c in t.columns} for t in TABLES}
# (table, columns, referenced table, referenced columns), as the tests compare edges
FKS = {(t, tuple(c), r, tuple(rc)) for t, c, r, rc in CHINOOK_FOREIGN_KEYS}
EXPECTED_INFERRED = {
    ("album", ("artist_id",), "artist"),
    ("track", ("album_id",), "album"),
    ("track", ("genre_id",), "genre"),
    ("track", ("media_type_id",), "media_type"),
    ("invoice", ("customer_id",), "customer"),
    ("invoice_line", ("invoice_id",), "invoice"),
    ("invoice_line", ("track_id",), "track"),
    ("playlist_track", ("playlist_id",), "playlist"),
    ("playlist_track", ("track_id",), "track"),
}


def chinook_row(name: str, *, foreign_keys: bool = True) -> dict:
    """One Chinook table as the analysis stores it on `DatabaseTable`."""
    pk = CHINOOK_PRIMARY_KEYS[name]
    return {
        "name": name,
        "schema": "public",
        "columns": [
            {"name": c, "type": TYPES[name][c], "nullable": NULLABLE[name][c], "primary_key": c in pk, "comment": None}
            for c in CHINOOK_COLUMNS[name]
        ],
        "primary_key": list(pk),
        "foreign_keys": [
            {"columns": list(cols), "ref_table": ref, "ref_columns": list(ref_cols), "ref_schema": "public"}
            for table, cols, ref, ref_cols in CHINOOK_FOREIGN_KEYS
            if table == name and foreign_keys
        ],
        "row_estimate": CHINOOK_ROW_COUNTS[name],
    }


def chinook(*, foreign_keys: bool = True) -> list[TableShape]:
    return [TableShape.of_mapping(chinook_row(n, foreign_keys=foreign_keys)) for n in CHINOOK_TABLES]


def edge_set(graph, kind: str) -> set[tuple]:
    return {
        (e.source.split(".")[-1], e.columns, e.target.split(".")[-1], e.ref_columns)
        for e in graph.edges if e.kind == kind
    }


def shape(name: str, columns: dict[str, str], pk: tuple[str, ...] = ("id",), **kw) -> TableShape:
    return TableShape.of_mapping({
        "name": name, "columns": [{"name": c, "type": t} for c, t in columns.items()], "primary_key": list(pk), **kw,
    })


# --- the knowledge graph, pure

def test_declared_edges_equal_chinooks_foreign_keys_and_nothing_is_inferred_beside_them():
    graph = build_graph(chinook())
    assert edge_set(graph, DECLARED) == FKS and len(graph.edges) == len(CHINOOK_FOREIGN_KEYS)
    assert all(e.confidence == 1.0 and e.kind == DECLARED for e in graph.edges)
    assert [n.id for n in graph.nodes] == sorted(f"public.{t}" for t in CHINOOK_TABLES)
    track = next(n for n in graph.nodes if n.name == "track")
    assert (track.schema, track.row_estimate, track.column_count, track.primary_key) == (
        "public", 3503, len(CHINOOK_COLUMNS["track"]), ("track_id",)
    )
    # the self-join is there because it is declared
    assert ("public.employee", ("reports_to",), "public.employee") in {
        (e.source, e.columns, e.target) for e in graph.edges
    }


def test_without_foreign_keys_the_joins_are_inferred_from_the_column_names():
    graph = build_graph(chinook(foreign_keys=False))
    inferred = {(s, c, t) for s, c, t, _ in edge_set(graph, INFERRED)}
    assert inferred >= EXPECTED_INFERRED
    assert not edge_set(graph, DECLARED)
    for edge in graph.edges:
        assert edge.source != edge.target  # no self-join false positive
        assert 0.6 <= edge.confidence <= 0.8
        assert edge.ref_columns == CHINOOK_PRIMARY_KEYS[edge.target.split(".")[-1]]
    columns = {c for e in graph.edges for c in e.columns}
    assert "reports_to" not in columns and "support_rep_id" not in columns  # no table is named so
    assert all(e.confidence == 0.8 for e in graph.edges)  # `album_id` → album.album_id: the best match


def test_the_graph_is_the_same_whatever_the_order_of_the_tables():
    tables = chinook(foreign_keys=False)
    expected = build_graph(tables)
    for seed in range(3):
        shuffled = tables[:]
        random.Random(seed).shuffle(shuffled)
        assert build_graph(shuffled) == expected


def test_a_declared_column_is_not_inferred_again():
    tables = chinook()
    declared = build_graph(tables).edges
    assert inferred_edges(tables, declared) == []
    assert len(inferred_edges(tables)) == len(EXPECTED_INFERRED)


def test_plural_prefixed_and_camel_case_names_are_matched_with_less_confidence():
    plural = build_graph([
        shape("customers", {"id": "bigint", "name": "text"}),
        shape("orders", {"id": "bigint", "customer_id": "integer", "total": "numeric"}),
    ])
    assert [(e.source, e.target, e.columns, e.ref_columns, e.confidence) for e in plural.edges] == [
        ("orders", "customers", ("customer_id",), ("id",), 0.7)
    ]
    prefixed = build_graph([
        shape("shop_customer", {"customer_id": "int"}, ("customer_id",)),
        shape("shop_order", {"order_id": "int", "customer_id": "int"}, ("order_id",)),
        shape("shop_order_item", {"id": "int", "shop_order_id": "int", "sku": "varchar(20)"}),
    ])
    assert [(e.source, e.target, e.confidence) for e in prefixed.edges] == [
        ("shop_order", "shop_customer", 0.7),
        ("shop_order_item", "shop_order", 0.75),
    ]
    camel = build_graph([
        shape("Artist", {"ArtistId": "INTEGER", "Name": "NVARCHAR(120)"}, ("ArtistId",)),
        shape("Album", {"AlbumId": "INTEGER", "ArtistId": "INTEGER"}, ("AlbumId",)),
        shape("tbl_genre", {"GenreId": "INTEGER"}, ("GenreId",)),
        shape("Track", {"TrackId": "INTEGER", "AlbumId": "INTEGER", "GenreId": "INTEGER"}, ("TrackId",)),
    ])
    assert [(e.source, e.columns, e.target, e.confidence) for e in camel.edges] == [
        ("Album", ("ArtistId",), "Artist", 0.8),
        ("Track", ("AlbumId",), "Album", 0.8),
        ("Track", ("GenreId",), "tbl_genre", 0.7),
    ]


def test_no_edge_when_the_types_differ_or_the_name_matches_nothing_or_only_the_table_itself():
    graph = build_graph([
        shape("category", {"id": "integer", "parent_id": "integer", "category_id": "integer", "name": "text"}),
        shape("product", {"id": "uuid", "category_code_id": "integer", "vendor_id": "integer"}),
        shape("vendor", {"code": "varchar(10)"}, ("code",)),
        shape("review", {"id": "integer", "product_id": "integer"}),  # product's key is a uuid
    ])
    assert graph.edges == ()


@pytest.mark.parametrize(("column", "stem"), [
    ("album_id", "album"), ("ArtistId", "artist"), ("artistid", "artist"), ("MEDIA_TYPE_ID", "media_type"),
    ("id", None), ("paid", None), ("reports_to", None), ("_id", None),
])
def test_stems(column, stem):
    assert stem_of(column) == stem


@pytest.mark.parametrize(("word", "one"), [
    ("categories", "category"), ("boxes", "box"), ("addresses", "address"), ("tracks", "track"),
    ("status", "status"), ("track", "track"), ("class", "class"),
])
def test_singular(word, one):
    assert singular(word) == one


@pytest.mark.parametrize(("stored", "family"), [
    ("INTEGER", "int"), ("bigint", "int"), ("int(11)", "int"), ("int", "int"), ("NUMERIC(10, 2)", "decimal"),
    ("VARCHAR(120)", "text"), ("nvarchar(40)", "text"), ("str", "text"), ("uuid", "uuid"),
    ("timestamp with time zone", "datetime"), ("objectId", "objectid"), ("", ""),
])
def test_type_families(stored, family):
    assert type_family(stored) == family


# --- the semantic snapshot, pure

def test_chinook_in_words_from_its_structure():
    snapshot = build_snapshot(chinook())
    by_name = {t.name: t for t in snapshot.tables}
    line = by_name["invoice_line"].summary
    assert line.startswith(
        "invoice_line: one row per line of an invoice (invoice_id → invoice), for a track (track_id → track); "
    ), line
    assert "2,240 rows" in line and "unit_price (amount)" in line and "invoice_line_id (key)" in line
    track = by_name["track"].summary
    assert "one row per track, for an album (album_id → album)" in track
    assert "a media type (media_type_id → media_type)" in track
    assert "referenced by public.invoice_line.track_id, public.playlist_track.track_id" in track
    customer = by_name["customer"].summary
    assert "an employee as support rep (support_rep_id → employee)" in customer
    assert "email (contact)" in customer and "first_name (name)" in customer
    assert "invoice_date (date)" in by_name["invoice"].summary and "total (amount)" in by_name["invoice"].summary
    assert "an employee (reports_to → employee)" in by_name["employee"].summary
    link = by_name["playlist_track"]
    assert link.kind == "link" and link.summary.startswith(
        "playlist_track: one row per playlist-track pair: links a playlist (playlist_id → playlist) "
        "to a track (track_id → track)"
    )
    assert snapshot.link_tables == ("public.playlist_track",)
    assert len(snapshot.entities) == 10 and all(t.summary_source == "structure" for t in snapshot.tables)
    roles = {c.name: c.role for c in by_name["track"].columns}
    assert roles == {"track_id": "key", "name": "name", "album_id": "reference", "media_type_id": "reference",
                     "genre_id": "reference", "composer": "other", "milliseconds": "quantity",
                     "bytes": "quantity", "unit_price": "amount"}
    assert by_name["album"].references == ("public.artist",)
    assert by_name["artist"].referenced_by == ("public.album",)
    assert snapshot.overview.startswith("11 tables; entities: public.track (3,503 rows), ")
    assert "link tables: public.playlist_track (public.playlist ↔ public.track)" in snapshot.overview
    assert "11 relations (11 declared, 0 inferred)" in snapshot.overview
    relation = next(r for r in snapshot.relations if r.source == "public.album")
    assert relation.description == (
        "public.album.artist_id → public.artist.artist_id: each album refers to an artist (declared foreign key)"
    )


def test_inferred_relations_are_said_to_be_inferred_and_a_stored_summary_wins():
    rows = [chinook_row(n, foreign_keys=False) for n in CHINOOK_TABLES]
    rows[0]["summary"] = "Recording artists, one per row."
    snapshot = build_snapshot([TableShape.of_mapping(r) for r in rows])
    by_name = {t.name: t for t in snapshot.tables}
    assert by_name["artist"].summary == "Recording artists, one per row."
    assert by_name["artist"].summary_source == "stored"
    assert "for an artist (artist_id → artist, inferred)" in by_name["album"].summary
    assert "(0 declared, 9 inferred)" in snapshot.overview
    assert all("inferred from the column name, 0.80" in r.description for r in snapshot.relations)


# --- the routes

@pytest.fixture(scope="session")
def semantics_env(ingestion_env) -> dict[str, str]:
    return {**ingestion_env, "ENCRYPTION_KEY": generate_key()}


client = service_client("knowrithm_ingestion.main:create_app", env="semantics_env", agents_owner=True)


@pytest.fixture
async def connection(client, call):
    """(company_id, agent_id, connection_id, admin) of a connection created through the API."""
    company_id, agent_id = await add_agent(client.app)
    principal = admin(company_id)
    body = {"name": f"chinook {uuid.uuid4().hex[:6]}", "database_type": "postgres",
            "url": "postgres://reader:pw@db.example.com:5432/chinook", "agent_id": str(agent_id)}
    r = await call("POST", BASE, principal, json=body)
    assert r.status_code == 201, r.text
    return company_id, agent_id, uuid.UUID(r.json()["connection"]["id"]), principal


async def store_chinook(client, company_id, agent_id, connection_id) -> dict[str, uuid.UUID]:
    async with client.app.state.db.sessions() as session, session.begin():
        rows = {}
        for name in CHINOOK_TABLES:
            data = chinook_row(name)
            rows[name] = DatabaseTable(
                company_id=company_id, agent_id=agent_id, connection_id=connection_id, name=name,
                schema_name=data["schema"], columns=data["columns"], primary_key=data["primary_key"],
                foreign_keys=data["foreign_keys"], row_estimate=data["row_estimate"], sample_rows=[],
            )
            session.add(rows[name])
        await session.flush()
        return {name: row.id for name, row in rows.items()}


async def test_graph_and_snapshot_of_an_analysed_connection(client, call, connection):
    company_id, agent_id, connection_id, principal = connection
    for path in ("knowledge-graph", "semantic-snapshot"):
        r = await call("GET", f"{BASE}/{connection_id}/{path}", principal)
        assert r.status_code == 409 and r.json()["error"] == "database_not_analyzed", r.text
    ids = await store_chinook(client, company_id, agent_id, connection_id)
    reader = member(company_id)

    r = await call("GET", f"{BASE}/{connection_id}/knowledge-graph", reader)
    assert r.status_code == 200, r.text
    graph = r.json()
    assert graph["connection_id"] == str(connection_id) and graph["database_type"] == "postgresql"
    assert (graph["node_count"], graph["edge_count"]) == (11, 11)
    assert graph["analyzed_at"]
    album = next(n for n in graph["nodes"] if n["name"] == "album")
    assert album == {"id": "public.album", "table_id": str(ids["album"]), "name": "album", "schema": "public",
                     "row_estimate": 347, "column_count": 3, "primary_key": ["album_id"]}
    assert {(e["source"][7:], tuple(e["columns"]), e["target"][7:], tuple(e["ref_columns"]))
            for e in graph["edges"]} == FKS
    assert {(e["kind"], e["confidence"]) for e in graph["edges"]} == {("foreign_key", 1.0)}
    assert graph["edges"][0]["id"] == "public.album(artist_id)->public.artist(artist_id)"
    again = await call("GET", f"{BASE}/{connection_id}/knowledge-graph", reader)
    assert again.json() == graph

    r = await call("GET", f"{BASE}/{connection_id}/semantic-snapshot", reader)
    assert r.status_code == 200, r.text
    snapshot = r.json()
    assert snapshot["generated_from"] == "structure" and snapshot["table_count"] == 11
    assert snapshot["link_tables"] == ["public.playlist_track"] and len(snapshot["entities"]) == 10
    line = next(t for t in snapshot["tables"] if t["name"] == "invoice_line")
    assert line["summary"].startswith("invoice_line: one row per line of an invoice (invoice_id → invoice)")
    assert line["table_id"] == str(ids["invoice_line"]) and line["schema"] == "public" and line["kind"] == "entity"
    assert {"name": "unit_price", "type": "NUMERIC(10, 2)", "role": "amount"} in line["columns"]
    assert len(snapshot["relations"]) == 11 and snapshot["overview"].startswith("11 tables")

    # a stored summary is used; a soft-deleted table leaves the graph with its edges
    async with client.app.state.db.sessions() as session, session.begin():
        await session.execute(update(DatabaseTable).where(DatabaseTable.id == ids["genre"])
                              .values(summary="Music genres."))
        await session.execute(update(DatabaseTable).where(DatabaseTable.id == ids["media_type"])
                              .values(deleted_at=DatabaseTable.updated_at))
    snapshot = (await call("GET", f"{BASE}/{connection_id}/semantic-snapshot", reader)).json()
    genre = next(t for t in snapshot["tables"] if t["name"] == "genre")
    assert (genre["summary"], genre["summary_source"]) == ("Music genres.", "stored")
    graph = (await call("GET", f"{BASE}/{connection_id}/knowledge-graph", reader)).json()
    assert graph["node_count"] == 10 and graph["edge_count"] == 10
    assert all("media_type" not in e["target"] for e in graph["edges"])


async def test_other_companies_and_deleted_connections_get_404(client, call, connection):
    company_id, agent_id, connection_id, principal = connection
    await store_chinook(client, company_id, agent_id, connection_id)
    stranger = admin(uuid.uuid4())
    for path in ("knowledge-graph", "semantic-snapshot"):
        r = await call("GET", f"{BASE}/{connection_id}/{path}", stranger)
        assert r.status_code == 404 and r.json()["error"] == "database_connection_not_found"
        r = await call("GET", f"{BASE}/{uuid.uuid4()}/{path}", principal)
        assert r.status_code == 404
    assert (await call("DELETE", f"{BASE}/{connection_id}", principal)).status_code == 200
    for path in ("knowledge-graph", "semantic-snapshot"):
        assert (await call("GET", f"{BASE}/{connection_id}/{path}", principal)).status_code == 404
    async with client.app.state.db.sessions() as session:
        tables = (await session.scalars(select(DatabaseTable).where(DatabaseTable.connection_id == connection_id))).all()
        assert len(tables) == 11 and all(t.deleted_at is not None for t in tables)
