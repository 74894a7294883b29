"""Knowledge ingestion through the gateway: every supported format (scanned ones through OCR)
reaches `processed` and is found by search on the right page; bad input is refused clearly;
another company sees none of it."""

from __future__ import annotations

import uuid

import pytest

from knowrithm_ingestion.testing import samples

from .knowledge import search, trained_agent, upload, wait_documents
from .site import serve

pytestmark = pytest.mark.e2e

FILLER = ("The quarterly report covers logistics, staffing and the regional offices in some detail. " * 3).strip()


SENTENCES = {
    "pdf": "The zebra {tag} ledger lists seventeen copper kettles stored beside the north gate",
    "docx": "Walrus {tag} instructors teach evening pottery classes on the second floor",
    "txt": "Falcon {tag} couriers deliver fresh basil to the harbour restaurants before dawn",
    "csv": "Otter {tag} batteries must be recharged after forty cycles of heavy use",
    "json": "Heron {tag} tickets include a guided tour of the glass museum",
    "xml": "Badger {tag} tents withstand gales of ninety kilometres per hour",
    "html": "Lynx {tag} subscribers receive a printed atlas every spring",
    "png": "Pelican {tag} bakery sells rye bread on Saturday mornings",
    "scan": "Giraffe {tag} librarians catalogue old maps in the basement archive",
}


def sentence(topic: str) -> str:
    """A sentence no other document of the test holds (a fresh tag per run)."""
    return SENTENCES[topic].format(tag=uuid.uuid4().hex[:6])


@pytest.fixture
async def agent(gateway):
    account, agent_id = await trained_agent(gateway)
    return account, agent_id


async def test_every_format_is_processed_and_found_on_its_page(gateway, agent):
    account, agent_id = agent
    s = {topic: sentence(topic) for topic in ("pdf", "docx", "txt", "csv", "json", "xml", "html", "png", "scan")}
    files = [
        ("report.pdf", samples.make_pdf([FILLER, f"{FILLER} {s['pdf']}.", FILLER]), "application/pdf"),
        ("handbook.docx", samples.make_docx([FILLER, s["docx"] + "."], heading="Operations"),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("notes.txt", f"{FILLER}\n\n{s['txt']}.\n".encode(), "text/plain"),
        ("stock.csv", samples.make_csv([["sku", "note"], ["A-1", FILLER], ["B-2", s["csv"]]]), "text/csv"),
        ("faq.json", samples.make_json({"faq": [{"q": "Shipping?", "a": s["json"]}]}), "application/json"),
        ("catalog.xml", samples.make_xml([{"name": "Umbrella", "note": s["xml"]}]), "application/xml"),
        ("page.html", samples.make_html(title="Shipping", paragraphs=[FILLER, s["html"]]), "text/html"),
        ("photo.png", samples.make_png(s["png"]), "image/png"),
        ("scan.pdf", samples.make_scanned_pdf([s["scan"]]), "application/pdf"),
    ]
    r = await upload(gateway, account, agent_id, files)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["documents_processed"] == len(files) and body["errors_count"] == 0
    ids = {d["original_filename"]: d["id"] for d in body["documents"]}
    task = await gateway.get(f"/api/v1/tasks/{body['task_ids'][0]}/status", headers=account.auth)
    assert task.status_code == 200 and task.json()["status"] in ("pending", "running", "completed")

    done = await wait_documents(gateway, account, list(ids.values()))
    assert {d["status"] for d in done.values()} == {"processed"}, {k: v["processing_error"] for k, v in done.items()}
    assert done[ids["scan.pdf"]]["ocr_pages"] == 1 and done[ids["report.pdf"]]["page_count"] == 3

    expected = {"pdf": ("report.pdf", 2), "docx": ("handbook.docx", None), "txt": ("notes.txt", None),
                "csv": ("stock.csv", None), "json": ("faq.json", None), "xml": ("catalog.xml", None),
                "html": ("page.html", None), "png": ("photo.png", 1), "scan": ("scan.pdf", 1)}
    for topic, (filename, page) in expected.items():
        results = await search(gateway, account, s[topic], agent_id)
        assert results, f"nothing found for the {topic} sentence"
        first = results[0]
        assert first["document_id"] == ids[filename], (topic, [(h["document_name"], h["score"]) for h in results])
        if page is not None:
            assert first["page"] == page, (topic, first)


async def test_bad_files_are_refused_or_fail_readably_while_the_others_succeed(gateway, agent):
    account, agent_id = agent
    good = sentence("txt")
    files = [
        ("broken.pdf", samples.make_corrupt_pdf(), "application/pdf"),
        ("setup.pdf", samples.make_windows_exe(), "application/pdf"),
        ("bomb.docx", samples.make_zip_bomb_docx(), "application/octet-stream"),
        ("fine.txt", good.encode(), "text/plain"),
    ]
    r = await upload(gateway, account, agent_id, files)
    assert r.status_code == 207, r.text
    body = r.json()
    (refused,) = body["failed"]
    assert refused["filename"] == "setup.pdf" and refused["status_code"] == 415
    ids = {d["original_filename"]: d["id"] for d in body["documents"]}
    assert set(ids) == {"broken.pdf", "bomb.docx", "fine.txt"}

    done = await wait_documents(gateway, account, list(ids.values()))
    assert done[ids["fine.txt"]]["status"] == "processed"
    broken = done[ids["broken.pdf"]]
    assert broken["status"] == "failed" and "PDF" in broken["processing_error"], broken
    bomb = done[ids["bomb.docx"]]
    assert bomb["status"] == "failed" and bomb["error_code"] == "decompression_bomb", bomb
    assert (await search(gateway, account, good, agent_id))[0]["document_id"] == ids["fine.txt"]


async def test_oversized_file_gets_413_and_nothing_is_stored(gateway, agent, platform):
    account, agent_id = agent
    limit = int(platform.env["MAX_FILE_SIZE"])
    r = await upload(gateway, account, agent_id, [("huge.txt", b"a" * (limit + 1), "text/plain")])
    assert r.status_code == 413, r.text
    assert r.json()["success"] is False
    listed = await gateway.get(f"/api/v1/document/agent/{agent_id}", headers=account.auth)
    assert listed.json()["pagination"]["total"] == 0


async def test_private_and_redirecting_urls_are_refused(gateway, agent):
    account, agent_id = agent
    with serve({"/secret": (200, {"Content-Type": "text/plain"}, b"internal only")}, host="127.0.0.1") as (
        private_url, private_hits,
    ), serve({"/doc": (302, {"Location": f"{private_url}/secret"}, b"")}) as (public_url, _):
        for url in ("http://127.0.0.1/", "http://169.254.169.254/latest/meta-data/", f"{public_url}/doc"):
            r = await gateway.post("/api/v1/document/upload", json={"agent_id": agent_id, "url": url},
                                   headers=account.auth)
            assert r.status_code == 400, (url, r.text)
            assert r.json()["error"] == "url_not_allowed", r.text
        assert private_hits["/secret"] == 0


async def test_url_upload_of_an_allowed_site_is_processed(gateway, agent):
    account, agent_id = agent
    fact = sentence("html")
    page = samples.make_html(title="Returns", paragraphs=[FILLER, fact])
    with serve({"/returns": (200, {"Content-Type": "text/html"}, page)}) as (base, _):
        r = await gateway.post("/api/v1/document/upload", json={"agent_id": agent_id, "url": f"{base}/returns"},
                               headers=account.auth)
    assert r.status_code == 202, r.text
    (document,) = r.json()["documents"]
    assert document["source"] == "url"
    done = await wait_documents(gateway, account, [document["id"]])
    assert done[document["id"]]["status"] == "processed"
    assert (await search(gateway, account, fact, agent_id))[0]["document_id"] == document["id"]


async def test_another_company_can_neither_list_fetch_delete_nor_find(gateway, agent):
    account, agent_id = agent
    fact = sentence("txt")
    r = await upload(gateway, account, agent_id, [("private.txt", fact.encode(), "text/plain")])
    (document,) = r.json()["documents"]
    await wait_documents(gateway, account, [document["id"]])
    other, _ = await trained_agent(gateway)

    assert (await gateway.get("/api/v1/document", headers=other.auth)).json()["pagination"]["total"] == 0
    assert (await gateway.get(f"/api/v1/document/{document['id']}", headers=other.auth)).status_code == 404
    assert (await gateway.get(f"/api/v1/document/agent/{agent_id}", headers=other.auth)).status_code == 404
    assert (await gateway.delete(f"/api/v1/document/{document['id']}", headers=other.auth)).status_code == 404
    assert await search(gateway, other, fact) == []
    r = await gateway.post("/api/v1/search/document", json={"query": fact, "agent_id": agent_id}, headers=other.auth)
    assert r.status_code == 404
    assert (await search(gateway, account, fact, agent_id))[0]["document_id"] == document["id"]


async def test_deleting_a_document_removes_it_from_search_and_restoring_brings_it_back(gateway, agent):
    account, agent_id = agent
    fact = sentence("txt")
    r = await upload(gateway, account, agent_id, [("policy.txt", fact.encode(), "text/plain")])
    (document,) = r.json()["documents"]
    await wait_documents(gateway, account, [document["id"]])
    doc_url = f"/api/v1/document/{document['id']}"

    r = await gateway.delete(doc_url, headers=account.auth)
    assert r.status_code == 200 and r.json()["deleted_chunks_count"] >= 1
    assert await search(gateway, account, fact, agent_id) == []
    deleted = (await gateway.get("/api/v1/document/deleted", headers=account.auth)).json()["deleted_documents"]
    assert [d["id"] for d in deleted] == [document["id"]]

    assert (await gateway.patch(f"{doc_url}/restore", headers=account.auth)).status_code == 200
    assert (await search(gateway, account, fact, agent_id))[0]["document_id"] == document["id"]

    (chunk,) = (await gateway.get(f"{doc_url}/chunk", headers=account.auth)).json()["chunks"]
    assert (await gateway.delete(f"/api/v1/document/chunk/{chunk['id']}", headers=account.auth)).status_code == 200
    assert await search(gateway, account, fact, agent_id) == []
    r = await gateway.patch(f"/api/v1/document/chunk/{chunk['id']}/restore", headers=account.auth)
    assert r.status_code == 200
    assert (await search(gateway, account, fact, agent_id))[0]["id"] == chunk["id"]
