"""OCR with Tesseract: page images read concurrently, and PNG/JPEG/TIFF uploads.

Images are produced by the caller's thread (PyMuPDF and Pillow objects stay in the thread that made them)
and written to PNG files; only the tesseract subprocesses run in parallel, at most `limits.ocr_workers`.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pytesseract
from PIL import Image, ImageOps, UnidentifiedImageError

from knowrithm_ingestion.extraction.model import (
    Block,
    CorruptFile,
    DocumentType,
    Extracted,
    ExtractionError,
    Limits,
    Progress,
    SuspectedBomb,
)

# What the pixel limit's refusal of an image advises.
SCALE_DOWN = "Scale it down (200-300 dpi is enough for text) and upload it again."

OCR_UNAVAILABLE = "OCR is not available on this server (tesseract-ocr is not installed)"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


@dataclass(frozen=True, slots=True)
class OcrPage:
    """One rendered image waiting for OCR; `page` is 1-based."""

    page: int
    path: Path


def ocr_pages(
    pages: Iterable[OcrPage], *, total: int, limits: Limits, progress: Progress | None = None
) -> dict[int, str]:
    """OCR the images `pages` yields (pulled lazily, in this thread) with a pool of tesseract processes."""
    # One thread per tesseract: its OpenMP threads fight over the cores otherwise (a page takes 5-10x longer).
    # pytesseract passes os.environ to the subprocess, so this is process-wide: an OpenMP runtime loaded
    # later in this process is capped too. setdefault leaves an operator's explicit choice alone.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    texts: dict[int, str] = {}
    workers = max(1, limits.ocr_workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr") as pool:
        pending: dict[Future[str], int] = {}
        try:
            for job in pages:
                while len(pending) >= 2 * workers:  # bounded: rendered pages wait on disk, not by thousands
                    _collect(pending, texts, total=total, progress=progress)
                pending[pool.submit(_ocr_file, job.path, limits=limits, page=job.page)] = job.page
            while pending:
                _collect(pending, texts, total=total, progress=progress)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return texts


def _collect(
    pending: dict[Future[str], int], texts: dict[int, str], *, total: int, progress: Progress | None
) -> None:
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    for future in sorted(done, key=pending.__getitem__):
        page = pending.pop(future)
        texts[page] = future.result()
        if progress is not None:
            progress(len(texts), total, "ocr")


def _ocr_file(path: Path, *, limits: Limits, page: int) -> str:
    try:
        return str(pytesseract.image_to_string(
            str(path), lang=limits.ocr_language, timeout=limits.ocr_timeout_seconds))
    except pytesseract.TesseractNotFoundError as exc:
        raise ExtractionError(OCR_UNAVAILABLE, code="ocr_unavailable") from exc
    except pytesseract.TesseractError as exc:
        if "Failed loading language" in str(exc.message):
            raise ExtractionError(
                f"OCR in language '{limits.ocr_language}' is not available on this server "
                "(its Tesseract language data is not installed).", code="ocr_unavailable") from exc
        raise ExtractionError(f"OCR failed on page {page}: {exc.message}".strip()) from exc
    except RuntimeError as exc:  # pytesseract's timeout
        raise ExtractionError(
            f"Reading page {page} with OCR took longer than {limits.ocr_timeout_seconds:.0f} seconds. "
            "Upload a clearer or smaller scan, or a PDF with a text layer.", code="ocr_timeout") from exc
    finally:
        path.unlink(missing_ok=True)  # rendered pages are big; keep only those still waiting


def ocr_rendered(
    render: Callable[[Path], Iterator[OcrPage]], *, total: int, limits: Limits, progress: Progress | None
) -> dict[int, list[Block]]:
    """OCR the `total` pages `render` draws into a temporary folder: each page's text blocks, by page."""
    with tempfile.TemporaryDirectory(prefix="knowrithm-ocr-") as tmp:
        texts = ocr_pages(render(Path(tmp)), total=total, limits=limits, progress=progress)
    return {n: text_blocks(text, page=n) for n, text in texts.items()}


def text_blocks(text: str, *, page: int | None) -> list[Block]:
    """OCR output as paragraph blocks (Tesseract separates paragraphs with blank lines)."""
    paragraphs = (" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(text))
    return [Block(p, page=page) for p in paragraphs if p]


def extract_image(data: bytes, *, limits: Limits, progress: Progress | None = None) -> Extracted:
    """OCR a PNG, JPEG or TIFF; each TIFF frame is a page."""
    image = _open_image(data, limits)
    with image:
        frames = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
        limits.check_pages(frames, what="The TIFF")
        by_page = ocr_rendered(lambda folder: _frames(image, frames=frames, folder=folder, limits=limits),
                               total=frames, limits=limits, progress=progress)
    # A single image is page 1, so an answer can cite "page 1" as for a one-page scan.
    blocks = [block for n in range(1, frames + 1) for block in by_page.get(n, [])]
    return Extracted(DocumentType.IMAGE, blocks, page_count=frames, ocr_pages=frames)


def _open_image(data: bytes, limits: Limits) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))  # lazy: reads the header only, so the size check comes first
    except Image.DecompressionBombError as exc:
        raise SuspectedBomb(
            f"The image has far more pixels than this server reads (limit {limits.max_image_pixels:,}); "
            "it may be a decompression bomb. Scale it down and upload it again.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(f"The image is damaged or not a PNG, JPEG or TIFF ({exc}).") from exc
    limits.check_pixels(*image.size, what="The image", advice=SCALE_DOWN)
    return image


def _frames(image: Image.Image, *, frames: int, folder: Path, limits: Limits) -> Iterator[OcrPage]:
    for n in range(1, frames + 1):
        try:
            image.seek(n - 1)
            limits.check_pixels(*image.size, what=f"Page {n} of the image" if frames > 1 else "The image",
                                advice=SCALE_DOWN)
            frame = _on_white(ImageOps.exif_transpose(image))  # phone photos: upright text reads far better
            path = folder / f"page-{n}.png"
            frame.save(path, format="PNG", compress_level=1)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise CorruptFile(f"The image is damaged and cannot be read ({exc}).") from exc
        yield OcrPage(page=n, path=path)


def _on_white(frame: Image.Image) -> Image.Image:
    """Drop transparency onto white: transparent pixels are often black underneath, hiding dark text."""
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return frame if frame.mode in ("1", "L", "RGB") else frame.convert("RGB")
