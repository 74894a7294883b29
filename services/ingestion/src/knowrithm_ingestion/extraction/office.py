"""Word documents (.docx) with python-docx: headings, paragraphs, list items and table rows in order.

A .docx is a zip: its directory is checked against the limits before anything is decompressed.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx
from docx.document import Document
from docx.opc.exceptions import OpcError
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from lxml.etree import LxmlError

from knowrithm_ingestion.extraction.model import (
    Block,
    BlockKind,
    CorruptFile,
    DocumentType,
    Extracted,
    Limits,
    SuspectedBomb,
)
from knowrithm_ingestion.extraction.text import ensure_text_within

_MAX_ZIP_ENTRIES = 10_000
_HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)

_DAMAGED = ("The Word document is damaged or not a .docx file ({detail}). Open it in Word, save it again "
            "as .docx, and upload that.")


def extract_docx(data: bytes, *, limits: Limits) -> Extracted:
    """Blocks of a .docx body; headings ("Title", "Heading N") become the `heading` of what follows."""
    check_zip(data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_body_blocks(document))
    except (zipfile.BadZipFile, OpcError, KeyError, LxmlError, ValueError) as exc:
        raise CorruptFile(_DAMAGED.format(detail=exc)) from exc
    ensure_text_within(sum(len(b.text) for b in blocks), limits)
    title = (document.core_properties.title or "").strip() or next(
        (b.text for b in blocks if b.kind is BlockKind.HEADING and b.level == 1), None)
    return Extracted(DocumentType.DOCX, blocks, title=title)


def check_zip(data: bytes, limits: Limits) -> None:
    """Refuse a zip whose declared expanded size or ratio passes the limits, without decompressing it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise CorruptFile(_DAMAGED.format(detail=exc)) from exc
    # Declared sizes are safe to trust: zipfile stops reading an entry at its declared size.
    expanded = sum(e.file_size for e in entries)
    ratio = expanded / max(1, sum(e.compress_size for e in entries))
    too_many = len(entries) > _MAX_ZIP_ENTRIES
    if too_many or expanded > limits.max_unzipped_bytes or ratio > limits.max_unzip_ratio:
        raise SuspectedBomb(
            f"The Word document would expand to {expanded / 1e6:,.0f} MB ({ratio:,.0f} times its compressed "
            f"size, {len(entries):,} parts); the limits are {limits.max_unzipped_bytes / 1e6:,.0f} MB and "
            f"{limits.max_unzip_ratio} times. It looks like a zip bomb, so it was not opened. "
            "If it is a genuine document, remove large embedded files and upload it again.")


def _body_blocks(document: Document) -> list[Block]:
    blocks: list[Block] = []
    trail: list[tuple[int, str]] = []  # the open headings, outermost first
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            heading = _trail_text(trail)
            blocks.extend(Block(row, kind=BlockKind.ROW, heading=heading) for row in _table_rows(item))
            continue
        text = item.text.strip()
        if not text:
            continue
        rank = _heading_rank(item)
        if rank is not None:
            trail[:] = [(r, t) for r, t in trail if r < rank] + [(rank, text)]
            blocks.append(Block(text, kind=BlockKind.HEADING, heading=_trail_text(trail), level=max(rank, 1)))
        else:
            blocks.append(Block(text, kind=_paragraph_kind(item), heading=_trail_text(trail)))
    return blocks


def _heading_rank(paragraph: Paragraph) -> int | None:
    """0 for the title (so "Heading 1" nests under it), N for "Heading N", None for other paragraphs."""
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name == "Title":
        return 0
    match = _HEADING_STYLE.match(name)
    return int(match.group(1)) if match else None


def _paragraph_kind(paragraph: Paragraph) -> BlockKind:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    return BlockKind.LIST_ITEM if name.startswith("List") else BlockKind.PARAGRAPH


def _table_rows(table: Table) -> list[str]:
    """Rows written with the header row's labels ("Name: Ada; Role: Engineer")."""
    rows = [_row_cells(row.cells) for row in table.rows]
    rows = [cells for cells in rows if any(cells)]
    if len(rows) < 2:
        return [" | ".join(c for c in cells if c) for cells in rows]
    header, body = rows[0], rows[1:]
    lines = []
    for cells in body:
        labels = header + [""] * (len(cells) - len(header))
        lines.append("; ".join(f"{label}: {value}" if label else value
                               for label, value in zip(labels, cells, strict=False) if value))
    return lines


def _row_cells(cells: list[_Cell]) -> list[str]:
    out: list[str] = []
    previous = None
    for cell in cells:
        if cell._tc is previous:  # a merged cell is returned once per grid column it spans
            continue
        previous = cell._tc
        out.append(" ".join(cell.text.split()))
    return out


def _trail_text(trail: list[tuple[int, str]]) -> str | None:
    return " > ".join(text for _, text in trail) or None
