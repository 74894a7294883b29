"""HTML pages: the main text without navigation and boilerplate, and every link for the crawler."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import (
    BeautifulSoup,
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    ProcessingInstruction,
    Tag,
    UnicodeDammit,
)
from bs4.element import PageElement

from knowrithm_ingestion.extraction.model import Block, BlockKind, DocumentType, Extracted

_DROPPED_TAGS = (
    "script", "style", "noscript", "nav", "aside", "form", "template", "svg", "iframe", "button", "select",
    "dialog", "object", "embed", "canvas",
)
_PAGE_CHROME_TAGS = ("header", "footer")  # the page's, not an article's own (which holds its title)
_DROPPED_ROLES = {"navigation", "banner", "contentinfo", "menu", "menubar", "search", "dialog", "alertdialog"}
# Class or id words that mark site chrome rather than content ("main-nav", "cookie_banner", "menu").
_CHROME = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|cookies?|consent|banner|breadcrumbs?|skip-link)(?:$|[\s_-])",
    re.IGNORECASE,
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "hgroup", "hr", "html", "main", "ol", "p", "section", "summary", "ul",
}
_SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)


def extract_html(html: str, *, base_url: str | None = None) -> tuple[Extracted, list[str]]:
    """The page's readable text as blocks, and the absolute http(s) links it holds, in order, deduplicated."""
    soup = BeautifulSoup(html, "html.parser")
    base = _base_url(soup, base_url)
    links = _links(soup, base)  # before pruning: the crawler wants the navigation's links too
    title = _title(soup)
    _prune(soup)
    walker = _Walker()
    walker.walk(_content_root(soup))
    return Extracted(DocumentType.HTML, walker.blocks, title=title), links


def decode_html(data: bytes) -> str:
    """An HTML file's text: UTF-8, else the charset it declares (<meta charset>), else a guess."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return UnicodeDammit(data, is_html=True).unicode_markup or data.decode("latin-1")


def _base_url(soup: BeautifulSoup, base_url: str | None) -> str | None:
    tag = soup.find("base", href=True)
    if isinstance(tag, Tag):
        return urljoin(base_url or "", str(tag["href"]))
    return base_url


def _links(soup: BeautifulSoup, base: str | None) -> list[str]:
    seen: dict[str, None] = {}
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        absolute = urldefrag(urljoin(base, href) if base else href).url
        parts = urlsplit(absolute)
        if parts.scheme in ("http", "https") and parts.netloc:
            seen.setdefault(absolute, None)
    return list(seen)


def _title(soup: BeautifulSoup) -> str | None:
    if soup.title and (text := " ".join(soup.title.get_text(" ").split())):
        return text
    h1 = soup.find("h1")
    return (_text(h1) or None) if isinstance(h1, Tag) else None


def _prune(soup: BeautifulSoup) -> None:
    doomed = soup.find_all(_DROPPED_TAGS) + [
        tag for tag in soup.find_all(_PAGE_CHROME_TAGS) if tag.find_parent(["article", "main"]) is None]
    for tag in doomed + soup.find_all(_is_chrome):
        if not tag.decomposed:
            tag.decompose()


def _is_chrome(tag: Tag) -> bool:
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    if tag.name in ("html", "body", "main", "article"):
        return False
    if str(tag.get("role", "")).lower() in _DROPPED_ROLES:
        return True
    return bool(_CHROME.search(_attribute(tag, "class")) or _CHROME.search(_attribute(tag, "id")))


def _attribute(tag: Tag, name: str) -> str:
    value = tag.get(name)
    return " ".join(value) if isinstance(value, list) else str(value or "")


def _content_root(soup: BeautifulSoup) -> Tag:
    main = soup.find("main") or soup.find(role="main")
    if isinstance(main, Tag):
        return main
    articles = soup.find_all("article")
    if len(articles) == 1:
        return articles[0]
    return soup.body or soup


class _Walker:
    """Turns a tree into blocks without recursion: real pages nest deeper than Python's stack allows."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._buffer: list[str] = []
        self._trail: list[tuple[int, str]] = []

    def walk(self, root: Tag) -> None:
        stack: list[PageElement | None] = [root]  # None: the end of a block element
        kinds = [BlockKind.PARAGRAPH]  # what the text of the innermost open block element becomes
        while stack:
            node = stack.pop()
            if node is None:
                self._flush(kinds.pop())
            elif isinstance(node, NavigableString):
                if not isinstance(node, _SKIPPED_STRINGS):
                    self._buffer.append(str(node))
            elif isinstance(node, Tag) and not self._leaf(node, kinds[-1]):
                if node.name in _BLOCK_TAGS or node.name == "li":
                    # A nested list ends its item's own words: they become a block before the sub-items.
                    self._flush(kinds[-1])
                    kinds.append(BlockKind.LIST_ITEM if node.name == "li" else BlockKind.PARAGRAPH)
                    stack.append(None)
                stack.extend(reversed(list(node.children)))
        self._flush(kinds[-1])

    def _leaf(self, node: Tag, kind: BlockKind) -> bool:
        """Emit headings, tables, code and line breaks whole; False for containers."""
        if node.name == "br":
            self._buffer.append("\n")
        elif node.name in _HEADINGS:
            self._flush(kind)
            self._heading(_HEADINGS[node.name], _text(node))
        elif node.name == "table":
            self._flush(kind)
            self._table(node)
        elif node.name == "pre":
            self._flush(kind)
            self._emit(node.get_text().strip("\n"), BlockKind.CODE)
        else:
            return False
        return True

    def _heading(self, level: int, text: str) -> None:
        if not text:
            return
        self._trail = [(lvl, t) for lvl, t in self._trail if lvl < level] + [(level, text)]
        self._emit(text, BlockKind.HEADING, level=level)

    def _table(self, table: Tag) -> None:
        header: list[str] = []
        rows = 0
        for row in table.find_all("tr"):
            cells = [_text(c) for c in row.find_all(["th", "td"], recursive=False)]
            if not any(cells):
                continue
            if not header and all(c.name == "th" for c in row.find_all(["th", "td"], recursive=False)):
                header = cells
                continue
            if header and len(header) == len(cells):
                line = "; ".join(f"{h}: {v}" if h else v for h, v in zip(header, cells, strict=True) if v)
            else:
                line = " | ".join(c for c in cells if c)
            self._emit(line, BlockKind.ROW)
            rows += 1
        if header and not rows:
            self._emit(" | ".join(header), BlockKind.ROW)  # a table of headers only still says something

    def _flush(self, kind: BlockKind) -> None:
        text = "\n".join(" ".join(line.split()) for line in "".join(self._buffer).split("\n"))
        self._buffer.clear()
        self._emit(re.sub(r"\n{2,}", "\n", text).strip(), kind)

    def _emit(self, text: str, kind: BlockKind, *, level: int = 0) -> None:
        if text:
            heading = " > ".join(t for _, t in self._trail) or None
            self.blocks.append(Block(text, kind=kind, heading=heading, level=level))


def _text(node: Tag) -> str:
    return " ".join(node.get_text(" ").split())
