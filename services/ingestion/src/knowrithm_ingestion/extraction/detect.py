"""What a file really is: its content decides, the name and declared content type are only hints.

A binary format must match its extension (a .pdf starts with %PDF, a .docx is a zip holding
word/document.xml, an image has PNG/JPEG/TIFF magic bytes); programs are refused whatever their name.
"""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from pathlib import PurePosixPath

import filetype

from knowrithm_ingestion.extraction.model import DocumentType, NoTextFound, UnsupportedFileType
from knowrithm_ingestion.extraction.text import UTF16_BOMS, decode_text

_BY_EXTENSION = {
    ".pdf": DocumentType.PDF, ".docx": DocumentType.DOCX,
    ".png": DocumentType.IMAGE, ".jpg": DocumentType.IMAGE, ".jpeg": DocumentType.IMAGE,
    ".tif": DocumentType.IMAGE, ".tiff": DocumentType.IMAGE,
    ".txt": DocumentType.TXT, ".text": DocumentType.TXT, ".md": DocumentType.MARKDOWN,
    ".markdown": DocumentType.MARKDOWN, ".csv": DocumentType.CSV, ".json": DocumentType.JSON,
    ".xml": DocumentType.XML, ".html": DocumentType.HTML, ".htm": DocumentType.HTML,
}
_BY_MIME = {
    "application/pdf": DocumentType.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DocumentType.DOCX,
    "image/png": DocumentType.IMAGE, "image/jpeg": DocumentType.IMAGE, "image/tiff": DocumentType.IMAGE,
    "text/plain": DocumentType.TXT, "text/markdown": DocumentType.MARKDOWN,
    "text/x-markdown": DocumentType.MARKDOWN,
    "text/csv": DocumentType.CSV, "application/json": DocumentType.JSON, "application/xml": DocumentType.XML,
    "text/xml": DocumentType.XML, "text/html": DocumentType.HTML, "application/xhtml+xml": DocumentType.HTML,
}
_LABELS = {
    DocumentType.PDF: "a PDF", DocumentType.DOCX: "a Word document (.docx)", DocumentType.TXT: "a text file",
    DocumentType.MARKDOWN: "a Markdown file", DocumentType.CSV: "a CSV file",
    DocumentType.JSON: "a JSON file", DocumentType.XML: "an XML file", DocumentType.HTML: "an HTML page",
    DocumentType.IMAGE: "a PNG, JPEG or TIFF image",
}
_BINARY = {DocumentType.PDF, DocumentType.DOCX, DocumentType.IMAGE}
_IMAGE_KINDS = {"png", "apng", "jpg", "tif"}
_SUPPORTED = "PDF, Word (.docx), text, Markdown, CSV, JSON, XML, HTML, and PNG, JPEG or TIFF images"
_PROGRAMS = (  # (magic bytes, what the user is told the file is)
    (b"MZ", "a Windows program (.exe/.dll)"),
    (b"\x7fELF", "a Linux program (ELF)"),
    (b"\xfe\xed\xfa\xce", "a macOS program (Mach-O)"), (b"\xfe\xed\xfa\xcf", "a macOS program (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "a macOS program (Mach-O)"), (b"\xcf\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a macOS universal program or Java class"),
    (b"\x00asm", "a WebAssembly module"),
    (b"#!", "a script"),
)
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")


def detect_type(data: bytes, *, filename: str, content_type: str | None = None) -> DocumentType:
    """The document type of `data`; raises UnsupportedFileType when the content is not what it claims."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1] or "The file"
    if not data.strip():
        raise NoTextFound(f"'{name}' is empty. Upload a file with some content.")
    extension = PurePosixPath(name).suffix.lower()
    mime = (content_type or "").split(";")[0].strip().lower()
    declared = _BY_EXTENSION.get(extension) or _BY_MIME.get(mime)
    if program := next((label for magic, label in _PROGRAMS if data.startswith(magic)), None):
        claimed = _LABELS[declared] if declared else "a document"
        raise UnsupportedFileType(
            f"'{name}' is not {claimed}: it is {program}. Only documents can be uploaded ({_SUPPORTED}).")
    if declared is None and extension:
        raise UnsupportedFileType(_unsupported_extension(name, extension))
    if declared is None:
        return _sniff(data, name)
    if declared in _BINARY:
        _check_binary(data, declared, name)
    else:
        _check_text(data, declared, name)
    return declared


def _unsupported_extension(name: str, extension: str) -> str:
    if extension == ".doc":
        return (f"'{name}' is an old-format Word document (.doc). Open it in Word, save it as .docx "
                "and upload that.")
    return f"Files of type {extension} are not supported. Upload {_SUPPORTED}."


def _check_binary(data: bytes, declared: DocumentType, name: str) -> None:
    if declared is DocumentType.PDF and b"%PDF-" in data[:1024]:  # readers accept a short preamble
        return
    if declared is DocumentType.DOCX and _is_docx(data):
        return
    if declared is DocumentType.IMAGE and (kind := filetype.guess(data)) and kind.extension in _IMAGE_KINDS:
        return
    raise UnsupportedFileType(
        f"'{name}' is not {_LABELS[declared]}: {_what_it_is(data)}. Upload the original file, "
        "or give it the extension that matches its content.")


def _is_docx(data: bytes) -> bool:
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:  # reads the directory only, nothing is inflated
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False


def _what_it_is(data: bytes) -> str:
    kind = filetype.guess(data)
    if kind is not None and kind.extension == "doc":
        return "it is an old-format Word document (.doc); save it as .docx in Word"
    if kind is not None:
        return f"its content is a .{kind.extension} file ({kind.mime})"
    if data.startswith(b"%PDF-"):
        return "its content is a PDF"
    if _looks_binary(data):
        return "its content is binary data of an unknown kind"
    return "its content is text"


def _check_text(data: bytes, declared: DocumentType, name: str) -> None:
    if data.startswith(b"%PDF-") or _looks_binary(data):
        raise UnsupportedFileType(
            f"'{name}' is not {_LABELS[declared]}: {_what_it_is(data)}. Text files must be plain text "
            "(UTF-8 is best); upload the original document instead.")


def _looks_binary(data: bytes) -> bool:
    """NUL bytes, or more than 1% control characters once decoded: not something a person wrote as text."""
    if b"\x00" in data and not data.startswith(UTF16_BOMS):
        return True
    sample = _head(data)
    controls = sum(1 for ch in sample if (ch < " " and ch not in _TEXT_CONTROLS) or "\x7f" <= ch <= "\x9f")
    return controls > max(1, len(sample) // 100)


def _sniff(data: bytes, name: str) -> DocumentType:
    """No usable name or content type: decide from the bytes alone."""
    if data.startswith(b"%PDF-"):
        return DocumentType.PDF
    if _is_docx(data):
        return DocumentType.DOCX
    kind = filetype.guess(data)
    if kind is not None and kind.extension in _IMAGE_KINDS:
        return DocumentType.IMAGE
    if kind is not None or _looks_binary(data):
        raise UnsupportedFileType(f"'{name}' is not a supported document: {_what_it_is(data)}. "
                                  f"Upload {_SUPPORTED}.")
    return _sniff_text(_head(data), data)


def _head(data: bytes) -> str:
    """The first 64 KiB as text; a UTF-8 character cut in two at the end is not a sign of binary content."""
    if data.startswith(UTF16_BOMS):
        return data[:65536].decode("utf-16", errors="ignore")
    try:
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data[:65536], final=False)
    except UnicodeDecodeError:
        return decode_text(data[:65536])  # single-byte encodings: no character can be cut


def _sniff_text(head: str, data: bytes) -> DocumentType:
    start = head.lstrip().lower()
    if start.startswith("<!doctype html") or "<html" in start[:1024]:
        return DocumentType.HTML
    if start.startswith("<?xml"):
        return DocumentType.XML
    if start[:1] in ("{", "["):
        try:
            json.loads(decode_text(data))
            return DocumentType.JSON
        except ValueError:
            pass
    return DocumentType.TXT
