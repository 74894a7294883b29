"""Test-data builders: documents of every accepted format made in memory, plus malicious ones.

Used by the ingestion tests, the end-to-end tests and the benches; production code never imports this
module (see the package's docstring). Everything is generated (no fixture files), so each test can plant
its own unique sentence.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile
import zlib
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import docx
import pymupdf
from PIL import Image, ImageDraw, ImageFont

_FONTS = (  # a clean TrueType font reads reliably with OCR; Pillow's own is the fallback
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
)
A4_POINTS = (595, 842)
SCAN_DPI = 200


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)  # TrueType (Pillow >= 10.1) when FreeType is available


def text_image(
    text: str, *, width: int = 1400, font_size: int = 44, height: int | None = None
) -> Image.Image:
    """Black text on white, wrapped to `width`; `height` None fits the text."""
    font = _font(font_size)
    margin, line_height = font_size, int(font_size * 1.5)
    lines = _wrap(text, font, width - 2 * margin)
    image = Image.new("L", (width, height or 2 * margin + line_height * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * line_height), line, font=font, fill=0)
    return image


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and probe.textlength(candidate, font=font) > width:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    return lines


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def make_png(sentence: str, *, font_size: int = 44) -> bytes:
    """A PNG picture of `sentence`, as a phone screenshot or a scanned snippet would be."""
    return _png(text_image(sentence, font_size=font_size))


def make_tiff(pages: Sequence[str], *, font_size: int = 44) -> bytes:
    """A multi-page TIFF, one text picture per page."""
    images = [text_image(text, font_size=font_size).convert("RGB") for text in pages]
    out = io.BytesIO()
    images[0].save(out, format="TIFF", save_all=True, append_images=images[1:], compression="tiff_deflate")
    return out.getvalue()


def make_pdf(pages: Sequence[str], *, scanned_pages: Collection[int] = (), font_size: int = 40) -> bytes:
    """An A4 PDF with one text per page (blank lines split paragraphs); pages in `scanned_pages` (1-based)
    are pictures of their text without a text layer, as a scanner makes them."""
    doc = pymupdf.open()
    for n, text in enumerate(pages, start=1):
        page = doc.new_page(width=A4_POINTS[0], height=A4_POINTS[1])
        if n in scanned_pages:
            size = (round(A4_POINTS[0] * SCAN_DPI / 72), round(A4_POINTS[1] * SCAN_DPI / 72))
            image = text_image(text, width=size[0], height=size[1], font_size=font_size)
            page.insert_image(page.rect, stream=_png(image))
        elif page.insert_textbox(pymupdf.Rect(56, 56, A4_POINTS[0] - 56, A4_POINTS[1] - 56), text,
                                 fontsize=10) < 0:
            raise ValueError(f"the text of page {n} does not fit on an A4 page")
    return doc.tobytes(garbage=3, deflate=True)


def make_scanned_pdf(pages: str | Sequence[str], *, font_size: int = 40) -> bytes:
    """A PDF of page pictures only (no text layer): OCR is the only way to its text."""
    texts = [pages] if isinstance(pages, str) else list(pages)
    return make_pdf(texts, scanned_pages=range(1, len(texts) + 1), font_size=font_size)


def make_encrypted_pdf(sentence: str, *, password: str = "s3cret") -> bytes:  # noqa: S107 - test data
    """A PDF that opens only with a password."""
    doc = pymupdf.open(stream=make_pdf([sentence]), filetype="pdf")
    aes256 = pymupdf.PDF_ENCRYPT_AES_256  # type: ignore[attr-defined]  # defined at runtime, not in the stubs
    return doc.tobytes(encryption=aes256, user_pw=password, owner_pw=password + "!")


def make_corrupt_pdf() -> bytes:
    """Starts like a PDF, then nothing a reader can make sense of (a truncated or mangled download)."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 8


def make_docx(
    paragraphs: Sequence[str], *, title: str | None = None, heading: str | None = None,
    table: Sequence[Sequence[str]] | None = None,
) -> bytes:
    """A Word document: optional title, a heading over the paragraphs, then a table (first row: header)."""
    document = docx.Document()
    if title:
        document.add_heading(title, level=0)
    if heading:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=max(len(row) for row in table))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb_docx(expanded_bytes: int = 300 * 1024 * 1024) -> bytes:
    """A .docx whose word/document.xml is `expanded_bytes` of zeros: ~300 KB on disk for 300 MB.
    Written in 1 MiB pieces, so building it never holds the expanded data in memory."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            piece = bytes(1 << 20)
            for start in range(0, expanded_bytes, len(piece)):
                member.write(piece[: min(len(piece), expanded_bytes - start)])
    return out.getvalue()


def make_pixel_bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1-bit white PNG of width x height pixels (900 million by default) that is ~100 KB on disk."""
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts)) \
        + _png_chunk(b"IEND", b"")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def make_windows_exe() -> bytes:
    """The start of a Windows executable (MZ header and PE signature)."""
    return b"MZ\x90\x00\x03" + bytes(55) + struct.pack("<I", 64) + b"PE\x00\x00" + bytes(1024)


def make_linux_executable() -> bytes:
    """The start of a 64-bit Linux ELF executable."""
    return b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x02\x00\x3e\x00" + bytes(1024)


def make_csv(rows: Sequence[Sequence[str]], *, delimiter: str = ",") -> bytes:
    """CSV text (first row: header), quoted where needed."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def make_json(value: Any) -> bytes:
    """`value` as pretty-printed UTF-8 JSON."""
    return json.dumps(value, indent=2, ensure_ascii=False).encode()


def make_xml(records: Sequence[dict[str, str]], *, root: str = "catalog", item: str = "item") -> bytes:
    """An XML document: one <item> per record, one child element per field."""
    fields = ("".join(f"<{k}>{escape(v)}</{k}>" for k, v in record.items()) for record in records)
    body = "".join(f'<{item} id="{i}">{inner}</{item}>' for i, inner in enumerate(fields, start=1))
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}>{body}</{root}>'.encode()


def make_billion_laughs_xml(depth: int = 10) -> bytes:
    """The classic entity-expansion attack: a few hundred bytes that would expand to gigabytes."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, depth)]
    doctype = f'<!DOCTYPE lolz [{"".join(entities)}]>'
    return f'<?xml version="1.0"?>{doctype}<lolz>&lol{depth - 1};</lolz>'.encode()


def make_html(
    *, title: str, paragraphs: Sequence[str], heading: str | None = None,
    links: Sequence[str] = ("/pricing", "/about"), boilerplate: str = "Accept all cookies",
) -> bytes:
    """A web page with a nav, a cookie banner, a header and a footer around a <main> holding the content."""
    nav = "".join(f'<li><a href="{escape(href)}">{escape(href)}</a></li>' for href in links)
    content = "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
    return f"""<!doctype html><html><head><title>{escape(title)}</title>
<style>body {{ font-family: sans-serif }}</style>
<script>var tracking = "{escape(boilerplate)}";</script></head>
<body><header><a href="/">Home</a></header><nav class="main-nav"><ul>{nav}</ul></nav>
<div id="cookie-banner">{escape(boilerplate)}</div>
<main><h1>{escape(title)}</h1>{f"<h2>{escape(heading)}</h2>" if heading else ""}{content}</main>
<footer><a href="/contact">Contact</a> {escape(boilerplate)}</footer></body></html>""".encode()
