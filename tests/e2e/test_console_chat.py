"""The console's Playground and Conversations screens in a real browser, on the real platform.

An agent on the built-in offline provider (extractive: it quotes the document's sentences,
citing them) learns a 3-page PDF; in the playground its answer streams in (the text grows
before the answer completes), cites the document and page, and the citation opens the passage;
a question the document cannot answer shows the "I don't know" mark. The conversations list
shows the chat, its filters work, the transcript shows the citation and takes feedback, and a
conversation is deleted and restored. The playground is also used by keyboard alone. axe-core
checks every state; screenshots go to tests/e2e/artifacts/console/.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from knowrithm_ingestion.testing import samples

from .accounts import PASSWORD
from .knowledge import trained_agent, upload, wait_documents
from .test_console_browser import CHROMIUM, Screens

pytestmark = pytest.mark.e2e

FILLER = "This handbook describes the daily routines of the warehouse team in general terms."
# Records every length the streamed text had, from the page's own DOM changes.
WATCH_STREAM = """() => {
  window.__lengths = [];
  window.__times = [];
  const target = document.getElementById('streaming-text');
  new MutationObserver(() => {
    window.__lengths.push(target.textContent.length);
    window.__times.push(performance.now());
  })
    .observe(target, {childList: true, characterData: true, subtree: true});
}"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium: run `make chromium`")
async def test_playground_streams_cited_answers_and_conversations_can_be_filtered_deleted_and_restored(
    platform, gateway, tmp_path
):
    from playwright.async_api import async_playwright, expect

    account, agent_id = await trained_agent(gateway)
    tag = uuid.uuid4().hex[:6]
    fact = f"The night shift loads refrigerated trucks at dock {tag} after midnight."
    pdf = samples.make_pdf([FILLER, fact, FILLER])
    r = await upload(gateway, account, agent_id, [("handbook.pdf", pdf, "application/pdf")])
    await wait_documents(gateway, account, [r.json()["documents"][0]["id"]])
    console = platform.gateway_url + "/console"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-GB")
            page = await context.new_page()
            screens = Screens(page, tmp_path)
            await page.goto(console + "/sign-in")
            await page.get_by_label("E-mail").fill(account.email)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page).to_have_url(console + "/")

            # the playground, empty: reached from the navigation
            await page.get_by_role("navigation", name="Main").get_by_role("link", name="Playground", exact=True).click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Playground")
            await screens.check("playground")

            # an empty question: the browser's own check keeps it from being sent
            await page.get_by_role("button", name="Ask").click()
            assert await page.evaluate("document.getElementById('question').validity.valueMissing")

            # a question longer than the API takes: its error next to the field, the text kept
            await page.get_by_label("Your question").fill("why? " * 801)
            await page.get_by_role("button", name="Ask").click()
            error = page.locator("#question-error")
            await expect(error).to_contain_text("longer than 4000 characters")
            await expect(page.get_by_label("Your question")).to_have_attribute("aria-invalid", "true")
            await expect(page.get_by_label("Your question")).to_be_focused()
            await screens.check("playground-error")

            # a question: the answer streams in, then shows its citation, latency and tokens. When the
            # machine is loaded the offline responder may finish before the page's stream connects:
            # the API then sends the finished text as one catch-up token, which is right but shows
            # no streaming, so the question is asked again (at most three times) until it streams.
            log = page.get_by_role("log")
            for turns in range(1, 4):
                await page.evaluate(WATCH_STREAM)
                await page.get_by_label("Your question").fill(f"When are refrigerated trucks loaded at dock {tag}?")
                await page.evaluate("() => { window.__t0 = performance.now(); }")
                await page.get_by_role("button", name="Ask").click()
                answer = log.locator("article.turn-assistant").nth(turns - 1)
                await expect(answer).to_contain_text("after midnight", timeout=30_000)
                await expect(page.get_by_role("status").filter(has_text="The answer is complete.")).to_be_visible()
                lengths = await page.evaluate("window.__lengths")
                growing = sorted({n for n in lengths if n > 0})
                if len(growing) >= 2:
                    break
            assert len(growing) >= 2, f"the text did not grow in steps in {turns} answers: {lengths}"
            first, last = await page.evaluate(
                "[window.__times.find((t, i) => window.__lengths[i] > 0) - window.__t0,"
                " window.__times[window.__times.length - 1] - window.__t0]")
            print(f"playground: first token after {first:.0f} ms, the rendered answer in place after {last:.0f} ms")
            citation = answer.get_by_role("button", name="[1] handbook.pdf, page 2")
            await expect(citation).to_be_visible()
            await expect(answer.locator(".answer-figures")).to_contain_text("Answered in")
            await expect(answer.locator(".answer-figures")).to_contain_text("tokens")
            await expect(page.get_by_label("Your question")).to_be_focused()
            await screens.check("playground-answer")

            # the citation opens the cited passage in a dialog; closing it returns the focus
            await citation.click()
            dialog = page.get_by_role("dialog", name="Cited passage")
            await expect(dialog).to_be_visible()
            await expect(dialog).to_contain_text(fact)
            await expect(dialog).to_contain_text("handbook.pdf, page 2")
            await expect(dialog.get_by_role("button", name="Close")).to_be_focused()
            await screens.check("playground-passage")
            await page.keyboard.press("Escape")
            await expect(dialog).to_be_hidden()
            await expect(citation).to_be_focused()

            # a question the document cannot answer: marked as such, no citation
            await page.get_by_label("Your question").fill("What is the capital of Australia?")
            await page.keyboard.press("Enter")
            second = log.locator("article.turn-assistant").nth(turns)
            await expect(second).to_contain_text("I don't know", timeout=30_000)
            await expect(second.locator(".badge")).to_have_text("No answer in the documents")
            await expect(second.get_by_role("button")).to_have_count(0)
            await screens.check("playground-dont-know")

            # conversations: the playground's chat is listed
            await page.get_by_role("navigation", name="Main").get_by_role("link", name="Conversations").click()
            await expect(page.get_by_role("heading", level=1)).to_have_text("Conversations")
            rows = page.locator("table.list tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("Playground")
            await expect(rows.first).to_contain_text("Not rated")
            await screens.check("conversations")

            # filters: leads only finds nothing; a date range that holds today finds it again
            await page.get_by_label("With a lead").select_option("with")
            await page.get_by_role("button", name="Apply filters").click()
            await expect(page.get_by_text("No conversation matches.")).to_be_visible()
            await screens.check("conversations-filtered-empty")
            today = dt.datetime.now(dt.UTC).date()
            await page.get_by_label("With a lead").select_option("")
            await page.get_by_label("Active from").fill((today - dt.timedelta(days=1)).isoformat())
            await page.get_by_label("Active until").fill((today + dt.timedelta(days=1)).isoformat())
            await page.get_by_label("Agent").select_option(agent_id)
            await page.get_by_role("button", name="Apply filters").click()
            await expect(rows).to_have_count(1)
            await page.get_by_label("Active from").fill((today + dt.timedelta(days=2)).isoformat())
            await page.get_by_label("Active until").fill("")
            await page.get_by_role("button", name="Apply filters").click()
            await expect(rows).to_have_count(0)
            await page.goto(console + "/conversations")

            # the transcript: the question, the cited answer and its passage, feedback
            await rows.first.get_by_role("link", name="Playground", exact=True).click()
            await expect(page.get_by_role("heading", level=2, name="Transcript")).to_be_visible()
            cited = page.get_by_role("button", name="[1] handbook.pdf, page 2")
            await expect(cited).to_be_visible()
            await cited.click()
            await expect(page.get_by_role("dialog", name="Cited passage")).to_contain_text(fact)
            await page.keyboard.press("Escape")
            await page.locator("article.turn-assistant").first.get_by_role(
                "button", name="Helpful", exact=True).click()
            await expect(page.locator(".notice[role=status]")).to_have_text("Thank you: your feedback is saved.")
            await expect(page.locator("article.turn-assistant").first).to_contain_text("Your feedback: helpful")
            await screens.check("transcript")

            # the export is a download of the conversation with its messages
            async with page.expect_download() as download_info:
                await page.locator(".actions").get_by_role("link", name="Export").click()
            download = await download_info.value
            exported = (await download.path()).read_text()
            assert fact.split(" at dock")[0] in exported and '"citations"' in exported

            # the rating filter now finds it as helpful
            await page.goto(console + "/conversations?rating=positive")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("Helpful")
            await page.goto(console + "/conversations?rating=negative")
            await expect(rows).to_have_count(0)

            # delete, then restore from the deleted conversations
            await page.goto(console + "/conversations")
            await rows.first.get_by_role("link", name="Playground", exact=True).click()
            await page.get_by_role("button", name="Delete").click()
            await expect(page.locator(".notice[role=status]")).to_contain_text("The conversation is deleted.")
            await expect(page.get_by_text("No conversation matches.")).to_be_visible()
            await page.get_by_role("link", name="Deleted conversations").click()
            await expect(rows).to_have_count(1)
            await screens.check("conversations-deleted")
            await rows.first.get_by_role("button", name="Restore Playground").click()
            await expect(page.locator(".notice[role=status]")).to_have_text("The conversation is restored.")
            await expect(page.get_by_role("heading", level=2, name="Transcript")).to_be_visible()

            # another company's conversation id (or none at all) is the console's 404
            r = await page.goto(console + f"/conversations/{uuid.uuid4()}")
            assert r is not None and r.status == 404
            await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")

            # keyboard only: a new chat, a question, an answer, its passage
            await page.goto(console + "/playground")
            await page.keyboard.press("Tab")
            await expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
            await page.keyboard.press("Enter")
            for _ in range(10):
                await page.keyboard.press("Tab")
                if await page.evaluate("document.activeElement.id") == "question":
                    break
            await expect(page.get_by_label("Your question")).to_be_focused()
            await page.keyboard.type(f"Which trucks are loaded at dock {tag}?")
            await page.keyboard.press("Enter")
            answer = page.get_by_role("log").locator("article.turn-assistant").first
            await expect(answer).to_contain_text("refrigerated trucks", timeout=30_000)
            await expect(page.get_by_label("Your question")).to_be_focused()
            await page.keyboard.press("Shift+Tab")
            for _ in range(10):
                if await page.evaluate("document.activeElement.dataset.passage !== undefined"):
                    break
                await page.keyboard.press("Shift+Tab")
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("dialog", name="Cited passage")).to_contain_text(fact)
            await page.keyboard.press("Enter")  # the focused Close button
            await expect(page.get_by_role("dialog", name="Cited passage")).to_be_hidden()

            # without the script the form still works: the console waits for the answer and
            # goes to the transcript
            csrf = await page.locator('#ask input[name="csrf_token"]').input_value()
            r = await page.request.post(console + "/playground/ask", max_redirects=0, form={
                "csrf_token": csrf, "agent_id": agent_id, "conversation_id": "",
                "message": f"What happens at dock {tag}?"}, timeout=60_000)
            assert r.status == 303, await r.text()
            transcript_url = platform.gateway_url + r.headers["location"]
            await page.goto(transcript_url)
            await expect(page.locator("article.turn-assistant")).to_contain_text("after midnight")
            # another conversation's stream (or one that does not exist) is refused as not found
            r = await page.request.get(console + f"/playground/stream?conversation={uuid.uuid4()}"
                                       f"&message={uuid.uuid4()}")
            assert r.status == 404
            await page.goto(console + "/playground")

            # reflow at 320 CSS pixels
            await page.set_viewport_size({"width": 320, "height": 640})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("playground-320px")
            await page.goto(console + "/conversations")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 320
            await screens.check("conversations-320px")
        finally:
            await browser.close()
