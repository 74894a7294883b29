"""What our extraction costs next to the libraries used bare, on this machine.

Run: `python3 -m uv run --frozen python bench/extraction.py`. Builds a ~50-page text PDF and a ~6-page
scanned PDF in a temp dir, then, side by side in the same run (best of 3 each):

1. `extract()` on the text PDF vs a bare PyMuPDF loop `for page in doc: page.get_text()` (target >= 0.8):
   what blocks, per-page bookkeeping and limits cost.
2. `extract()` on the scanned PDF (rendering included, `ocr_workers = os.cpu_count()`) vs bare pytesseract
   reading the same pages, pre-rendered, one after another with OMP_THREAD_LIMIT=1 (target >= 0.9).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymupdf
import pytesseract

from knowrithm_ingestion.extraction import DocumentType, Limits, extract
from knowrithm_ingestion.testing import samples

TEXT_PAGES = 50
SCANNED_PAGES = 6
ROUNDS = 3
WORDS = ("the lighthouse keeper records wind speed tide height and passing ships in a leather bound log "
         "every evening before lighting the lamp while storms roll in from the western sea").split()


def _page_text(page: int, *, lines: int, words_per_line: int) -> str:
    body = []
    for line in range(lines):
        start = (page * 7 + line * 3) % len(WORDS)
        words = [WORDS[(start + i) % len(WORDS)] for i in range(words_per_line)]
        body.append(" ".join(words).capitalize() + ".")
        if line % 6 == 5:
            body.append("")  # paragraph breaks, as real pages have
    return "\n".join(body)


def _best_pair(ours: Callable[[], object], bare: Callable[[], object]) -> tuple[float, float]:
    """Best time of each, the two interleaved round by round so machine noise hits both alike."""
    ours(), bare()  # warm-up: first-use costs (fonts, imports, page caches) are not what is measured
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(ROUNDS):
        for fn, out in ((ours, times[0]), (bare, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def _bare_text(data: bytes) -> None:
    doc = pymupdf.open(stream=data, filetype="pdf")
    for page in doc:
        page.get_text()
    doc.close()


def _render(data: bytes, folder: Path, dpi: int) -> list[Path]:
    paths = []
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        for n, page in enumerate(doc, start=1):
            path = folder / f"bare-{n}.png"
            page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False).save(str(path))
            paths.append(path)
    return paths


def _bare_ocr(paths: list[Path], lang: str) -> None:
    for path in paths:
        pytesseract.image_to_string(str(path), lang=lang)


def main() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # the bare baseline gets the tesseract setting extract() uses
    workers = os.cpu_count() or 1
    limits = Limits(ocr_workers=workers)
    with tempfile.TemporaryDirectory(prefix="bench-extraction-") as tmp:
        folder = Path(tmp)
        text_path, scan_path = folder / "text.pdf", folder / "scanned.pdf"
        text_path.write_bytes(samples.make_pdf(
            [_page_text(p, lines=40, words_per_line=12) for p in range(TEXT_PAGES)]))
        scan_path.write_bytes(samples.make_scanned_pdf(
            [_page_text(p, lines=22, words_per_line=9) for p in range(SCANNED_PAGES)], font_size=34))
        text, scanned = text_path.read_bytes(), scan_path.read_bytes()

        pdf = DocumentType.PDF
        ours_text, bare_text = _best_pair(lambda: extract(text, document_type=pdf, limits=limits),
                                          lambda: _bare_text(text))
        pages = _render(scanned, folder, limits.ocr_dpi)
        ours_ocr, bare_ocr = _best_pair(lambda: extract(scanned, document_type=pdf, limits=limits),
                                        lambda: _bare_ocr(pages, limits.ocr_language))

    rows = [
        (f"text PDF, {TEXT_PAGES} pages", "`for page in doc: page.get_text()`", TEXT_PAGES,
         ours_text, bare_text, 0.8),
        (f"scanned PDF, {SCANNED_PAGES} pages", f"pytesseract sequential, {limits.ocr_dpi} dpi PNGs",
         SCANNED_PAGES, ours_ocr, bare_ocr, 0.9),
    ]
    print(f"\n`{' '.join(['python3 -m uv run --frozen python', *sys.argv])}`  (cpus={workers}, "
          f"ocr_workers={workers}, OMP_THREAD_LIMIT=1, best of {ROUNDS})\n")
    print("| document | baseline | extract() pages/s | baseline pages/s | ratio | target |")
    print("|---|---|---:|---:|---:|---:|")
    for name, baseline, count, ours, bare, target in rows:
        print(f"| {name} | {baseline} | {count / ours:.1f} | {count / bare:.1f} | {bare / ours:.2f} "
              f"| >= {target} |")


if __name__ == "__main__":
    main()
