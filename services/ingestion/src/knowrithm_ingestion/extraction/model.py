"""What extraction produces and the limits it honours (the contract between extractors,
the chunker and the pipeline)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

# Called from the extracting thread as work advances: (pages done, pages in all, stage).
Progress = Callable[[int, int, str], None]


class DocumentType(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    TXT = "txt"
    MARKDOWN = "md"
    CSV = "csv"
    JSON = "json"
    XML = "xml"
    HTML = "html"
    IMAGE = "image"  # PNG, JPEG, TIFF: OCR


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    ROW = "row"  # one table/CSV row, rendered with its header ("col: value; ...")
    LIST_ITEM = "list_item"
    CODE = "code"


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of text: a chunk boundary may fall between blocks, never inside a row."""

    text: str
    kind: BlockKind = BlockKind.PARAGRAPH
    page: int | None = None  # 1-based page number where the format has pages (PDF, TIFF frames)
    heading: str | None = None  # the nearest heading above this block ("Intro > Scope")
    level: int = 0  # heading level for HEADING blocks (1 = top)


@dataclass(slots=True)
class Extracted:
    """A document's text as ordered blocks, plus what the user sees about it."""

    document_type: DocumentType
    blocks: list[Block]
    page_count: int = 1
    ocr_pages: int = 0  # pages (or images) whose text came from Tesseract
    title: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def word_count(self) -> int:
        return sum(len(b.text.split()) for b in self.blocks)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds against oversized and malicious files; the defaults mirror the settings'."""

    max_file_bytes: int = 50 * 1024 * 1024
    max_pages: int = 2000
    max_image_pixels: int = 50_000_000  # per image or rendered page
    max_unzipped_bytes: int = 200 * 1024 * 1024  # DOCX (a zip) expanded
    max_unzip_ratio: int = 100  # expanded / compressed, per DOCX
    max_text_chars: int = 20_000_000  # extracted text of one document
    ocr_language: str = "eng"
    ocr_dpi: int = 200
    ocr_workers: int = 2  # concurrent tesseract processes (each with OMP_THREAD_LIMIT=1)
    ocr_timeout_seconds: float = 120.0  # per page

    def check_pages(self, pages: int, *, what: str) -> None:
        """Refuse a document of more pages than `max_pages` (a TIFF's frames are pages)."""
        if pages > self.max_pages:
            raise SuspectedBomb(
                f"{what} has {pages:,} pages; the limit is {self.max_pages:,}. "
                "Split it into smaller files and upload them separately.")

    def check_pixels(self, width: int, height: int, *, what: str, advice: str, context: str = "") -> None:
        """Refuse an image (or a page rendered for OCR) of more pixels than `max_image_pixels`."""
        if width * height > self.max_image_pixels:
            size = f"{width:,}x{height:,} pixels{context}"
            raise SuspectedBomb(f"{what} is {size}; the limit is {self.max_image_pixels:,} pixels. {advice}")


class ExtractionError(Exception):
    """A document that cannot be extracted; `reason` is shown to the user as it is."""

    code = "extraction_failed"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code


class UnsupportedFileType(ExtractionError):
    code = "unsupported_file_type"


class FileTooLarge(ExtractionError):
    code = "file_too_large"


class SuspectedBomb(ExtractionError):
    """Expansion (zip, image pixels, pages) beyond the limits: refused before it is done."""

    code = "decompression_bomb"


class CorruptFile(ExtractionError):
    code = "corrupt_file"


class NoTextFound(ExtractionError):
    code = "no_text"
