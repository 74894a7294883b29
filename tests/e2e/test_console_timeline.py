"""A document's processing timeline in the console, in a real browser against the real platform.

An agent's embeddings come from a local OpenAI-compatible server (127.0.0.1, a thread of this test)
that, like an Ollama whose model is not pulled yet, first answers 404 "model not found": the upload
fails at the embedding stage, a failure that reprocessing fixes once the model is there. The
timeline shows the failed stage with its reason and the attempt; the server gets its model, the
admin clicks Reprocess; without a reload the timeline follows the new attempt (htmx polling, the
newest stage in a role=status line, focus on the notice) until it is processed, then stops polling. Also:
the documents list and the chunk viewer link to it, reflow at 320 px, a foreign id's 404, a plain
member's read-only view, and the upload bar filling its track at 100%. axe-core checks each state
(Screens.check); screenshots go to tests/e2e/artifacts/console/.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from .accounts import PASSWORD, Account, sign_up
from .console import new_member
from .knowledge import upload, wait_documents
from .test_console_browser import CHROMIUM
from .test_console_knowledge import Checks

pytestmark = pytest.mark.e2e

TEXT = "Grey herons stand still in the shallow reeds at dawn and strike at passing fish."


class EmbeddingServer:
    """OpenAI's `POST /v1/embeddings` on 127.0.0.1: 404 "model not found" until `ready`, then deterministic
    vectors of `dimension` numbers."""

    def __init__(self, dimension: int = 768) -> None:
        self.ready, self.dimension, self.requests = False, dimension, 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def vector(self, text: str) -> list[float]:
        seed = hashlib.sha256(text.encode()).digest()
        return [seed[i % len(seed)] / 255 - 0.5 for i in range(self.dimension)]

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        if not self.ready:
            return 404, {"error": {"message": f'model "{body.get("model")}" not found, try pulling it first'}}
        data = [{"object": "embedding", "index": i, "embedding": self.vector(t)} for i, t in enumerate(body["input"])]
        return 200, {"object": "list", "model": body.get("model"), "data": data}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                status, answer = server.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> EmbeddingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class Where(Checks):
    """Checks that also say on which page (and after which step) a console error happened."""

    step = "start"

    def _console(self, message) -> None:
        before = len(self.problems)
        super()._console(message)
        if len(self.problems) > before:
            self.problems[-1] += f" (at {self.page.url}, after {self.step})"


async def agent_on(gateway: httpx.AsyncClient, server: EmbeddingServer) -> tuple[Account, str]:
    """A new company and an agent answering offline whose embeddings come from `server`."""
    account = await sign_up(gateway)
    r = await gateway.get("/api/v1/providers?include_models=true", headers=account.auth)
    assert r.status_code == 200, r.text
    providers = {p["value"]: p for p in r.json()["providers"]}
    compatible, offline = providers["openai-compatible"], providers["offline"]
    models = {m["name"]: m["id"] for p in (compatible, offline) for m in p["models"]}
    body = {"name": f"Herons {uuid.uuid4().hex[:6]}", "llm_provider_id": offline["id"],
            "llm_model_id": models["extractive-responder"], "embedding_provider_id": compatible["id"],
            "embedding_model_id": models["nomic-embed-text"], "embedding_api_base_url": server.url}
    r = await gateway.post("/api/v1/agent", json=body, headers=account.auth)
    assert r.status_code == 201, r.text
    return account, r.json()["id"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_a_failed_documents_timeline_shows_why_and_a_reprocess_is_followed_live(platform, gateway, tmp_path):
    with EmbeddingServer() as server:
        account, agent_id = await agent_on(gateway, server)
        r = await upload(gateway, account, agent_id, [("herons.txt", TEXT.encode(), "text/plain")])
        assert r.status_code == 202, r.text
        document_id = r.json()["documents"][0]["id"]
        failed = (await wait_documents(gateway, account, [document_id]))[document_id]
        assert failed["status"] == "failed" and failed["error_code"] == "embedding_rejected", failed
        await _browse(platform, gateway, tmp_path, server, account=account, agent_id=agent_id,
                      document_id=document_id)


async def _browse(platform, gateway, tmp_path, server: EmbeddingServer, *, account: Account, agent_id: str,
                  document_id: str) -> None:
    from playwright.async_api import async_playwright, expect

    console = platform.gateway_url + "/console"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
            page = await context.new_page()
            screens = Where(page, tmp_path)
            await page.goto(console + "/sign-in")
            await page.get_by_label("E-mail").fill(account.email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(console + "/")

            # failed: the documents list links to the timeline, which shows the failed stage and why
            screens.step = 'failed'
            await page.goto(f"{console}/knowledge?agent_id={agent_id}")
            await page.get_by_role("link", name="Timeline of herons.txt").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Processing of herons.txt")
            timeline = page.locator("#timeline")
            await expect(timeline).to_have_attribute("data-final", "true")
            await expect(timeline.locator(".badge").first).to_have_text("Failed")
            await expect(timeline).to_contain_text("1 attempt")
            await expect(page.get_by_role("heading", name="Attempt 1")).to_be_visible()
            failed_step = timeline.locator(".timeline-step.step-failed")
            await expect(failed_step).to_have_count(1)
            await expect(failed_step.locator(".step-name")).to_have_text("Computing embeddings")
            await expect(failed_step).to_contain_text("The embedding provider rejected the request")
            await expect(failed_step).to_contain_text("not found, try pulling it first")
            steps = timeline.locator(".timeline-step .step-name")
            await expect(steps).to_have_text(["Received and queued", "Picked up for processing", "Reading the text",
                                              "Splitting into chunks", "Computing embeddings"])
            await expect(timeline.locator("time").first).to_be_visible()
            await screens.check("timeline-failed")

            # the server gets its model; the admin reprocesses: the timeline follows the new attempt live
            screens.step = 'reprocess'
            server.ready = True
            await page.evaluate("window.notReloaded = true")
            await page.get_by_role("button", name="Reprocess").focus()
            await page.keyboard.press("Enter")
            notice = page.locator("#reprocess-notice")
            await expect(notice).to_have_text("The document is being processed again: the new attempt appears below.")
            await expect(notice).to_be_focused()
            await expect(page.get_by_role("heading", name="Attempt 2")).to_be_visible()
            await expect(timeline.locator(".badge").first).to_have_text("Processed", timeout=60_000)
            await expect(timeline).to_have_attribute("data-final", "true")
            await expect(timeline).not_to_have_attribute("hx-trigger", "every 2s")
            assert await page.evaluate("window.notReloaded === true")  # live, without a reload
            await expect(notice).to_be_focused()  # the polls kept the notice, and the focus on it
            await expect(timeline).to_contain_text("2 attempts")
            newest = timeline.locator("ol.timeline").first
            await expect(newest.locator(".step-name")).to_have_text(
                ["Reprocessing requested", "Picked up for processing", "Reading the text", "Splitting into chunks",
                 "Computing embeddings", "Adding to the search index", "Processed"])
            await expect(newest.locator(".timeline-step").last).to_contain_text("took")
            await expect(timeline.locator("[role=status]").last).to_have_text("Processed: Done")
            await expect(timeline.locator("ol.timeline").nth(1).locator(".step-failed")).to_have_count(1)
            await screens.check("timeline-processed")

            # the chunk viewer links back to it
            screens.step = 'chunk viewer'
            await page.get_by_role("link", name="Chunks of herons.txt").click()
            await expect(page.locator(".chunk blockquote")).to_have_text(TEXT)
            await page.get_by_role("link", name="Processing timeline").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Processing of herons.txt")

            # reflow at 320 CSS pixels
            screens.step = '320 px'
            await page.set_viewport_size({"width": 320, "height": 640})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("timeline-320px")
            await page.set_viewport_size({"width": 1100, "height": 900})

            # error: another company's (or no) document is the console's 404 page
            screens.step = 'not found'
            await page.goto(f"{console}/knowledge/documents/{uuid.uuid4()}/timeline")
            await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
            await screens.check("timeline-not-found")

            # the upload bar fills its whole track at 100%
            screens.step = 'upload bar'
            await page.goto(f"{console}/knowledge?agent_id={agent_id}")
            await page.set_input_files("#upload-files", files=[
                {"name": "egrets.txt", "mimeType": "text/plain", "buffer": b"Little egrets wade in the creek."}])
            await page.get_by_role("button", name="Upload", exact=True).click()
            bar = page.locator("#upload-bar")
            await expect(bar).to_have_js_property("value", 100)
            sizes = await page.evaluate("""() => {
                const bar = document.getElementById('upload-bar'), box = document.getElementById('upload-progress');
                const style = getComputedStyle(bar);
                return {bar: bar.getBoundingClientRect().width, box: box.clientWidth, appearance: style.appearance};
            }""")
            assert abs(sizes["bar"] - sizes["box"]) < 1 and sizes["appearance"] == "none", sizes
            egrets = page.locator("#documents tbody tr", has_text="egrets.txt")
            await expect(egrets.locator(".badge")).to_have_text("Processed", timeout=60_000)
            await expect(page.locator("#documents")).to_have_attribute("data-final", "true")
            await expect(page.locator(".htmx-request")).to_have_count(0)  # axe on a still page
            await screens.check("timeline-upload-bar")

            # a plain member reads the timeline but cannot reprocess
            screens.step = 'member'
            await page.get_by_role("button", name="Sign out").click()
            member = await new_member(gateway, account)
            await page.get_by_label("E-mail").fill(member)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(console + "/")
            await page.goto(f"{console}/knowledge/documents/{document_id}/timeline")
            await expect(page.locator("#timeline .badge").first).to_have_text("Processed")
            await expect(page.get_by_role("button", name="Reprocess")).to_have_count(0)
            await screens.check("timeline-member")
            print(f"timeline: screens {', '.join(screens.checked)}")
        finally:
            await browser.close()
