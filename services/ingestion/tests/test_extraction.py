"""Type detection and text extraction of every accepted format, built in memory with unique sentences.

OCR tests run the real tesseract binary on small, clean images (well under a second each).
"""

import io
import resource
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytesseract
import pytest

from knowrithm_ingestion.extraction import (
    BlockKind,
    CorruptFile,
    DocumentType,
    Extracted,
    ExtractionError,
    FileTooLarge,
    Limits,
    NoTextFound,
    SuspectedBomb,
    UnsupportedFileType,
    detect_type,
    extract,
    extract_html,
)
from knowrithm_ingestion.testing import samples

LIMITS = Limits()


def _sentence() -> str:
    """A sentence no other test uses: finding it proves the text came from this file."""
    return f"The marker {uuid.uuid4().hex[:8]} sits beside the copper lighthouse."


def _words(sentence: str) -> str:
    return " ".join(sentence.lower().split())


def _read(data: bytes, filename: str, limits: Limits = LIMITS, **kw) -> Extracted:
    return extract(data, document_type=detect_type(data, filename=filename), limits=limits, **kw)


def _block_with(extracted: Extracted, sentence: str):
    wanted = _words(sentence)
    matches = [b for b in extracted.blocks if wanted in _words(b.text)]
    assert matches, f"{sentence!r} not in {[b.text for b in extracted.blocks]}"
    return matches[0]


# -- every format keeps its text


@pytest.mark.parametrize(("filename", "build", "expected_type"), [
    ("notes.txt", lambda s: f"Intro line.\n\n{s}\n\nOutro.".encode(), DocumentType.TXT),
    ("README.md", lambda s: f"# Guide\n\n{s}\n".encode(), DocumentType.MARKDOWN),
    ("report.docx", lambda s: samples.make_docx(["First.", s], heading="Findings"), DocumentType.DOCX),
    ("people.csv", lambda s: samples.make_csv([["name", "quote"], ["Ada", s]]), DocumentType.CSV),
    ("data.json", lambda s: samples.make_json({"items": [{"quote": s}]}), DocumentType.JSON),
    ("feed.xml", lambda s: samples.make_xml([{"quote": s}]), DocumentType.XML),
    ("page.html", lambda s: samples.make_html(title="Lighthouses", paragraphs=[s]), DocumentType.HTML),
])
def test_each_format_is_detected_and_its_sentence_extracted(filename, build, expected_type):
    sentence = _sentence()
    data = build(sentence)

    assert detect_type(data, filename=filename) == expected_type
    _block_with(_read(data, filename), sentence)


def test_pdf_sentence_keeps_its_page_number():
    sentence = _sentence()
    data = samples.make_pdf(["Cover page.", "Contents.", f"Some context first.\n\n{sentence}"])

    extracted = _read(data, "manual.pdf")

    assert _block_with(extracted, sentence).page == 3
    assert extracted.page_count == 3 and extracted.ocr_pages == 0


def test_scanned_pdf_page_is_read_with_ocr_and_keeps_its_page_number():
    sentence = "The quick orange walrus counts forty seven pebbles"
    data = samples.make_pdf(["This page has a real text layer.", sentence], scanned_pages={2})

    extracted = _read(data, "scan.pdf")

    assert _block_with(extracted, sentence).page == 2
    assert extracted.ocr_pages == 1


def test_png_text_is_read_with_ocr():
    sentence = "Seven silver foxes jump over the quiet meadow"

    extracted = _read(samples.make_png(sentence), "photo.PNG")

    _block_with(extracted, sentence)
    assert extracted.ocr_pages == 1


def test_tiff_frames_are_read_as_pages():
    data = samples.make_tiff(["Lemons grow on the first page", "Kiwis ripen on the second page"])

    extracted = _read(data, "fax.tiff")

    assert _block_with(extracted, "Kiwis ripen on the second page").page == 2
    assert extracted.page_count == extracted.ocr_pages == 2


def test_progress_reports_extraction_then_ocr():
    seen = []
    data = samples.make_pdf(["Text page.", "Scanned words here"], scanned_pages={2})

    _read(data, "scan.pdf", progress=lambda done, total, stage: seen.append((done, total, stage)))

    assert seen == [(1, 2, "extract"), (2, 2, "extract"), (1, 1, "ocr")]


def test_pdfs_extracted_in_parallel_threads_each_keep_their_own_text():
    """The pipeline extracts in worker threads; PyMuPDF is not thread-safe, so extraction must take turns."""
    documents = {f"Document {i} is about marker {uuid.uuid4().hex[:8]}": i for i in range(6)}
    built = {sentence: samples.make_pdf([f"Page one of {i}.", sentence] * 10) for sentence, i in documents.items()}

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = dict(zip(built, pool.map(lambda data: _read(data, "doc.pdf"), built.values())))

    for sentence, extracted in results.items():
        assert _block_with(extracted, sentence).page == 2
        assert extracted.page_count == 20


def test_missing_tesseract_gives_a_readable_reason(monkeypatch):
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")

    with pytest.raises(ExtractionError) as caught:
        _read(samples.make_png("Anything at all"), "photo.png")

    assert caught.value.reason == "OCR is not available on this server (tesseract-ocr is not installed)"


# -- structure


def test_docx_headings_become_the_heading_of_following_blocks_and_tables_keep_their_header():
    data = samples.make_docx(["Otters hold hands while sleeping."], title="Field Guide", heading="Otters",
                             table=[["Name", "Habitat"], ["Sea otter", "Pacific coast"]])

    extracted = _read(data, "guide.docx")

    assert extracted.title == "Field Guide"
    assert _block_with(extracted, "Otters hold hands").heading == "Field Guide > Otters"
    row = _block_with(extracted, "Sea otter")
    assert (row.kind, row.text) == (BlockKind.ROW, "Name: Sea otter; Habitat: Pacific coast")


def test_markdown_headings_nest_and_code_comments_are_not_headings():
    data = b"# Guide\n\nIntro.\n\n## Setup\n\nRun the installer.\n\n```\n# install\npip install x\n```\n"

    extracted = _read(data, "guide.md")

    headings = [b.text for b in extracted.blocks if b.kind is BlockKind.HEADING]
    assert headings == ["Guide", "Setup"]
    assert _block_with(extracted, "Run the installer").heading == "Guide > Setup"
    assert _block_with(extracted, "pip install x").kind is BlockKind.CODE


def test_csv_rows_are_written_with_their_header_and_any_common_delimiter():
    data = samples.make_csv([["city", "population"], ["Lyon", "522000"], ["Graz", "291000"]], delimiter=";")

    extracted = _read(data, "cities.csv")

    assert [b.text for b in extracted.blocks] == ["city: Lyon; population: 522000", "city: Graz; population: 291000"]
    assert {b.kind for b in extracted.blocks} == {BlockKind.ROW}


def test_json_is_flattened_into_paths_with_one_block_per_record():
    data = samples.make_json({"shop": "Acme", "products": [{"name": "Anvil", "tags": ["heavy"]}, {"name": "Rope"}]})

    texts = [b.text for b in _read(data, "shop.json").blocks]

    assert texts == ["shop: Acme", "products[0].name: Anvil\nproducts[0].tags[0]: heavy", "products[1].name: Rope"]


def test_xml_text_is_kept_with_its_tag_path():
    extracted = _read(samples.make_xml([{"title": "Widget"}, {"title": "Gadget"}]), "catalog.xml")

    assert [b.text for b in extracted.blocks] == [
        "catalog/item@id: 1\ncatalog/item/title: Widget", "catalog/item@id: 2\ncatalog/item/title: Gadget"]


def test_html_drops_navigation_scripts_and_cookie_banners_but_returns_every_link():
    sentence = _sentence()
    html = samples.make_html(title="Pricing", heading="Plans", paragraphs=[sentence],
                             links=["/pricing", "/about#team", "/pricing", "https://other.example/x"],
                             boilerplate="Accept all cookies").decode()

    extracted, links = extract_html(html, base_url="https://shop.example/docs/")

    text = "\n".join(b.text for b in extracted.blocks)
    assert sentence in text and "cookies" not in text and "Home" not in text and "tracking" not in text
    assert extracted.title == "Pricing"
    assert _block_with(extracted, sentence).heading == "Pricing > Plans"
    assert links == ["https://shop.example/", "https://shop.example/pricing", "https://shop.example/about",
                     "https://other.example/x", "https://shop.example/contact"]


def test_html_article_header_is_kept_while_the_page_header_is_dropped():
    html = ("<html><body><header>Site name</header><article><header><h1>Post title</h1></header>"
            "<p>Body text.</p><footer>Written by Ada</footer></article><footer>Copyright</footer></body></html>")

    extracted, _ = extract_html(html)

    assert [b.text for b in extracted.blocks] == ["Post title", "Body text.", "Written by Ada"]


def test_html_lists_and_tables_become_list_items_and_rows():
    html = ("<html><body><article><ul><li>Apples<ul><li>Green</li></ul></li></ul>"
            "<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>9 EUR</td></tr></table>"
            "</article></body></html>")

    extracted, _ = extract_html(html)

    assert [(b.kind, b.text) for b in extracted.blocks] == [
        (BlockKind.LIST_ITEM, "Apples"), (BlockKind.LIST_ITEM, "Green"), (BlockKind.ROW, "Plan: Basic; Price: 9 EUR")]


# -- refused and broken files


def test_corrupt_pdf_fails_with_readable_reason():
    with pytest.raises(CorruptFile) as caught:
        _read(samples.make_corrupt_pdf(), "broken.pdf")

    assert caught.value.reason.startswith("The PDF is damaged or not a PDF (MuPDF: ")


def test_password_protected_pdf_fails_with_readable_reason():
    with pytest.raises(ExtractionError) as caught:
        _read(samples.make_encrypted_pdf(_sentence()), "locked.pdf")

    assert caught.value.code == "password_protected" and "password" in caught.value.reason


@pytest.mark.parametrize(("program", "what"), [
    (samples.make_windows_exe(), "Windows program"), (samples.make_linux_executable(), "Linux program"),
])
def test_program_renamed_pdf_is_refused(program, what):
    with pytest.raises(UnsupportedFileType) as caught:
        detect_type(program, filename="invoice.pdf", content_type="application/pdf")

    assert caught.value.reason.startswith(f"'invoice.pdf' is not a PDF: it is a {what}")


@pytest.mark.parametrize(("data", "filename", "reason"), [
    (samples.make_png("x"), "report.pdf", "'report.pdf' is not a PDF: its content is a .png file"),
    (b"%PDF-1.7 not really", "photo.png", "'photo.png' is not a PNG, JPEG or TIFF image: its content is a .pdf file"),
    (samples.make_pdf(["x"]), "letter.docx", "'letter.docx' is not a Word document (.docx): its content is a .pdf"),
    (bytes(range(256)) * 4, "notes.txt", "'notes.txt' is not a text file: its content is binary data"),
    (b"PK\x03\x04" + bytes(64), "data.csv", "'data.csv' is not a CSV file: its content is a .zip file"),
    (b"print('hi')", "script.py", "Files of type .py are not supported"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "old.doc", "'old.doc' is an old-format Word document"),
])
def test_content_that_does_not_match_its_name_is_refused(data, filename, reason):
    with pytest.raises(UnsupportedFileType) as caught:
        detect_type(data, filename=filename)

    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize(("data", "filename", "content_type", "expected"), [
    (samples.make_pdf(["x"]), "download", None, DocumentType.PDF),
    (samples.make_docx(["x"]), "download", "application/octet-stream", DocumentType.DOCX),
    (b'{"a": 1}', "export", None, DocumentType.JSON),
    (b"<!DOCTYPE html><html><p>x</p></html>", "index", None, DocumentType.HTML),
    (b"name,city\nAda,London\n", "export", "text/csv; charset=utf-8", DocumentType.CSV),
    ("Caf\xe9 cr\xe8me".encode("cp1252"), "menu.TXT", None, DocumentType.TXT),
])
def test_files_without_a_usable_extension_are_detected_from_content_or_content_type(
        data, filename, content_type, expected):
    assert detect_type(data, filename=filename, content_type=content_type) == expected


def test_windows_1252_text_is_decoded():
    extracted = _read("Caf\xe9 cr\xe8me br\xfbl\xe9e".encode("cp1252"), "menu.txt")

    assert extracted.blocks[0].text == "Café crème brûlée"


def test_utf16_csv_as_excel_exports_it_is_decoded():
    data = "\ufeffname\tcity\nZoë\tKöln\n".encode("utf-16-le")

    extracted = _read(data, "export.csv")

    assert [b.text for b in extracted.blocks] == ["name: Zoë; city: Köln"]


def test_empty_file_is_refused():
    with pytest.raises(NoTextFound):
        detect_type(b"  \n", filename="empty.txt")


def test_pdf_without_any_text_fails_with_no_text():
    with pytest.raises(NoTextFound):
        _read(samples.make_pdf([""]), "blank.pdf")


def test_damaged_docx_fails_with_readable_reason():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "this is not xml")

    with pytest.raises(CorruptFile) as caught:
        _read(out.getvalue(), "broken.docx")

    assert caught.value.reason.startswith("The Word document is damaged or not a .docx file")


def test_docx_zip_bomb_is_refused_without_expanding_it():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bomb = samples.make_zip_bomb_docx(300 * 1024 * 1024)

    with pytest.raises(SuspectedBomb) as caught:
        _read(bomb, "contract.docx")

    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # ru_maxrss is KiB on Linux
    assert grown_mb < 100
    assert "zip bomb" in caught.value.reason and len(bomb) < 1024 * 1024


def test_png_pixel_bomb_is_refused():
    with pytest.raises(SuspectedBomb):
        _read(samples.make_pixel_bomb_png(30_000, 30_000), "tiny.png")


def test_image_over_the_pixel_limit_is_refused_with_its_size():
    data = samples.make_pixel_bomb_png(2_000, 1_000)

    with pytest.raises(SuspectedBomb) as caught:
        _read(data, "big.png", Limits(max_image_pixels=1_000_000))

    assert caught.value.reason.startswith("The image is 2,000x1,000 pixels; the limit is 1,000,000 pixels.")


def test_scanned_page_too_large_to_render_is_refused_before_rendering():
    data = samples.make_scanned_pdf("Big page")

    with pytest.raises(SuspectedBomb) as caught:
        _read(data, "poster.pdf", Limits(max_image_pixels=1_000_000))

    assert caught.value.reason.startswith("Page 1 is 1,653x2,339 pixels when rendered for OCR at 200 dpi")


def test_pdf_with_more_pages_than_allowed_is_refused():
    with pytest.raises(SuspectedBomb) as caught:
        _read(samples.make_pdf(["a", "b", "c"]), "long.pdf", Limits(max_pages=2))

    assert caught.value.reason.startswith("The PDF has 3 pages; the limit is 2.")


def test_xml_entity_expansion_bomb_is_refused():
    with pytest.raises(SuspectedBomb) as caught:
        _read(samples.make_billion_laughs_xml(), "feed.xml")

    assert "billion laughs" in caught.value.reason


def test_text_beyond_the_character_limit_stops_extraction():
    with pytest.raises(FileTooLarge) as caught:
        _read(b"word " * 100, "notes.txt", Limits(max_text_chars=100))

    assert caught.value.reason.startswith("The document holds more than 100 characters of text")


def test_invalid_json_fails_with_where_it_breaks():
    with pytest.raises(CorruptFile) as caught:
        _read(b'{"a": 1,\n "b": }', "data.json")

    assert caught.value.reason.startswith("The file is not valid JSON (line 2, column 7")
