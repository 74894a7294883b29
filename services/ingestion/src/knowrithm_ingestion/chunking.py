"""Blocks into token-bounded chunks with overlap, following the document's structure.

Rules: a chunk never mixes pages or sections (a heading starts a new chunk and is repeated as the first line
of every chunk under it); a table/CSV row is never cut unless it alone exceeds the budget; long paragraphs
are cut at sentence ends, then between words. Consecutive chunks of one section overlap by about
`overlap_tokens` (whole sentences where possible). The same blocks always give the same chunks.

Tokens are estimated offline with a regex (no tokenizer download): a word of up to 6 letters is one token,
longer words about one token per 4 letters, numbers one per 3 digits, each punctuation mark or CJK
character one. That errs on the high side for English, so a chunk fits an embedding model's window.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from knowrithm_ingestion.extraction.model import Block, BlockKind

_TOKEN = re.compile(
    r"(?P<cjk>[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff])"
    r"|(?P<word>[^\W\d_]+)|(?P<number>\d+)|(?P<other>[^\w\s]|_)"
)
# A sentence ends at . ! ? … (optionally closed by quotes or brackets) before whitespace, or at a line break;
# CJK full stops need no space after them.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'\u201d\u2019)\]]*\s+|\s*\n\s*|(?<=[。\uff01\uff1f])")
_JOINERS = {BlockKind.ROW: "\n", BlockKind.LIST_ITEM: "\n"}
_MIN_MAX_TOKENS = 16


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """A piece of a document ready to embed; `content_hash` is the SHA-256 hex of `text`."""

    index: int
    text: str
    page: int | None
    heading: str | None
    token_count: int
    word_count: int
    content_hash: str


def count_tokens(text: str) -> int:
    """An offline estimate of the tokens an embedding model sees in `text`."""
    return sum(_match_cost(m) for m in _TOKEN.finditer(text))


def _match_cost(match: re.Match[str]) -> int:
    length = match.end() - match.start()
    if match.lastgroup == "word":
        return 1 if length <= 6 else math.ceil(length / 4)
    if match.lastgroup == "number":
        return math.ceil(length / 3)
    return 1


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence, a row, or a piece of one: the smallest thing packed into a chunk."""

    text: str
    tokens: int
    joiner: str  # put before it when it follows another unit in a chunk
    whole: bool = False  # a row: overlap may repeat it entirely, never a part of it
    block_tokens: int = 0  # on a block's first unit: the whole block's size, to keep short blocks together


@dataclass(slots=True)
class _Section:
    page: int | None
    heading: str | None
    units: list[_Unit] = field(default_factory=list)


def chunk_blocks(
    blocks: Sequence[Block], *, max_tokens: int = 350, overlap_tokens: int = 50
) -> list[ChunkDraft]:
    """Cut blocks into chunks of at most `max_tokens` estimated tokens, overlapping within a section."""
    if max_tokens < _MIN_MAX_TOKENS or not 0 <= overlap_tokens <= max_tokens // 2:
        raise ValueError(f"need max_tokens >= {_MIN_MAX_TOKENS} and 0 <= overlap_tokens <= max_tokens / 2")
    sections = _sections(blocks, max_tokens=max_tokens)
    texts: list[tuple[str, _Section]] = []
    for i, section in enumerate(sections):
        if section.units:
            texts.extend((text, section) for text in _pack(section, max_tokens, overlap_tokens))
        elif section.heading and not _continues(section, sections[i + 1:i + 2]):
            # A heading with nothing under it (the document's last line, say) still says something.
            texts.extend((piece.text, section) for piece in _split_words(section.heading, max_tokens))
    return [_draft(i, text, section) for i, (text, section) in enumerate(texts)]


def _draft(index: int, text: str, section: _Section) -> ChunkDraft:
    return ChunkDraft(index=index, text=text, page=section.page, heading=section.heading,
                      token_count=count_tokens(text), word_count=len(text.split()),
                      content_hash=hashlib.sha256(text.encode()).hexdigest())


def _continues(section: _Section, following: list[_Section]) -> bool:
    """Whether the next section's heading carries this one (a title right above its first subheading)."""
    return bool(following and following[0].heading and section.heading
                and following[0].heading.startswith(section.heading))


def _sections(blocks: Sequence[Block], *, max_tokens: int) -> list[_Section]:
    """Runs of blocks sharing a page and a heading; a heading block always opens a new one."""
    sections: list[_Section] = []
    current: _Section | None = None
    budget = max_tokens  # what the current section's heading line leaves for text
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        heading: str | None
        if block.kind is BlockKind.HEADING:
            heading = _heading_of(block, text)
        else:
            heading = block.heading if block.heading is not None else (current.heading if current else None)
        if block.kind is BlockKind.HEADING or current is None or (current.page, current.heading) != (
                block.page, heading):
            current = _Section(block.page, heading)
            sections.append(current)
            budget = _budget(heading, max_tokens)
        if block.kind is not BlockKind.HEADING:
            current.units.extend(_units(text, block.kind, budget))
    return sections


def _heading_of(block: Block, text: str) -> str:
    """A heading block's trail ("Guide > Setup"), whether or not the extractor included the heading itself."""
    if not block.heading or block.heading.endswith(text):
        return block.heading or text
    return f"{block.heading} > {text}"


def _heading_line(heading: str | None, max_tokens: int) -> str | None:
    """The heading as a chunk's first line, cut so it leaves at least three quarters of the chunk for text."""
    if not heading:
        return None
    return _split_words(heading, max_tokens // 4)[0].text


def _budget(heading: str | None, max_tokens: int) -> int:
    line = _heading_line(heading, max_tokens)
    return max_tokens - (count_tokens(line) if line else 0)


def _units(text: str, kind: BlockKind, budget: int) -> list[_Unit]:
    """A block as units that each fit `budget`; the first carries the block's joiner and total size."""
    tokens = count_tokens(text)
    joiner = _JOINERS.get(kind, "\n\n")
    if kind is BlockKind.ROW:
        pieces = [_Unit(text, tokens, " ")] if tokens <= budget else _split_lines(text, budget)
        pieces = [_Unit(p.text, p.tokens, p.joiner, whole=True) for p in pieces]
    elif kind is BlockKind.CODE and tokens <= budget:
        pieces = [_Unit(text, tokens, " ")]
    else:
        pieces = [piece for sentence in _sentences(text) for piece in _fit(sentence, budget)]
    first = pieces[0]
    pieces[0] = _Unit(first.text, first.tokens, joiner, first.whole, block_tokens=tokens)
    return pieces


def _sentences(text: str) -> Iterator[_Unit]:
    start, joiner = 0, " "
    for match in _SENTENCE_END.finditer(text):
        if piece := text[start:match.start()].strip():
            yield _Unit(piece, 0, joiner)
            joiner = "\n" if "\n" in match.group() else (" " if match.group() else "")
        start = match.end()
    if text[start:].strip():
        yield _Unit(text[start:].strip(), 0, joiner)


def _fit(sentence: _Unit, budget: int) -> list[_Unit]:
    tokens = count_tokens(sentence.text)
    if tokens <= budget:
        return [_Unit(sentence.text, tokens, sentence.joiner)]
    pieces = _split_words(sentence.text, budget)
    pieces[0] = _Unit(pieces[0].text, pieces[0].tokens, sentence.joiner)
    return pieces


def _split_lines(text: str, budget: int) -> list[_Unit]:
    """Greedy runs of whole lines (a JSON or XML record has a field per line); words for a line too long."""
    pieces: list[_Unit] = []
    run: list[tuple[str, int]] = []  # lines that fit, waiting to be grouped

    def flush() -> None:
        pieces.extend(_Unit("\n".join(lines), used, "\n") for lines, used in _greedy(run, budget))
        run.clear()

    for line in text.split("\n"):
        cost = count_tokens(line)
        if cost > budget:
            flush()
            words = _split_words(line, budget)
            pieces.extend([_Unit(words[0].text, words[0].tokens, "\n"), *words[1:]])
        elif line.strip():
            run.append((line, cost))
    flush()
    return pieces


def _split_words(text: str, budget: int) -> list[_Unit]:
    """Greedy runs of whole words within `budget`; a word longer than the budget is cut by characters."""
    words = ((w, count_tokens(w)) for raw in text.split() for w in _cut_word(raw, budget))
    return [_Unit(" ".join(group), used, " ") for group, used in _greedy(words, budget)]


def _cut_word(word: str, budget: int) -> Iterator[str]:
    if count_tokens(word) <= budget:
        yield word
        return
    # between tokens, and inside a token only when it alone is too long
    parts = (part for match in _TOKEN.finditer(word) for part in _cut_match(match, budget))
    for group, _ in _greedy(((part, count_tokens(part)) for part in parts), budget):
        yield "".join(group)


def _greedy(parts: Iterable[tuple[str, int]], budget: int) -> Iterator[tuple[list[str], int]]:
    """(text, cost) parts in consecutive groups, each closed before a part would take it past `budget`;
    each group with its cost."""
    group: list[str] = []
    used = 0
    for part, cost in parts:
        if group and used + cost > budget:
            yield group, used
            group, used = [], 0
        group.append(part)
        used += cost
    if group:
        yield group, used


def _cut_match(match: re.Match[str], budget: int) -> list[str]:
    text = match.group()
    if _match_cost(match) <= budget:
        return [text]
    size = budget * (3 if match.lastgroup == "number" else 4)
    return [text[i:i + size] for i in range(0, len(text), size)]


def _pack(section: _Section, max_tokens: int, overlap_tokens: int) -> Iterator[str]:
    """Greedy packing of a section's units, each chunk starting with the heading and the previous tail."""
    heading = _heading_line(section.heading, max_tokens)
    budget = _budget(section.heading, max_tokens)
    chunk: list[_Unit] = []
    used = 0
    fresh = False  # whether the chunk holds a unit not yet emitted (overlap alone is not a chunk)
    for unit in section.units:
        if fresh and _should_close(unit, used, budget):
            yield _render(heading, chunk)
            chunk = _overlap(chunk, overlap_tokens, room=budget - unit.tokens)
            used, fresh = sum(u.tokens for u in chunk), False
        chunk.append(unit)
        used += unit.tokens
        fresh = True
    if fresh:
        yield _render(heading, chunk)


def _should_close(unit: _Unit, used: int, budget: int) -> bool:
    if used + unit.tokens > budget:
        return True
    # A short block that would straddle two chunks starts the next one instead, if this one is half full.
    return unit.block_tokens > unit.tokens and used + unit.block_tokens > budget and used >= budget // 2


def _overlap(chunk: list[_Unit], overlap_tokens: int, *, room: int) -> list[_Unit]:
    """The tail of `chunk` to repeat: whole units within the overlap, else the last words of a sentence."""
    limit = min(overlap_tokens, room)
    tail: list[_Unit] = []
    used = 0
    for unit in reversed(chunk):
        if used + unit.tokens > limit:
            break
        tail.insert(0, unit)
        used += unit.tokens
    if not tail and chunk and not chunk[-1].whole and limit > 0:
        words = _tail_words(chunk[-1].text, limit)
        if words:
            tail = [_Unit(words, count_tokens(words), " ")]
    return tail


def _tail_words(text: str, limit: int) -> str:
    words = text.split()
    kept: list[str] = []
    used = 0
    for word in reversed(words):
        cost = count_tokens(word)
        if used + cost > limit:
            break
        kept.insert(0, word)
        used += cost
    return " ".join(kept)


def _render(heading: str | None, units: list[_Unit]) -> str:
    body = units[0].text + "".join(u.joiner + u.text for u in units[1:])
    return f"{heading}\n{body}" if heading else body
