"""PDF text page by page with PyMuPDF; pages without a text layer are rendered and read with OCR.

PyMuPDF is not thread-safe, not even across documents (MuPDF's context is shared by the process): every
call happens in the calling thread, rendering included, and under `_MUPDF`, held one page at a time so
two documents extracted in two threads take turns. Only the tesseract processes run in parallel (ocr.py).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pymupdf

from knowrithm_ingestion.extraction.model import (
    Block,
    CorruptFile,
    DocumentType,
    Extracted,
    ExtractionError,
    Limits,
    Progress,
)
from knowrithm_ingestion.extraction.ocr import OcrPage, ocr_rendered
from knowrithm_ingestion.extraction.text import ensure_text_within

# A scan often still carries a few characters (a stamped page number, stray glyphs): that is not a text layer.
_OCR_BELOW_CHARS = 16
# Blocks keep paragraphs apart; dehyphenation joins words broken across lines ("extrac-\ntion").
_TEXT_FLAGS = pymupdf.TEXTFLAGS_BLOCKS | pymupdf.TEXT_DEHYPHENATE
_MUPDF = threading.Lock()


def extract_pdf(data: bytes, *, limits: Limits, progress: Progress | None = None) -> Extracted:
    """Text blocks per page (1-based `page`), OCR for scanned pages."""
    with _MUPDF:
        doc = _open(data)
    try:
        with _MUPDF:
            page_count = doc.page_count
            title = (doc.metadata or {}).get("title", "").strip() or None
        limits.check_pages(page_count, what="The PDF")
        pages, scans, warnings = _read_text_layer(doc, limits=limits, progress=progress)
        if scans:
            pages.update(ocr_rendered(lambda folder: _render(doc, scans, folder=folder, dpi=limits.ocr_dpi),
                                      total=len(scans), limits=limits, progress=progress))
    finally:
        with _MUPDF:
            doc.close()
    blocks = [block for n in sorted(pages) for block in pages[n]]
    ensure_text_within(sum(len(b.text) for b in blocks), limits)
    return Extracted(DocumentType.PDF, blocks, page_count=page_count, ocr_pages=len(scans), title=title,
                     warnings=warnings)


def _open(data: bytes) -> pymupdf.Document:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except (RuntimeError, ValueError) as exc:  # pymupdf.FileDataError is a RuntimeError
        raise CorruptFile(
            f"The PDF is damaged or not a PDF (MuPDF: {exc}). Open it in a PDF viewer, save or print it "
            "as a new PDF, and upload that.") from exc
    if doc.needs_pass:
        doc.close()
        raise ExtractionError(
            "The PDF is protected with a password, so its text cannot be read. Remove the password "
            "(for example by printing it to a new PDF) and upload it again.", code="password_protected")
    if doc.page_count == 0:
        doc.close()
        raise CorruptFile("The PDF has no pages; it is damaged or empty. Check the file and upload it again.")
    return doc


def _read_text_layer(
    doc: pymupdf.Document, *, limits: Limits, progress: Progress | None
) -> tuple[dict[int, list[Block]], list[int], list[str]]:
    """Blocks of the pages that have text, the pages to OCR, and the pages skipped as unreadable."""
    pages: dict[int, list[Block]] = {}
    scans: list[int] = []
    warnings: list[str] = []
    chars = 0
    total = doc.page_count
    for n in range(1, total + 1):
        try:
            with _MUPDF:
                blocks, scanned = _inspect_page(doc, n, limits)
        except RuntimeError as exc:  # one damaged content stream should not lose the whole document
            warnings.append(f"Page {n} could not be read and was skipped (MuPDF: {exc}).")
            blocks, scanned = [], False
        if scanned:
            scans.append(n)
        elif blocks:
            pages[n] = blocks
            chars += sum(len(b.text) for b in blocks)
            ensure_text_within(chars, limits)
        if progress is not None:
            progress(n, total, "extract")
    return pages, scans, warnings


def _inspect_page(doc: pymupdf.Document, n: int, limits: Limits) -> tuple[list[Block], bool]:
    """The page's text blocks, and whether it is a scan to OCR (the page object dies here, under the lock)."""
    page = doc.load_page(n - 1)
    raw = page.get_text("blocks", flags=_TEXT_FLAGS)
    texts = (" ".join(str(b[4]).split()) for b in raw if b[6] == 0)  # type 0: text (1 would be an image)
    blocks = [Block(text, page=n) for text in texts if text]
    scanned = sum(len(b.text) for b in blocks) < _OCR_BELOW_CHARS and bool(page.get_images())
    if scanned:
        scale = limits.ocr_dpi / 72  # PDF units are points, 1/72 inch
        limits.check_pixels(math.ceil(page.rect.width * scale), math.ceil(page.rect.height * scale),
                            what=f"Page {n}", context=f" when rendered for OCR at {limits.ocr_dpi} dpi",
                            advice="Scan it at a normal paper size and upload it again.")
    return blocks, scanned


def _render(doc: pymupdf.Document, scans: list[int], *, folder: Path, dpi: int) -> Iterator[OcrPage]:
    for n in scans:
        path = folder / f"page-{n}.png"
        try:
            with _MUPDF:  # released before yielding: OCR of earlier pages goes on while this one renders
                pixmap = doc.load_page(n - 1).get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
                pixmap.save(str(path))
                del pixmap
        except RuntimeError as exc:
            raise CorruptFile(
                f"Page {n} of the PDF is damaged and cannot be rendered for OCR (MuPDF: {exc}).") from exc
        yield OcrPage(page=n, path=path)
