"""Document type detection and text extraction (OCR included) for every format ingestion accepts.

`detect_type` decides what a file is from its content; `extract` turns it into ordered blocks of text.
Both are synchronous and CPU-bound: the pipeline runs them in a worker thread.
"""

from __future__ import annotations

from knowrithm_ingestion.extraction.detect import detect_type
from knowrithm_ingestion.extraction.html import decode_html, extract_html
from knowrithm_ingestion.extraction.model import (
    Block,
    BlockKind,
    CorruptFile,
    DocumentType,
    Extracted,
    ExtractionError,
    FileTooLarge,
    Limits,
    NoTextFound,
    Progress,
    SuspectedBomb,
    UnsupportedFileType,
)
from knowrithm_ingestion.extraction.ocr import extract_image
from knowrithm_ingestion.extraction.office import extract_docx
from knowrithm_ingestion.extraction.pdf import extract_pdf
from knowrithm_ingestion.extraction.text import (
    ensure_text_within,
    extract_csv,
    extract_json,
    extract_markdown,
    extract_txt,
    extract_xml,
)

__all__ = [
    "Block", "BlockKind", "CorruptFile", "DocumentType", "Extracted", "ExtractionError", "FileTooLarge",
    "Limits", "NoTextFound", "Progress", "SuspectedBomb", "UnsupportedFileType", "detect_type", "extract",
    "extract_html",
]

_TEXT_EXTRACTORS = {
    DocumentType.TXT: extract_txt, DocumentType.MARKDOWN: extract_markdown, DocumentType.CSV: extract_csv,
    DocumentType.JSON: extract_json, DocumentType.XML: extract_xml, DocumentType.DOCX: extract_docx,
}


def extract(
    data: bytes, *, document_type: DocumentType, limits: Limits, progress: Progress | None = None
) -> Extracted:
    """The text of a document as blocks; raises an ExtractionError whose `reason` the user can read."""
    if len(data) > limits.max_file_bytes:
        raise FileTooLarge(
            f"The file is {len(data) / 1e6:,.1f} MB; the limit is {limits.max_file_bytes / 1e6:,.0f} MB. "
            "Split it into smaller files and upload them separately.")
    if document_type is DocumentType.PDF:
        extracted = extract_pdf(data, limits=limits, progress=progress)
    elif document_type is DocumentType.IMAGE:
        extracted = extract_image(data, limits=limits, progress=progress)
    elif document_type is DocumentType.HTML:
        extracted, _ = extract_html(decode_html(data))
        ensure_text_within(sum(len(b.text) for b in extracted.blocks), limits)
    else:
        extracted = _TEXT_EXTRACTORS[document_type](data, limits=limits)
    if not extracted.blocks:
        raise NoTextFound(_no_text_reason(extracted))
    if progress is not None and document_type not in (DocumentType.PDF, DocumentType.IMAGE):
        progress(1, 1, "extract")
    return extracted


def _no_text_reason(extracted: Extracted) -> str:
    if extracted.ocr_pages:
        return ("No text could be read from this document, even with OCR. If it is a scan, scan it again "
                "more clearly (300 dpi, straight, good contrast) and upload it again.")
    return "The document contains no text that could be extracted. Check that it is the right file."
