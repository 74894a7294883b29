"""Plain-text formats: TXT, Markdown, CSV, JSON and XML, decoded and cut into blocks."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException, DTDForbidden

from knowrithm_ingestion.extraction.model import (
    Block,
    BlockKind,
    CorruptFile,
    DocumentType,
    Extracted,
    FileTooLarge,
    Limits,
    SuspectedBomb,
    UnsupportedFileType,
)

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_MD_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_MD_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S")
_CSV_DELIMITERS = ",;\t|"


UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Notepad's "Unicode", Excel's "Unicode text"


def decode_text(data: bytes) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252/Latin-1.

    NUL bytes outside UTF-16 mean binary content."""
    if data.startswith(UTF16_BOMS):
        return _normalised(data.decode("utf-16", errors="replace"))
    if b"\x00" in data:
        raise UnsupportedFileType(
            "The file contains binary data, not text. Upload a plain-text (UTF-8) file or the original "
            "document.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("latin-1")  # every byte maps: the last resort never fails
    return _normalised(text)


def _normalised(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def ensure_text_within(chars: int, limits: Limits) -> None:
    """Stop extraction once a document's text passes limits.max_text_chars."""
    if chars > limits.max_text_chars:
        raise FileTooLarge(
            f"The document holds more than {limits.max_text_chars:,} characters of text, the most one "
            "document may have. Split it into smaller files and upload them separately.")


def _checked(extracted: Extracted, limits: Limits) -> Extracted:
    ensure_text_within(sum(len(b.text) for b in extracted.blocks), limits)
    return extracted


def extract_txt(data: bytes, *, limits: Limits) -> Extracted:
    """Paragraphs of a text file, split on blank lines."""
    text = decode_text(data)
    blocks = [Block(p.strip()) for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    return _checked(Extracted(DocumentType.TXT, blocks), limits)


def extract_markdown(data: bytes, *, limits: Limits) -> Extracted:
    """Markdown paragraphs, list items and code blocks, with '#' headings kept as the headings above them."""
    blocks = list(_markdown_blocks(decode_text(data).split("\n")))
    title = next((b.text for b in blocks if b.kind is BlockKind.HEADING and b.level == 1), None)
    return _checked(Extracted(DocumentType.MARKDOWN, blocks, title=title), limits)


def _markdown_blocks(lines: list[str]) -> Iterator[Block]:
    trail: list[tuple[int, str]] = []  # the open headings, outermost first
    buffer: list[str] = []
    kind = BlockKind.PARAGRAPH
    fence: str | None = None

    def flush() -> Iterator[Block]:
        text = "\n".join(buffer).strip()
        buffer.clear()
        if text:
            yield Block(text, kind=kind, heading=_trail_text(trail))

    for line in lines:
        if fence is not None:  # inside a fenced code block '#' lines are code, not headings
            if line.strip().startswith(fence):
                yield from flush()
                fence, kind = None, BlockKind.PARAGRAPH
            else:
                buffer.append(line)
            continue
        if opening := _MD_FENCE.match(line):
            yield from flush()
            fence, kind = opening.group(1), BlockKind.CODE
        elif heading := _MD_HEADING.match(line):
            yield from flush()
            level, text = len(heading.group(1)), heading.group(2).strip()
            trail[:] = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, text)]
            yield Block(text, kind=BlockKind.HEADING, heading=_trail_text(trail), level=level)
        elif not line.strip():
            yield from flush()
            kind = BlockKind.PARAGRAPH
        elif _MD_LIST_ITEM.match(line):
            yield from flush()
            kind = BlockKind.LIST_ITEM
            buffer.append(line.strip())
        else:
            buffer.append(line.rstrip())
    yield from flush()


def _trail_text(trail: list[tuple[int, str]]) -> str | None:
    return " > ".join(text for _, text in trail) or None


def extract_csv(data: bytes, *, limits: Limits) -> Extracted:
    """One ROW block per CSV row, written with its header ("name: Ada; city: London")."""
    text = decode_text(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:65536], _CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel  # one column, or nothing to sniff: commas are the usual guess
    rows = csv.reader(io.StringIO(text), dialect)
    try:
        header = [h.strip() for h in next(rows, [])]
        blocks = [Block(line, kind=BlockKind.ROW) for row in rows if (line := _csv_line(header, row))]
    except csv.Error as exc:
        raise CorruptFile(
            f"The CSV file cannot be read at line {rows.line_num} ({exc}). Check its quoting and upload it "
            "again.") from exc
    if not blocks and any(header):  # a single line: the header is the only content
        blocks = [Block("; ".join(h for h in header if h), kind=BlockKind.ROW)]
    return _checked(Extracted(DocumentType.CSV, blocks), limits)


def _csv_line(header: list[str], row: list[str]) -> str:
    names = header + [f"column {i + 1}" for i in range(len(header), len(row))]
    return "; ".join(f"{name or f'column {i + 1}'}: {value.strip()}"
                     for i, (name, value) in enumerate(zip(names, row, strict=False)) if value.strip())


def extract_json(data: bytes, *, limits: Limits) -> Extracted:
    """JSON flattened into "path.to.key: value" lines; each object of an array of objects is its own block."""
    try:
        value = json.loads(decode_text(data))
        blocks = [Block("\n".join(lines), kind=BlockKind.ROW) for lines in _json_records(value) if lines]
    except json.JSONDecodeError as exc:
        raise CorruptFile(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            "Fix it and upload it again."
        ) from exc
    except RecursionError as exc:
        raise CorruptFile("The JSON is nested too deeply to read. Flatten it and upload it again.") from exc
    return _checked(Extracted(DocumentType.JSON, blocks), limits)


def _json_records(value: Any) -> Iterator[list[str]]:
    if _is_record_list(value):
        for i, item in enumerate(value):
            yield list(_json_lines(item, f"[{i}]"))
        return
    if not isinstance(value, dict):
        yield list(_json_lines(value, ""))
        return
    rest: list[str] = []  # the other top-level values, kept together and in order between the records
    for key, child in value.items():
        if _is_record_list(child):
            yield rest
            rest = []
            for i, item in enumerate(child):
                yield list(_json_lines(item, f"{key}[{i}]"))
        else:
            rest.extend(_json_lines(child, str(key)))
    yield rest


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _json_lines(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _json_lines(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _json_lines(child, f"{path}[{i}]")
    elif value is not None and str(value).strip():
        shown = json.dumps(value) if isinstance(value, bool) else str(value).strip()
        yield f"{path}: {shown}" if path else shown


def extract_xml(data: bytes, *, limits: Limits) -> Extracted:
    """The text and attributes of XML elements with their tag path; one block per child of the root."""
    try:
        root = safe_xml.fromstring(data, forbid_dtd=False)
    except (DTDForbidden, DefusedXmlException) as exc:
        raise SuspectedBomb(
            "The XML file declares entities, which is how 'billion laughs' attacks expand a small file into "
            "gigabytes, so it was not read. Remove the <!DOCTYPE …> entity declarations and upload it again."
        ) from exc
    except ParseError as exc:
        raise CorruptFile(f"The file is not well-formed XML ({exc}). Fix it and upload it again.") from exc
    base = _tag(root)
    blocks = [Block(own, kind=BlockKind.ROW)] if (own := "\n".join(_xml_own_lines(root, base))) else []
    for child in root:
        if lines := "\n".join(_xml_lines(child, f"{base}/{_tag(child)}")):
            blocks.append(Block(lines, kind=BlockKind.ROW))
    return _checked(Extracted(DocumentType.XML, blocks), limits)


def _xml_lines(element: Element, path: str) -> Iterator[str]:
    stack = [(element, path)]  # iterative: a deeply nested file must not exhaust the interpreter's stack
    while stack:
        node, node_path = stack.pop()
        yield from _xml_own_lines(node, node_path)
        stack.extend((child, f"{node_path}/{_tag(child)}") for child in reversed(node))


def _xml_own_lines(node: Element, path: str) -> Iterator[str]:
    for name, value in node.attrib.items():
        if value.strip():
            yield f"{path}@{_tag_name(name)}: {value.strip()}"
    if node.text and node.text.strip():
        yield f"{path}: {' '.join(node.text.split())}"
    for child in node:  # text between child elements belongs to this element
        if child.tail and child.tail.strip():
            yield f"{path}: {' '.join(child.tail.split())}"


def _tag(element: Element) -> str:
    return _tag_name(element.tag) if isinstance(element.tag, str) else "node"


def _tag_name(name: str) -> str:
    return name.rsplit("}", 1)[-1]  # drop the "{namespace}" prefix ElementTree puts in front
