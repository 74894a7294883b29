"""The console's Knowledge screens in a real browser, against the real platform.

Headless Chromium (Debian's /usr/bin/chromium) under the console's Content-Security-Policy:
a keyboard-only upload of a PDF with its upload progress bar, the document going from
processing to processed without a reload (htmx polling), the retrieval test showing the
passage with its page, the chunk viewer (delete and restore a chunk), bulk delete and restore,
two files dropped at once (a corrupt PDF failing with its reason, retried, failing again), an upload the API refuses,
web pages and sites (a local site on 127.0.0.5, the e2e allowlist), an analysed SQLite
connection listed read only, a foreign id's 404, and a plain member's read-only view. axe-core checks each
state; screenshots go to tests/e2e/artifacts/console/. The company uses the offline provider
(knowledge.trained_agent), so embeddings are computed locally: no external service is simulated.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from knowrithm_ingestion.testing import samples

from .accounts import PASSWORD
from .console import new_member
from .knowledge import trained_agent
from .site import serve
from .test_console_browser import CHROMIUM, Screens

pytestmark = pytest.mark.e2e

FILLER = ("The quarterly report covers logistics, staffing and the regional offices in some detail. " * 3).strip()
NEEDLE = "The zebra ledger lists seventeen copper kettles stored beside the north gate"


class Checks(Screens):
    """Screens' checks, then the empty `style=""` attributes axe-core leaves behind are removed: htmx
    copies `style` onto swapped elements of the same id, which the CSP (rightly) refuses."""

    async def check(self, name: str) -> None:
        await super().check(name)
        await self.page.evaluate("document.querySelectorAll('[style=\"\"]').forEach(e => e.removeAttribute('style'))")


def html(title: str, text: str, links: tuple[str, ...] = ()) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, samples.make_html(title=title, paragraphs=[text],
                                                                                 links=links)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_knowledge_upload_live_status_retrieval_chunks_delete_restore_and_failure(
    platform, gateway, tmp_path
):
    from playwright.async_api import async_playwright, expect

    account, _agent_id = await trained_agent(gateway)
    tag = uuid.uuid4().hex[:6]
    console = platform.gateway_url + "/console"
    pdf = samples.make_pdf([FILLER, f"{FILLER} {NEEDLE}.", FILLER])
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
            page = await context.new_page()
            screens = Checks(page, tmp_path)
            await page.goto(console + "/sign-in")
            await page.get_by_label("E-mail").fill(account.email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(console + "/")

            # empty: the agent has no documents yet; the company no database connection
            await page.get_by_role("link", name="Knowledge", exact=True).click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Knowledge")
            await expect(page.get_by_text("No documents yet.")).to_be_visible()
            await expect(page.get_by_text("No database connection yet.")).to_be_visible()
            await screens.check("knowledge-empty")

            # keyboard only: Tab to the file field, Space opens the chooser, Tab and Enter upload.
            # The chooser is listened for before the first Tab: Playwright turns on the browser's
            # file-chooser interception without waiting for it (fire and forget), so listening
            # only as Space is pressed can miss the chooser on a loaded machine.
            choosers: asyncio.Queue = asyncio.Queue()
            page.on("filechooser", choosers.put_nowait)
            await page.evaluate("window.notReloaded = true")
            await page.locator("#agent-choice").focus()
            for _ in range(10):
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement.id") == "upload-files":
                    break
            await expect(page.get_by_label("Files", exact=True)).to_be_focused()
            await page.keyboard.press("Space")
            chooser = await asyncio.wait_for(choosers.get(), 30)
            await chooser.set_files([{"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf}])
            await page.keyboard.press("Tab")
            await expect(page.get_by_role("button", name="Upload", exact=True)).to_be_focused()
            started = time.monotonic()
            await page.keyboard.press("Enter")

            # the upload's progress bar reaches 100%; the list shows the document processing
            bar = page.locator("#upload-bar")
            await expect(bar).to_have_js_property("value", 100)
            await expect(page.locator("#upload-status")).to_have_text("1 file uploaded: it is being processed.")
            row = page.locator("#documents tbody tr", has_text="report.pdf")
            await expect(row).to_be_visible()
            await expect(row.locator(".badge")).to_have_text("Processed", timeout=120_000)
            processed_after = time.monotonic() - started
            assert await page.evaluate("window.notReloaded === true")  # live, without a reload
            # polling stopped: every document is final
            await expect(page.locator("#documents")).to_have_attribute("data-final", "true")
            await expect(page.locator("#documents")).to_have_attribute("hx-trigger", "knowrithm:uploaded from:body")
            await screens.check("knowledge-filled")

            # the retrieval test: an empty question is an error next to the field
            await page.get_by_role("button", name="Find passages").click()
            await expect(page.locator("#query-error")).to_have_text("Type what a person would ask.")
            await expect(page.get_by_label("Question")).to_be_focused()
            await screens.check("knowledge-retrieval-error")
            await page.get_by_label("Question").fill("Where are the copper kettles stored?")
            await page.keyboard.press("Enter")
            passage = page.locator(".passage").first
            await expect(passage).to_contain_text("seventeen copper kettles")
            await expect(passage.locator(".page")).to_have_text("page 2")
            await expect(passage.locator(".doc")).to_have_text("report.pdf")
            await expect(passage.locator(".score")).to_contain_text("score ")
            await screens.check("knowledge-retrieval")

            # the chunk viewer: page and text, delete one chunk and restore it
            await page.get_by_role("link", name="report.pdf", exact=True).click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("report.pdf")
            chunk = page.locator(".chunks .chunk", has_text="seventeen copper kettles").first
            await expect(chunk).to_contain_text("page 2")
            await screens.check("knowledge-chunks")
            label = await chunk.get_by_role("button", name="Delete").get_attribute("aria-label")
            await chunk.get_by_role("button", name="Delete").click()
            await expect(page.get_by_role("status")).to_contain_text("deleted.")
            await expect(page.get_by_role("heading", name="Deleted chunks")).to_be_visible()
            assert label is not None
            await page.get_by_role("button", name=label.replace("Delete", "Restore")).click()
            await expect(page.get_by_role("status")).to_contain_text("restored.")
            await expect(page.get_by_role("heading", name="Deleted chunks")).to_have_count(0)

            # bulk delete and restore
            await page.get_by_role("link", name="Back to Knowledge").click()
            await page.get_by_label("Select report.pdf").check()
            await page.get_by_role("button", name="Delete selected").click()
            await expect(page.get_by_role("status").first).to_contain_text("1 document deleted.")
            await expect(page.locator("#documents")).not_to_contain_text("report.pdf")
            await page.get_by_role("link", name="Deleted documents").click()
            await screens.check("knowledge-deleted")
            await page.get_by_label("Select report.pdf").check()
            await page.get_by_role("button", name="Restore selected").click()
            await expect(page.get_by_role("status").first).to_have_text("1 document restored.")
            await page.get_by_role("link", name="Back to Knowledge").click()
            await expect(page.locator("#documents tbody tr", has_text="report.pdf")).to_be_visible()

            # two files dropped at once: a corrupt PDF fails, with the reason a person can read
            dropped = await page.evaluate_handle(
                """([pdf, text]) => {
                    const files = new DataTransfer();
                    files.items.add(new File([new Uint8Array(pdf)], "broken.pdf", {type: "application/pdf"}));
                    files.items.add(new File([text], "notes.txt", {type: "text/plain"}));
                    return files;
                }""",
                [list(samples.make_corrupt_pdf()), f"Wombat {tag} tours leave the harbour at noon."],
            )
            await page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
            assert await page.evaluate("document.getElementById('upload-files').files.length") == 2
            await page.get_by_role("button", name="Upload", exact=True).click()
            await expect(page.locator("#upload-status")).to_have_text("2 files uploaded: they are being processed.")
            notes = page.locator("#documents tbody tr", has_text="notes.txt")
            await expect(notes.locator(".badge")).to_have_text("Processed", timeout=120_000)
            broken = page.locator("#documents tbody tr", has_text="broken.pdf")
            await expect(broken.locator(".badge")).to_have_text("Failed", timeout=120_000)
            await expect(broken.locator(".failure")).to_contain_text("PDF")
            await screens.check("knowledge-failed")

            # Retry: only the failed document offers it; the corrupt file is processed again and fails
            # again with the same reason (the section follows it live, then stops polling)
            reason = await broken.locator(".failure").inner_text()
            await expect(notes.get_by_role("button", name="Retry notes.txt")).to_have_count(0)
            await broken.get_by_role("button", name="Retry broken.pdf").click()
            await expect(page.locator("#retry-notice")).to_have_text("The document is being processed again.")
            await expect(page.locator("#retry-notice")).to_be_focused()
            await expect(broken.locator(".badge")).to_have_text("Failed", timeout=120_000)
            await expect(broken.locator(".failure")).to_have_text(reason)
            await expect(page.locator("#documents")).to_have_attribute("data-final", "true", timeout=60_000)
            await screens.check("knowledge-retried")

            # an upload the API refuses (a program dressed as a PDF): its reason above the form
            await page.get_by_label("Files", exact=True).set_input_files(
                [{"name": "setup.pdf", "mimeType": "application/pdf", "buffer": samples.make_windows_exe()}]
            )
            await page.get_by_role("button", name="Upload", exact=True).click()
            await expect(page.locator("#upload-error")).to_contain_text("cannot be read")
            await expect(page.get_by_label("Files", exact=True)).to_be_focused()
            await screens.check("knowledge-upload-error")

            # web sites: a refused address is shown at its field; a site is crawled, its pages listed,
            # the page follows the crawl live; it can be crawled again; one page can be added alone
            await page.get_by_label("Web site address").fill("ftp://example.com/")
            await page.get_by_role("button", name="Add the site").click()
            await expect(page.locator("#base_url-error")).to_be_visible()
            await expect(page.get_by_label("Web site address")).to_have_attribute("aria-invalid", "true")
            await screens.check("knowledge-site-error")
            routes = {
                "/": html("Home", "Welcome to the kettle shop.", links=("/about",)),
                "/about": html("About the shop", f"Quokka {tag} rentals open at eight on weekdays."),
                "/single": html("Opening hours", f"Wombat {tag} tours leave at noon."),
            }
            with serve(routes) as (base, _hits):
                await page.get_by_label("Web site address").fill(f"{base}/")
                await page.get_by_role("button", name="Add the site").click()
                await expect(page.get_by_role("heading", level=1)).to_have_text(f"{base}/")
                await expect(page.locator("#site .badge").first).to_have_text("Crawled", timeout=90_000)
                await expect(page.locator("#site tbody tr", has_text="/about")).to_contain_text("Read")
                await screens.check("knowledge-site")
                await page.get_by_role("button", name="Crawl again").click()
                await expect(page.get_by_role("status").first).to_have_text("A new crawl is queued.")
                await expect(page.locator("#site .badge").first).to_have_text("Crawled", timeout=90_000)
                await page.get_by_role("link", name="Back to Knowledge").click()
                await expect(page.locator("#sites")).to_contain_text(f"{base}/")
                await page.get_by_label("Web page address").fill(f"{base}/single")
                await page.get_by_role("button", name="Add the page").click()
                await expect(page.get_by_role("status").first).to_contain_text("The page is being fetched")
                await expect(page.locator("#documents tbody tr", has_text="single")).to_be_visible()

            # a database connection, analysed: listed read only with its status, analysis and tables
            await _analysed_sqlite(gateway, account, _agent_id)
            await page.reload()
            # axe is run on a still page: htmx settling a poll's swap would copy axe's momentary styles
            await expect(page.locator("#documents")).to_have_attribute("data-final", "true", timeout=60_000)
            connection = page.locator("#connections-title ~ div tbody tr", has_text="Kettle shop")
            await expect(connection).to_contain_text("sqlite")
            await expect(connection.locator("td").nth(4)).to_have_text("1")
            await expect(connection.locator("td").nth(3)).not_to_have_text("Never")
            await screens.check("knowledge-connections")

            # reflow at 320 CSS pixels
            await page.set_viewport_size({"width": 320, "height": 640})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("knowledge-320px")
            await page.set_viewport_size({"width": 1100, "height": 900})

            # an id that is not the company's: the console's 404 page
            await page.goto(f"{console}/knowledge/documents/{uuid.uuid4()}")
            await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")

            # a plain member reads the documents and tests retrieval, but sees no upload or delete
            await page.get_by_role("button", name="Sign out").click()
            member = await new_member(gateway, account)
            await page.get_by_label("E-mail").fill(member)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(console + "/")
            await page.get_by_role("link", name="Knowledge", exact=True).click()
            await expect(page.locator("#documents tbody tr", has_text="report.pdf")).to_be_visible()
            await expect(page.get_by_role("button", name="Upload", exact=True)).to_have_count(0)
            await expect(page.get_by_role("button", name="Delete selected")).to_have_count(0)
            await expect(page.get_by_role("button", name="Retry broken.pdf")).to_have_count(0)
            await expect(page.locator("#documents tbody tr", has_text="broken.pdf")).to_contain_text(
                "Fix the file and upload it again.")
            await expect(page.get_by_role("button", name="Find passages")).to_be_visible()
            await expect(page.locator("#documents")).to_have_attribute("data-final", "true", timeout=60_000)
            await screens.check("knowledge-member")
            print(f"knowledge: PDF uploaded and processed in {processed_after:.1f}s (through the browser); "
                  f"screens: {', '.join(screens.checked)}")
        finally:
            await browser.close()


async def _analysed_sqlite(gateway, account, agent_id: str) -> None:
    """A SQLite connection of the company with one table, analysed."""
    import asyncio
    import sqlite3
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shop.sqlite"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE kettle (kettle_id INTEGER PRIMARY KEY, colour TEXT)")
            db.execute("INSERT INTO kettle (colour) VALUES ('copper')")
        data = path.read_bytes()
    form = {"name": "Kettle shop", "database_type": "sqlite", "agent_id": agent_id}
    r = await gateway.post("/api/v1/database-connection", data=form,
                           files={"file": ("shop.sqlite", data, "application/x-sqlite3")}, headers=account.auth)
    assert r.status_code == 201, r.text
    connection_id = r.json()["connection"]["id"]
    r = await gateway.post(f"/api/v1/database-connection/{connection_id}/analyze", headers=account.auth)
    assert r.status_code == 202, r.text
    for _ in range(300):
        task = (await gateway.get(f"/api/v1/tasks/{r.json()['task_id']}/status", headers=account.auth)).json()
        if task["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(0.1)
    assert task["status"] == "completed", task
